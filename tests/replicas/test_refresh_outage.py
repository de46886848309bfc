"""A token refresh cut by a store outage: Punchh granted new tokens (and retired the
refresh token they replace), the store could not keep them. The review found the
session then ended at the next refresh (Punchh refuses the retired token), against "no
session is deleted because of a failover"; the gateway now keeps such tokens and stores
them once the store is back, for every replica to find."""

from __future__ import annotations

import asyncio
import secrets
from contextlib import AsyncExitStack

import aiohttp

from sandbox.server import SandboxServer
from tests.conftest import gateway_env
from tests.replicas.test_two_gateways import _admin, _otp_sign_in
from tests.store.conftest import STORE_KEY
from tests.support.process import gateway_process
from tests.support.redis_server import RedisServer

REFRESH = "/api2/password_less/refresh_token"
BALANCE = "/api/auth/users/balance"


async def test_tokens_granted_while_the_store_was_down_are_kept_for_every_replica(
    sandbox: SandboxServer, redis_server: RedisServer
) -> None:
    env = gateway_env(
        sandbox.url,
        GATEWAY_STORE_URL=redis_server.url,
        GATEWAY_STORE_PREFIX=f"lgtest:{secrets.token_hex(4)}:",
        GATEWAY_STORE_KEY=STORE_KEY,
        GATEWAY_STORE_TIMEOUT="0.2",
        GATEWAY_REFRESH_MARGIN="60",
        PUNCHH_TOTAL_TIMEOUT="8",  # the refresh lock lives 10 s (left held by the cut one)
    )
    async with AsyncExitStack() as stack:
        a = await stack.enter_async_context(gateway_process(env))
        b = await stack.enter_async_context(gateway_process(env))
        http = await stack.enter_async_context(aiohttp.ClientSession())
        # An access token living 30 s: inside the 60 s margin, so the next request
        # refreshes; the refreshed one lives a day.
        await _admin(http, sandbox, "POST", "settings", {"access_token_ttl": 30})
        token = await _otp_sign_in(http, a, sandbox)
        await _admin(http, sandbox, "POST", "settings", {"access_token_ttl": None})
        await _admin(http, sandbox, "POST", "calls/reset")
        slow = {"method": "POST", "path": REFRESH, "latency_ms": 600, "times": 1}
        async with http.post(f"{sandbox.url}/__sandbox/faults", json=slow) as resp:
            assert resp.status == 201
        auth = {"Authorization": f"Bearer {token}", "Cache-Control": "no-cache"}

        async def balance(gw_url: str) -> tuple[int, str]:
            async with http.get(gw_url + BALANCE, headers=auth) as resp:
                return resp.status, await resp.text()

        # The refresh is under way at Punchh when the store goes (and comes back as it
        # was before: what a failover to a replica that had not got the write looks like).
        during = asyncio.ensure_future(balance(a.url))
        await asyncio.sleep(0.3)
        await asyncio.to_thread(redis_server.shutdown_saving)
        try:
            status, body = await during
            assert status == 503, body
            assert "session_store_unavailable" in body
            calls = await _admin(http, sandbox, "GET", "calls")
            assert isinstance(calls, dict)
            assert calls.get(f"POST {REFRESH}") == 1  # Punchh rotated the tokens
            await asyncio.sleep(0.5)
        finally:
            await asyncio.to_thread(redis_server.start)
        # The other replica, once the store is back: the tokens Punchh granted are
        # there (stored by a in the background), no refresh with the retired token.
        answers = []
        for _ in range(40):
            answers.append(await balance(b.url))
            if answers[-1][0] == 200:
                break
            await asyncio.sleep(0.1)
        assert answers[-1][0] == 200, answers
        assert all(s in (200, 503) for s, _ in answers), answers  # never 401: not ended
        assert (await balance(a.url))[0] == 200
        calls = await _admin(http, sandbox, "GET", "calls")
        assert isinstance(calls, dict)
        assert calls.get(f"POST {REFRESH}") == 1
