"""Issue 15, finding 7: slow clients must not hold connections forever. A real gateway
process with short limits (1 s for headers and body, 2 s of keep-alive idle, 3 connections),
raw TCP connections that stall, trickle, idle, or crowd it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import aiohttp

from sandbox.server import SandboxServer
from tests.conftest import gateway_env
from tests.support.process import GatewayProcess, gateway_process
from tests.support.raw_connection import RawConnection

LIMIT = 1.0  # GATEWAY_HEADER_TIMEOUT and GATEWAY_BODY_TIMEOUT
MARGIN = 1.5  # the gateway's timers, the process and the test's own scheduling
RESET = "/api/auth/users/forgot_password"  # reads a body
GUEST = "/api/auth/users/balance"  # a guest route: 401 without a session


@asynccontextmanager
async def gateway(sandbox: SandboxServer, **env: str) -> AsyncIterator[GatewayProcess]:
    limits = {"GATEWAY_HEADER_TIMEOUT": str(LIMIT), "GATEWAY_BODY_TIMEOUT": str(LIMIT)}
    async with gateway_process(gateway_env(sandbox.url, **limits, **env)) as gw:
        yield gw


async def test_headers_that_never_complete_are_cut(sandbox: SandboxServer) -> None:
    async with gateway(sandbox) as gw:
        partial = await RawConnection.open(gw.url)
        await partial.send(b"GET /healthz HTTP/1.1\r\nHost: gateway\r\n")  # no blank line
        silent = await RawConnection.open(gw.url)  # connects, sends nothing
        trickle = await RawConnection.open(gw.url)  # a byte every 0.2 s: never done

        async def drip() -> None:
            for byte in b"GET /healthz HTTP/1.1\r\nX-Padding: " + b"a" * 100:
                await trickle.send(bytes([byte]))
                await asyncio.sleep(0.2)

        dripping = asyncio.create_task(drip())
        waited = await asyncio.gather(
            partial.closed_after(LIMIT + MARGIN),
            silent.closed_after(LIMIT + MARGIN),
            trickle.closed_after(LIMIT + MARGIN),
        )
        dripping.cancel()
        assert all(LIMIT * 0.8 <= w <= LIMIT + MARGIN for w in waited), waited
        assert "headers timed out" in gw.logs()
        await asyncio.gather(
            partial.close(), silent.close(), trickle.close(), return_exceptions=True
        )


async def test_a_body_that_stalls_is_408_and_closed(sandbox: SandboxServer) -> None:
    async with gateway(sandbox) as gw:
        conn = await RawConnection.open(gw.url)
        await conn.send(
            f"POST {RESET} HTTP/1.1\r\nHost: gateway\r\nContent-Type: application/json\r\n"
            "Content-Length: 100\r\n\r\n".encode()
            + b'{"user": {'  # 10 of the 100 bytes
        )
        answer = await conn.answer(within=LIMIT + MARGIN)
        assert answer.status == 408
        assert answer.headers["Content-Type"] == "application/json"
        assert answer.headers["Connection"] == "close"
        error = answer.json()["error"]
        assert error["code"] == "body_timeout"
        assert error["request_id"] == answer.headers["X-Request-ID"]
        assert await conn.closed_after(MARGIN) <= MARGIN
        await conn.close()
    async with aiohttp.ClientSession() as http, http.get(f"{sandbox.url}/__sandbox/calls") as r:
        calls = await r.json()
    assert f"POST {RESET}" not in calls  # nothing reached Punchh


async def test_beyond_the_cap_only_health_checks_are_served(sandbox: SandboxServer) -> None:
    async with gateway(sandbox, GATEWAY_MAX_CONNECTIONS="3") as gw:
        await asyncio.sleep(0.3)  # the readiness poller's connection is gone
        held = [await RawConnection.open(gw.url) for _ in range(3)]
        for conn in held:  # three valid keep-alive connections, open and idle
            answer = await conn.get("/healthz")
            assert answer.status == 200
            assert "Connection" not in answer.headers

        fourth = await RawConnection.open(gw.url)
        answer = await fourth.get("/healthz")
        assert answer.status == 200
        assert answer.headers["Connection"] == "close"  # an over-cap connection closes
        assert await fourth.closed_after(MARGIN) <= MARGIN
        ready = await RawConnection.open(gw.url)
        assert (await ready.get("/readyz")).status == 200
        other = await RawConnection.open(gw.url)
        answer = await other.get(GUEST)
        assert answer.status == 503
        assert answer.headers["Connection"] == "close"
        assert answer.headers["Content-Type"] == "application/json"
        error = answer.json()["error"]
        assert error["code"] == "overloaded"
        assert error["request_id"] == answer.headers["X-Request-ID"]
        assert "connection limit reached" in gw.logs()

        await held.pop().close()
        await asyncio.sleep(0.3)
        fresh = await RawConnection.open(gw.url)
        answer = await fresh.get(GUEST)
        assert answer.status == 401  # served normally again: the route's own answer
        assert answer.json()["error"]["code"] == "session_required"
        assert "Connection" not in answer.headers
        for conn in [*held, fourth, ready, other, fresh]:
            await conn.close()


async def test_idle_keep_alive_is_the_keepalive_timeout(sandbox: SandboxServer) -> None:
    """An idle keep-alive connection (not a byte of a next request) is not cut by the
    header timeout, only by the keep-alive timeout; the first byte of a next request
    starts the header timeout again."""
    async with gateway(sandbox, GATEWAY_KEEPALIVE_TIMEOUT="3") as gw:
        conn = await RawConnection.open(gw.url)
        assert (await conn.get("/healthz")).status == 200
        await asyncio.sleep(LIMIT * 1.5)
        assert (await conn.get("/healthz")).status == 200  # still open, still served
        waited = await conn.closed_after(3 + MARGIN)
        assert 3 * 0.8 <= waited <= 3 + MARGIN, waited
        await conn.close()

        conn = await RawConnection.open(gw.url)
        assert (await conn.get("/healthz")).status == 200
        await conn.send(b"GET /healthz HTTP/1.1\r\n")  # a next request, stalled
        waited = await conn.closed_after(LIMIT + MARGIN)
        assert LIMIT * 0.8 <= waited <= LIMIT + MARGIN, waited
        await conn.close()


async def test_a_partial_head_pipelined_behind_a_request_in_flight_is_cut(
    sandbox: SandboxServer,
) -> None:
    """After a code review: bytes of a next head that arrive while a request is being
    handled (pipelining) were held to the keep-alive timeout only. They have the header
    timeout too, from their first byte."""
    async with aiohttp.ClientSession() as http:
        fault = {"method": "POST", "path": RESET, "latency_ms": 4000, "times": 1}
        async with http.post(f"{sandbox.url}/__sandbox/faults", json=fault) as resp:
            assert resp.status in (200, 201)
    async with gateway(sandbox, GATEWAY_KEEPALIVE_TIMEOUT="60") as gw:
        conn = await RawConnection.open(gw.url)
        body = b'{"user": {"email": "pipelined@example.com"}}'
        await conn.send(
            b"POST " + RESET.encode() + b" HTTP/1.1\r\nHost: gateway\r\n"
            b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n" % len(body) + body
        )
        await asyncio.sleep(0.3)  # the first request is with Punchh (4 s) when this comes
        await conn.send(b"GET /healthz HTTP/1.1\r\nHost: gateway\r\n")  # never finished
        waited = await conn.closed_after(LIMIT + MARGIN)
        assert waited <= LIMIT + MARGIN
        await conn.close()
