"""Token refresh in one process: before expiry, once for many, after a 401, and when refused."""

from __future__ import annotations

import asyncio

import jwt

from tests.conftest import Client, GatewayFactory
from tests.support.clock import ManualClock
from tests.support.recorder import Recorder, Reply

VERIFY = "/api2/password_less/verify"
REFRESH = "/api2/password_less/refresh_token"
BALANCE = "/api/auth/users/balance"


def _grant(n: int, expires_in: int | None = 1800, id_exp: int | None = None) -> Reply:
    id_token = jwt.encode(
        {"sub": "77", **({"exp": id_exp} if id_exp else {})}, "i" * 32, algorithm="HS256"
    )
    data: dict[str, object] = {
        "access_token": f"ACCESS-{n}",
        "refresh_token": f"REFRESH-{n}",
        "id_token": id_token,
        "token_type": "Bearer",
    }
    if expires_in is not None:
        data["expires_in"] = expires_in
    return Reply(200, {"data": data})


async def _otp_session(gw: Client, recorder: Recorder, **grant: int | None) -> dict[str, str]:
    recorder.reply("POST", VERIFY, _grant(1, **grant))
    resp = await gw.post(VERIFY, json={"email": "g@example.com", "otp": "123456"})
    assert resp.status == 200
    token = (await resp.json())["data"]["access_token"]
    # no-cache: these tests count calls to Punchh, which a cached balance would not make.
    return {"Authorization": f"Bearer {token}", "Cache-Control": "no-cache"}


def _count(recorder: Recorder, path: str) -> int:
    return sum(1 for s in recorder.seen if s.path == path)


async def test_refresh_before_expiry(gw: Client, recorder: Recorder, clock: ManualClock) -> None:
    auth = await _otp_session(gw, recorder)
    recorder.reply("POST", REFRESH, _grant(2))
    clock.advance(1800 - 61)
    await gw.get(BALANCE, headers=auth)
    assert _count(recorder, REFRESH) == 0
    assert recorder.last.headers["Authorization"] == "Bearer ACCESS-1"
    clock.advance(2)  # inside the 60 s margin
    resp = await gw.get(BALANCE, headers=auth)
    assert resp.status == 200
    refresh = next(s for s in recorder.seen if s.path == REFRESH)
    assert refresh.json() == {"refresh_token": "REFRESH-1", "client": "client-abc"}
    assert recorder.last.headers["Authorization"] == "Bearer ACCESS-2"
    await gw.get(BALANCE, headers=auth)
    assert _count(recorder, REFRESH) == 1  # the new token is fresh: no second refresh


async def test_concurrent_requests_share_one_refresh(
    gw: Client, recorder: Recorder, clock: ManualClock
) -> None:
    auth = await _otp_session(gw, recorder)
    recorder.reply("POST", REFRESH, Reply(200, _grant(2).body, delay=0.05))
    clock.advance(1800)
    statuses = await asyncio.gather(*(gw.get(BALANCE, headers=auth) for _ in range(30)))
    assert [r.status for r in statuses] == [200] * 30
    assert _count(recorder, REFRESH) == 1
    bearers = {s.headers["Authorization"] for s in recorder.seen if s.path == BALANCE}
    assert bearers == {"Bearer ACCESS-2"}


async def test_rejected_refresh_ends_the_session(
    gw: Client, recorder: Recorder, clock: ManualClock
) -> None:
    auth = await _otp_session(gw, recorder)
    recorder.reply("POST", REFRESH, Reply(401, {"error": "Invalid refresh token"}))
    clock.advance(1800)
    resp = await gw.get(BALANCE, headers=auth)
    assert resp.status == 401
    assert (await resp.json())["error"]["code"] == "session_expired"
    assert _count(recorder, BALANCE) == 0
    resp = await gw.get(BALANCE, headers=auth)
    assert (await resp.json())["error"]["code"] == "invalid_session"
    assert _count(recorder, REFRESH) == 1


async def test_upstream_401_refreshes_once_and_retries_once(gw: Client, recorder: Recorder) -> None:
    auth = await _otp_session(gw, recorder)
    recorder.reply("POST", REFRESH, _grant(2))
    recorder.reply("GET", BALANCE, Reply(401, {"error": "token revoked"}))
    resp = await gw.get(BALANCE, headers=auth)
    assert resp.status == 401  # Punchh's answer to the retry, passed through: never a loop
    assert await resp.json() == {"error": "token revoked"}
    calls = [(s.path, s.headers.get("Authorization")) for s in recorder.seen[1:]]
    assert calls == [(BALANCE, "Bearer ACCESS-1"), (REFRESH, None), (BALANCE, "Bearer ACCESS-2")]


