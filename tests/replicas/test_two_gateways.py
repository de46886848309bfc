"""Two real gateway processes sharing one Redis, in front of one sandbox."""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any

import aiohttp
import pytest

from sandbox.server import SandboxServer
from tests.conftest import gateway_env
from tests.store.conftest import REDIS_URL, STORE_KEY
from tests.support.process import GatewayProcess, gateway_process

EMAIL = "replica@example.com"


@pytest.fixture
async def replicas(
    sandbox: SandboxServer, redis_url: str
) -> AsyncIterator[tuple[GatewayProcess, GatewayProcess]]:
    """Two gateways on one server, on Sentinel and on Cluster (`redis_url`)."""
    async with _two(sandbox, redis_url) as pair:
        yield pair


@pytest.fixture
async def single_server_replicas(
    sandbox: SandboxServer,
) -> AsyncIterator[tuple[GatewayProcess, GatewayProcess]]:
    async with _two(sandbox, REDIS_URL) as pair:
        yield pair


@asynccontextmanager
async def _two(
    sandbox: SandboxServer, url: str
) -> AsyncIterator[tuple[GatewayProcess, GatewayProcess]]:
    env = gateway_env(
        sandbox.url,
        GATEWAY_STORE_URL=url,
        GATEWAY_STORE_PREFIX=f"lgtest:{secrets.token_hex(4)}:",
        GATEWAY_STORE_KEY=STORE_KEY,
        GATEWAY_REFRESH_MARGIN="60",
    )
    async with AsyncExitStack() as stack:
        a = await stack.enter_async_context(gateway_process(env))
        b = await stack.enter_async_context(gateway_process(env))
        yield a, b


async def _admin(
    http: aiohttp.ClientSession, sandbox: SandboxServer, method: str, path: str, body: object = None
) -> object:
    async with http.request(method, f"{sandbox.url}/__sandbox/{path}", json=body) as resp:
        assert resp.status == 200, await resp.text()
        return await resp.json()


async def _otp_sign_in(
    http: aiohttp.ClientSession, gw: GatewayProcess, sandbox: SandboxServer
) -> str:
    async with http.post(f"{gw.url}/api2/password_less/token", json={"email": EMAIL}) as resp:
        assert resp.status == 200, await resp.text()
    otp = await _admin(http, sandbox, "GET", f"otp?email={EMAIL}")
    assert isinstance(otp, dict)
    body = {"email": EMAIL, "otp": otp["otp"], "privacy_policy": True, "terms_and_conditions": True}
    async with http.post(f"{gw.url}/api2/password_less/verify", json=body) as resp:
        assert resp.status == 200, await resp.text()
        return str((await resp.json())["data"]["access_token"])


async def test_a_session_made_on_one_replica_works_on_the_other(
    replicas: tuple[GatewayProcess, GatewayProcess], sandbox: SandboxServer
) -> None:
    a, b = replicas
    async with aiohttp.ClientSession() as http:
        token = await _otp_sign_in(http, a, sandbox)
        auth = {"Authorization": f"Bearer {token}"}
        async with http.get(f"{b.url}/api/auth/users/balance", headers=auth) as resp:
            assert resp.status == 200, await resp.text()
        async with http.post(f"{b.url}/gateway/logout", headers=auth) as resp:
            assert resp.status == 204
        async with http.get(f"{a.url}/api/auth/users/balance", headers=auth) as resp:
            assert resp.status == 401  # ended on B, so ended on A


async def test_fifty_requests_across_both_refresh_exactly_once(
    replicas: tuple[GatewayProcess, GatewayProcess], sandbox: SandboxServer
) -> None:
    a, b = replicas
    async with aiohttp.ClientSession() as http:
        # Punchh hands out an access token living 30 s: inside the gateways' 60 s margin,
        # so the very next request must refresh it. The refreshed one lives a day.
        await _admin(http, sandbox, "POST", "settings", {"access_token_ttl": 30})
        token = await _otp_sign_in(http, a, sandbox)
        await _admin(http, sandbox, "POST", "settings", {"access_token_ttl": None})
        await _admin(http, sandbox, "POST", "calls/reset")
        # A slow refresh, so that both replicas have requests waiting on it.
        slow = {"method": "POST", "path": "/api2/password_less/refresh_token", "latency_ms": 300}
        async with http.post(f"{sandbox.url}/__sandbox/faults", json=slow) as resp:
            assert resp.status == 201
        # no-cache: every request goes to Punchh (the cache would otherwise answer most).
        auth = {"Authorization": f"Bearer {token}", "Cache-Control": "no-cache"}

        async def one(i: int) -> int:
            gw = (a, b)[i % 2]
            async with http.get(f"{gw.url}/api/auth/users/balance", headers=auth) as resp:
                await resp.read()
                return resp.status

        statuses = await asyncio.gather(*(one(i) for i in range(50)))
        calls = await _admin(http, sandbox, "GET", "calls")
    assert statuses == [200] * 50
    assert isinstance(calls, dict)
    assert calls.get("POST /api2/password_less/refresh_token") == 1
    assert calls.get("GET /api/auth/users/balance") == 50


