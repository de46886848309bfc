"""Issue 15, finding 4: a sealed session record moved to another session id must not open.
An attacker who can write Redis copies the victim's value onto the key of a session of
their own: their token must not open the victim's session. A real gateway process on a
real Redis, in front of the sandbox: 401 invalid_session and a WARNING; the victim's own
token still works."""

from __future__ import annotations

import asyncio
import json
import secrets
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import jwt
import pytest
import redis.asyncio as aioredis

from gateway.store.redis import RECENT_SECONDS
from sandbox.server import SandboxServer
from tests.conftest import gateway_env
from tests.store.conftest import REDIS_URL, STORE_KEY
from tests.support.process import gateway_process

PROFILE = "/api/auth/users"
PASSWORD = "correct-horse-1"


@pytest.fixture
async def redis() -> AsyncIterator[tuple[Any, str]]:
    prefix = f"lgtest:{secrets.token_hex(4)}:"
    client = aioredis.Redis.from_url(REDIS_URL, socket_timeout=1.0)
    yield client, prefix
    keys = [k async for k in client.scan_iter(match=prefix + "*")]
    if keys:
        await client.delete(*keys)
    await client.aclose()


def _sid(token: str) -> str:
    return str(jwt.decode(token, options={"verify_signature": False})["sid"])


async def test_a_record_copied_onto_another_sessions_key_does_not_open(
    sandbox: SandboxServer, redis: tuple[Any, str]
) -> None:
    client, prefix = redis
    env = gateway_env(
        sandbox.url,
        GATEWAY_STORE_URL=REDIS_URL,
        GATEWAY_STORE_PREFIX=prefix,
        GATEWAY_STORE_KEY=STORE_KEY,
    )
    async with gateway_process(env) as gw, aiohttp.ClientSession() as http:
        tokens = {}
        for who in ("victim", "attacker"):
            user = {"email": f"{who}@example.com", "password": PASSWORD, "first_name": who}
            user["last_name"] = "Moved"  # both names: the business uses referral codes
            async with http.post(f"{gw.url}/api/auth/customers.json", json={"user": user}) as r:
                assert r.status == 201, await r.text()
                tokens[who] = (await r.json())["access_token"]
        victim_key = f"{prefix}session:{_sid(tokens['victim'])}"
        attacker_key = f"{prefix}session:{_sid(tokens['attacker'])}"
        stolen = await client.get(victim_key)
        assert stolen is not None
        await client.set(attacker_key, stolen, px=600_000)
        await asyncio.sleep(RECENT_SECONDS + 0.1)  # past the gateway's session read cache

        async def profile(who: str) -> tuple[int, dict[str, Any]]:
            headers = {"Authorization": f"Bearer {tokens[who]}"}
            async with http.get(f"{gw.url}{PROFILE}", headers=headers) as resp:
                return resp.status, await resp.json()

        attacker = await profile("attacker")
        victim = await profile("victim")
        logs = gw.logs()
    assert attacker[0] == 401, attacker
    assert attacker[1]["error"]["code"] == "invalid_session"
    assert "victim@example.com" not in str(attacker[1])
    assert victim[0] == 200, victim
    assert victim[1]["email"] == "victim@example.com"
    lines = [json.loads(line) for line in logs.splitlines() if line.startswith("{")]
    refused = [line for line in lines if line["msg"] == "session record unreadable"]
    assert refused, logs
    assert all(line["level"] == "warning" for line in refused)
    assert refused[0]["reason"] == "record of another session id"
    assert "victim@example.com" not in logs