async def test_upstream_401_then_success(gw: Client, recorder: Recorder) -> None:
    auth = await _otp_session(gw, recorder)
    recorder.reply("POST", REFRESH, _grant(2))
    recorder.reply("GET", BALANCE, Reply(401, {"error": "expired"}, times=1))
    resp = await gw.get(BALANCE, headers=auth)
    assert resp.status == 200  # the retry, with the new token
    calls = [(s.path, s.headers.get("Authorization")) for s in recorder.seen[1:]]
    assert calls == [(BALANCE, "Bearer ACCESS-1"), (REFRESH, None), (BALANCE, "Bearer ACCESS-2")]


async def test_unreachable_refresh_keeps_still_valid_tokens(
    recorder: Recorder, make_gateway: GatewayFactory, clock: ManualClock
) -> None:
    gw = await make_gateway(recorder.url, GATEWAY_REFRESH_MARGIN="300")
    auth = await _otp_session(gw, recorder)
    recorder.reply("POST", REFRESH, Reply(503, {"error": "maintenance"}))
    clock.advance(1800 - 100)  # inside the margin, not yet expired
    resp = await gw.get(BALANCE, headers=auth)
    assert resp.status == 200
    assert recorder.last.headers["Authorization"] == "Bearer ACCESS-1"
    clock.advance(200)  # now expired, and Punchh still cannot refresh
    resp = await gw.get(BALANCE, headers=auth)
    assert resp.status == 502
    assert (await resp.json())["error"]["code"] == "upstream_unavailable"


async def test_id_token_exp_when_no_expires_in(
    gw: Client, recorder: Recorder, clock: ManualClock
) -> None:
    auth = await _otp_session(gw, recorder, expires_in=None, id_exp=int(clock.now) + 600)
    recorder.reply("POST", REFRESH, _grant(2))
    clock.advance(500)
    await gw.get(BALANCE, headers=auth)
    assert _count(recorder, REFRESH) == 0
    clock.advance(50)  # 50 s before the id token's exp: inside the margin
    await gw.get(BALANCE, headers=auth)
    assert _count(recorder, REFRESH) == 1


async def test_password_sessions_are_not_refreshed(
    gw: Client, recorder: Recorder, clock: ManualClock
) -> None:
    recorder.reply(
        "POST",
        "/api/auth/customers/sign_in",
        Reply(200, {"id": 1, "access_token": "PW-ACCESS", "expires_in": 100}),
    )
    token = (await (await gw.post("/api/auth/customers/sign_in", json={})).json())["access_token"]
    recorder.reply("GET", BALANCE, Reply(401, {"error": "expired"}))
    clock.advance(200)
    resp = await gw.get(BALANCE, headers={"Authorization": f"Bearer {token}"})
    assert resp.status == 401
    assert _count(recorder, REFRESH) == 0
    assert _count(recorder, BALANCE) == 1


async def test_a_401_to_an_access_token_already_replaced_does_not_refresh_again(
    gw: Client, recorder: Recorder
) -> None:
    """Two requests leave with ACCESS-1. The first's 401 comes back at once and refreshes
    (ACCESS-2); the second's 401 comes back after that refresh has finished: its token was
    already replaced, so it is retried with ACCESS-2 and Punchh sees one refresh only."""
    auth = await _otp_session(gw, recorder)
    recorder.reply("POST", REFRESH, _grant(2))
    slow, fast = "/api/auth/users/balance", "/api/auth/checkins/balance"
    recorder.reply("GET", slow, Reply(401, {"error": "revoked"}, delay=0.4, times=1))
    recorder.reply("GET", fast, Reply(401, {"error": "revoked"}, times=1))
    late = asyncio.ensure_future(gw.get(slow, headers=auth))
    for _ in range(400):  # until Punchh has the slow request (its answer takes 0.4 s)
        if any(s.path == slow for s in recorder.seen):
            break
        await asyncio.sleep(0.005)
    first = await gw.get(fast, headers=auth)
    assert first.status == 200
    assert _count(recorder, REFRESH) == 1
    second = await late
    assert second.status == 200
    assert _count(recorder, REFRESH) == 1
    calls = [(s.path, s.headers.get("Authorization")) for s in recorder.seen[1:]]
    assert calls.count((slow, "Bearer ACCESS-1")) == 1
    assert calls.count((slow, "Bearer ACCESS-2")) == 1
    assert calls.count((fast, "Bearer ACCESS-2")) == 1
