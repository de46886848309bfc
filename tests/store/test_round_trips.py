"""On Redis, a guest's cached read makes one round trip: the rate-limit draw carries the
cached-answer read (one write of two scripts); the session is kept half a second."""

from __future__ import annotations

from aiohttp import web

from gateway.keys import LIVE
from gateway.store.resp import LeanRedis
from tests.conftest import GatewayFactory
from tests.store.conftest import REDIS_URL, STORE_KEY
from tests.support.recorder import Recorder, Reply

BALANCE = "/api/auth/checkins/balance"


async def test_a_cached_read_is_one_round_trip(
    recorder: Recorder, make_gateway: GatewayFactory, prefix: str
) -> None:
    gw = await make_gateway(
        recorder.url,
        GATEWAY_STORE_URL=REDIS_URL,
        GATEWAY_STORE_KEY=STORE_KEY,
        GATEWAY_STORE_PREFIX=prefix,
    )
    recorder.reply(
        "POST",
        "/api/auth/customers/sign_in",
        Reply(200, {"id": 5, "access_token": "P-ACCESS", "authentication_token": "P-AUTH"}),
    )
    resp = await gw.post("/api/auth/customers/sign_in", json={"user": {"email": "r@x.io"}})
    auth = {"Authorization": f"Bearer {(await resp.json())['access_token']}"}
    assert (await gw.get(BALANCE, headers=auth)).headers["X-Cache"] == "MISS"
    app: web.Application = gw.app
    lean: LeanRedis = app[LIVE].now.first.rate_store._redis  # type: ignore[attr-defined]
    before, calls = lean.writes, len(recorder.seen)
    for _ in range(10):
        hit = await gw.get(BALANCE, headers=auth)
        assert hit.status == 200
        assert hit.headers["X-Cache"] == "HIT"
    assert len(recorder.seen) == calls  # every one from the cache
    assert lean.writes - before == 10  # one write, so one round trip, a request
    bypass = await gw.get(BALANCE, headers={**auth, "Cache-Control": "no-cache"})
    assert bypass.headers["X-Cache"] == "MISS"
    assert len(recorder.seen) == calls + 1
