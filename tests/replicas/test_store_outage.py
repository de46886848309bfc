"""Redis stops and starts in the middle of traffic: bounded waits, a clear 503 on session
routes, other routes unaffected, no session lost, recovery without a restart."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

from tests.conftest import Client, GatewayFactory
from tests.store.conftest import STORE_KEY
from tests.support.recorder import Recorder, Reply
from tests.support.redis_server import RedisServer

SIGN_IN = "/api/auth/customers/sign_in"


async def _signed_in(
    recorder: Recorder, make_gateway: GatewayFactory, server: RedisServer
) -> tuple[Client, dict[str, str]]:
    gw = await make_gateway(
        recorder.url,
        GATEWAY_STORE_URL=server.url,
        GATEWAY_STORE_KEY=STORE_KEY,
        GATEWAY_STORE_TIMEOUT="0.2",
    )
    recorder.reply("POST", SIGN_IN, Reply(200, {"id": 9, "access_token": "PUNCHH-ACC"}))
    resp = await gw.post(SIGN_IN, json={})
    assert resp.status == 200
    return gw, {"Authorization": f"Bearer {(await resp.json())['access_token']}"}


class Traffic:
    """Guest reads and session-free writes, sent back to back until stopped."""

    def __init__(self, gw: Client, auth: dict[str, str]) -> None:
        self.gw, self.auth = gw, auth
        self.guest: list[tuple[int, str | None]] = []
        self.anonymous: list[int] = []
        self._stop = asyncio.Event()

    async def run(self) -> None:
        while not self._stop.is_set():
            resp = await self.gw.get("/api/auth/users", headers=self.auth)
            body = await resp.json()
            code = body["error"]["code"] if resp.status >= 400 and "error" in body else None
            self.guest.append((resp.status, code))
            resp = await self.gw.post("/api/auth/users/forgot_password", json={})
            self.anonymous.append(resp.status)

    async def until(self, condition: Callable[[], bool], limit: float = 10) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + limit
        while not condition():
            assert loop.time() < deadline, "traffic never reached the expected state"
            await asyncio.sleep(0.01)

    def stop(self) -> None:
        self._stop.set()


async def _outage(
    recorder: Recorder,
    make_gateway: GatewayFactory,
    server: RedisServer,
    down: Callable[[], None],
    up: Callable[[], None],
) -> Traffic:
    gw, auth = await _signed_in(recorder, make_gateway, server)
    traffic = Traffic(gw, auth)
    task = asyncio.create_task(traffic.run())
    await traffic.until(lambda: len(traffic.guest) >= 5)
    down()
    mark = len(traffic.guest)
    await traffic.until(lambda: sum(s == 503 for s, _ in traffic.guest[mark:]) >= 3)
    # Sign-ins are refused before Punchh is called while the store cannot keep them.
    calls = sum(1 for s in recorder.seen if s.path == SIGN_IN)
    resp = await gw.post(SIGN_IN, json={})
    assert resp.status == 503
    assert sum(1 for s in recorder.seen if s.path == SIGN_IN) == calls
    up()
    mark = len(traffic.guest)
    await traffic.until(lambda: traffic.guest[mark:][-3:] == [(200, None)] * 3)
    traffic.stop()
    await task
    return traffic


def _check(traffic: Traffic) -> None:
    assert set(traffic.guest) <= {(200, None), (503, "session_store_unavailable")}
    assert (503, "session_store_unavailable") in traffic.guest
    assert set(traffic.anonymous) == {200}  # routes without a session never noticed


async def test_redis_frozen_then_thawed(
    recorder: Recorder, make_gateway: GatewayFactory, redis_server: RedisServer
) -> None:
    _check(
        await _outage(recorder, make_gateway, redis_server, redis_server.freeze, redis_server.thaw)
    )


async def test_redis_stopped_then_started(
    recorder: Recorder, make_gateway: GatewayFactory, redis_server: RedisServer
) -> None:
    _check(
        await _outage(
            recorder, make_gateway, redis_server, redis_server.shutdown_saving, redis_server.start
        )
    )


async def test_sign_ins_refused_during_an_outage_do_not_spend_the_guests_budget(
    recorder: Recorder, make_gateway: GatewayFactory, redis_server: RedisServer, tmp_path: Path
) -> None:
    """A sign-in the gateway answers 503 because its session store cannot keep it (before
    Punchh is called, or after Punchh granted it) is no failed attempt: the budget that
    counts failures is whole again when the store is back (the failover test found
    guests locked out after one)."""
    config = tmp_path / "gateway.toml"
    config.write_text("[rate_limit.policies.sign_in_account_ip]\nlimit = 2\n")
    gw = await make_gateway(
        recorder.url,
        config_file=config,
        GATEWAY_STORE_URL=redis_server.url,
        GATEWAY_STORE_KEY=STORE_KEY,
        GATEWAY_STORE_TIMEOUT="0.2",
        GATEWAY_RATE_LIMIT_URL="memory://",
    )
    recorder.reply("POST", SIGN_IN, Reply(200, {"id": 9, "access_token": "PUNCHH-ACC"}))
    attempt = {"user": {"email": "guest@example.com", "password": "right"}}
    redis_server.freeze()
    try:
        for _ in range(4):
            resp = await gw.post(SIGN_IN, json=attempt)
            assert resp.status == 503
            assert (await resp.json())["error"]["code"] == "session_store_unavailable"
    finally:
        redis_server.thaw()
    for _ in range(3):  # every one a success: none spends a unit either
        resp = await gw.post(SIGN_IN, json=attempt)
        assert resp.status == 200, await resp.text()