async def test_a_401_on_both_replicas_at_once_refreshes_exactly_once(
    replicas: tuple[GatewayProcess, GatewayProcess], sandbox: SandboxServer
) -> None:
    """Punchh refuses the access token on a request to each replica at the same moment:
    one replica refreshes, the other finds the token already replaced and takes it."""
    a, b = replicas
    async with aiohttp.ClientSession() as http:
        token = await _otp_sign_in(http, a, sandbox)
        await _admin(http, sandbox, "POST", "calls/reset")
        path = "/api/auth/users/balance"
        refused = {"method": "GET", "path": path, "status": 401, "latency_ms": 200, "times": 2}
        async with http.post(f"{sandbox.url}/__sandbox/faults", json=refused) as resp:
            assert resp.status == 201
        slow = {"method": "POST", "path": "/api2/password_less/refresh_token", "latency_ms": 300}
        async with http.post(f"{sandbox.url}/__sandbox/faults", json=slow) as resp:
            assert resp.status == 201
        auth = {"Authorization": f"Bearer {token}", "Cache-Control": "no-cache"}

        async def one(gw: GatewayProcess) -> int:
            async with http.get(f"{gw.url}{path}", headers=auth) as resp:
                await resp.read()
                return resp.status

        statuses = await asyncio.gather(one(a), one(b))
        calls = await _admin(http, sandbox, "GET", "calls")
    assert list(statuses) == [200, 200]
    assert isinstance(calls, dict)
    assert calls.get("POST /api2/password_less/refresh_token") == 1
    assert calls.get(f"GET {path}") == 4  # each refused once, then sent again with the new token


async def test_an_idempotency_key_runs_once_across_replicas(
    replicas: tuple[GatewayProcess, GatewayProcess], sandbox: SandboxServer
) -> None:
    """A profile update (no external_uid: Punchh would apply it twice) sent six times at
    once with one Idempotency-Key, three times to each replica: Punchh gets it once."""
    a, b = replicas
    async with aiohttp.ClientSession() as http:
        token = await _otp_sign_in(http, a, sandbox)
        headers = {"Authorization": f"Bearer {token}", "Idempotency-Key": "profile-1"}
        rule = {"method": "PUT", "path": "/api/auth/users", "latency_ms": 300}
        async with http.post(f"{sandbox.url}/__sandbox/faults", json=rule) as resp:
            assert resp.status == 201
        await _admin(http, sandbox, "POST", "calls/reset")
        update = {"user": {"first_name": "Once"}}

        async def put(gw: GatewayProcess, body: object) -> tuple[int, bytes, str]:
            async with http.put(f"{gw.url}/api/auth/users", json=body, headers=headers) as resp:
                return resp.status, await resp.read(), resp.headers.get("Idempotent-Replayed", "")

        answers = await asyncio.gather(*(put(gw, update) for gw in (a, b, a, b, a, b)))
        assert {status for status, _, _ in answers} == {200}, answers
        assert len({raw for _, raw, _ in answers}) == 1
        assert sorted(replayed for _, _, replayed in answers) == [""] + ["true"] * 5
        calls = await _admin(http, sandbox, "GET", "calls")
        assert isinstance(calls, dict)
        assert calls["PUT /api/auth/users"] == 1
        for gw in (a, b):
            status, raw, _ = await put(gw, {"user": {"first_name": "Twice"}})
            assert status == 422, raw


async def test_a_logout_on_one_replica_is_honoured_by_the_other_within_a_second(
    replicas: tuple[GatewayProcess, GatewayProcess], sandbox: SandboxServer
) -> None:
    """Each replica keeps a session it read for half a second (one Redis read for a burst
    of a guest's requests): a logout through the other replica still ends it there in < 1 s."""
    a, b = replicas
    async with aiohttp.ClientSession() as http:
        token = await _otp_sign_in(http, a, sandbox)
        auth = {"Authorization": f"Bearer {token}"}
        async with http.get(f"{a.url}/api/auth/users/balance", headers=auth) as resp:
            assert resp.status == 200  # A now holds the session
        async with http.post(f"{b.url}/gateway/logout", headers=auth) as resp:
            assert resp.status == 204
        ended = time.monotonic()
        statuses = []
        while time.monotonic() - ended < 1.5:
            async with http.get(f"{a.url}/api/auth/users/balance", headers=auth) as resp:
                statuses.append((round(time.monotonic() - ended, 3), resp.status))
                if resp.status == 401:
                    break
            await asyncio.sleep(0.05)
    assert statuses[-1][1] == 401, statuses
    assert statuses[-1][0] < 1.0, statuses


async def test_a_burst_of_cached_reads_reads_the_session_from_redis_once(
    single_server_replicas: tuple[GatewayProcess, GatewayProcess], sandbox: SandboxServer
) -> None:
    """Per cached read: the rate-limit script and the cache script (two EVALSHA); the
    session itself is read from Redis once for the burst (GET and PTTL, pipelined): at most
    one PTTL per half second. (Counted with INFO commandstats: one server.)"""
    import redis.asyncio as aioredis

    a, _ = single_server_replicas
    redis = aioredis.Redis.from_url(REDIS_URL)
    try:
        async with aiohttp.ClientSession() as http:
            token = await _otp_sign_in(http, a, sandbox)
            auth = {"Authorization": f"Bearer {token}"}
            async with http.get(f"{a.url}/api/auth/users/balance", headers=auth) as resp:
                assert resp.status == 200  # now cached, answer and session
            before = await _calls(redis)
            started = time.monotonic()
            for _ in range(20):
                async with http.get(f"{a.url}/api/auth/users/balance", headers=auth) as resp:
                    assert resp.status == 200
                    assert resp.headers["X-Cache"] == "HIT"
            took = time.monotonic() - started
            after = await _calls(redis)
    finally:
        await redis.aclose()
    assert after["evalsha"] - before["evalsha"] == 20 * 2
    assert after["pttl"] - before["pttl"] <= 1 + int(took / 0.5), (after, before, took)


async def _calls(redis: Any) -> dict[str, int]:
    stats = await redis.info("commandstats")
    return {c: int(stats.get(f"cmdstat_{c}", {}).get("calls", 0)) for c in ("evalsha", "pttl")}
