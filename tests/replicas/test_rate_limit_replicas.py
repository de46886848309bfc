"""Two real gateway processes sharing one Redis: a policy of L is exactly L across both."""

from __future__ import annotations

import asyncio
import secrets
from contextlib import AsyncExitStack
from pathlib import Path

import aiohttp

from tests.conftest import gateway_env
from tests.store.conftest import STORE_KEY
from tests.support.process import gateway_process
from tests.support.recorder import Recorder

LIMIT = 25


async def test_exactly_the_limit_across_two_replicas(
    recorder: Recorder, tmp_path: Path, redis_url: str
) -> None:
    """On one server, Sentinel and Cluster (`redis_url`)."""
    config = tmp_path / "gateway.toml"
    config.write_text(f"[rate_limit.policies.ip]\nlimit = {LIMIT}\nwindow = 3600\n")
    env = gateway_env(
        recorder.url,
        GATEWAY_CONFIG=str(config),
        GATEWAY_STORE_URL=redis_url,
        GATEWAY_STORE_PREFIX=f"lgtest:{secrets.token_hex(4)}:",
        GATEWAY_STORE_KEY=STORE_KEY,
    )
    async with AsyncExitStack() as stack:
        a = await stack.enter_async_context(gateway_process(env))
        b = await stack.enter_async_context(gateway_process(env))
        http = await stack.enter_async_context(aiohttp.ClientSession())

        async def one(i: int) -> int:
            url = (a, b)[i % 2].url + "/api/auth/users/forgot_password"
            async with http.post(url, json={"user": {"email": f"g{i}@example.com"}}) as resp:
                await resp.read()
                return resp.status

        statuses = await asyncio.gather(*(one(i) for i in range(100)))
    assert statuses.count(200) == LIMIT
    assert statuses.count(429) == 100 - LIMIT
    forwarded = [s for s in recorder.seen if s.path == "/api/auth/users/forgot_password"]
    assert len(forwarded) == LIMIT
