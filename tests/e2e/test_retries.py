"""Retries and timeouts through the real gateway in front of the recording fake Punchh:
what is sent again, what never is, and the deadline over all attempts."""

from __future__ import annotations

import socket
import time

import pytest

from tests.conftest import ADMIN, ADMIN_TOKEN, Client, GatewayFactory
from tests.support.recorder import Recorder, Reply

USERS = "/api/auth/users"
FORGOT = "/api/auth/users/forgot_password"
CHECKIN = "/api/auth/checkins/online_order"
SIGNUP = {
    "id": 42,
    "email": "g@example.com",
    "authentication_token": "PUNCHH-AUTH-1",
    "access_token": "PUNCHH-ACCESS-1",
}
QUICK = {
    "GATEWAY_RETRY_BACKOFF_BASE": "0.01",
    "GATEWAY_RETRY_BACKOFF_MAX": "0.02",
    "GATEWAY_ADMIN_TOKEN": ADMIN_TOKEN,
}


async def _token(gw: Client, recorder: Recorder) -> dict[str, str]:
    recorder.reply("POST", "/api/auth/customers.json", Reply(201, SIGNUP))
    resp = await gw.post("/api/auth/customers.json", json={"user": {"email": "g@example.com"}})
    assert resp.status == 201
    token = (await resp.json())["access_token"]
    return {"Authorization": f"Bearer {token}", "Cache-Control": "no-cache"}  # no cached reads


def _calls(recorder: Recorder, method: str, path: str) -> int:
    return sum(1 for s in recorder.seen if (s.method, s.path) == (method, path))


async def _metric(gw: Client, line_start: str) -> float:
    resp = await gw.get("/metrics", headers=ADMIN)
    assert resp.status == 200, "this gateway needs GATEWAY_ADMIN_TOKEN=ADMIN_TOKEN"
    text = await resp.text()
    return sum(float(x.rpartition(" ")[2]) for x in text.splitlines() if x.startswith(line_start))


@pytest.fixture
async def gw(recorder: Recorder, make_gateway: GatewayFactory) -> Client:
    return await make_gateway(recorder.url, **QUICK)


async def test_a_read_is_retried_on_5xx_until_it_works(gw: Client, recorder: Recorder) -> None:
    auth = await _token(gw, recorder)
    recorder.reply("GET", USERS, Reply(502, {"error": "bad gateway"}, times=2))
    resp = await gw.get(USERS, headers=auth)
    assert resp.status == 200, await resp.text()
    assert _calls(recorder, "GET", USERS) == 3
    retried = (
        f'loyalty_gateway_upstream_retries_total{{business="default",reason="status_502",'
        f'route="GET {USERS}"}}'
    )
    assert await _metric(gw, retried) == 2


async def test_the_last_5xx_is_passed_on_when_attempts_run_out(
    gw: Client, recorder: Recorder
) -> None:
    auth = await _token(gw, recorder)
    recorder.reply("GET", USERS, Reply(500, {"error": "boom"}, times=10))
    resp = await gw.get(USERS, headers=auth)
    assert (resp.status, await resp.json()) == (500, {"error": "boom"})  # Punchh's own answer
    assert _calls(recorder, "GET", USERS) == 3  # retry.max_attempts


@pytest.mark.parametrize("status", [400, 401, 404, 409, 412, 422, 429])
async def test_4xx_is_never_retried(status: int, gw: Client, recorder: Recorder) -> None:
    auth = await _token(gw, recorder)
    recorder.reply("GET", USERS, Reply(status, {"error": "no"}, times=5))
    resp = await gw.get(USERS, headers=auth)
    assert resp.status == status
    assert _calls(recorder, "GET", USERS) == 1


async def test_an_answer_with_retry_after_is_not_retried(gw: Client, recorder: Recorder) -> None:
    auth = await _token(gw, recorder)
    recorder.reply("GET", USERS, Reply(503, {"error": "busy"}, {"Retry-After": "1"}, times=5))
    resp = await gw.get(USERS, headers=auth)
    assert resp.status == 503
    assert _calls(recorder, "GET", USERS) == 1


async def test_writes_are_retried_only_with_an_external_uid(gw: Client, recorder: Recorder) -> None:
    auth = await _token(gw, recorder)
    recorder.reply("POST", CHECKIN, Reply(503, {"error": "down"}, times=1))
    resp = await gw.post(CHECKIN, json={"external_uid": "o-1"}, headers=auth)
    assert resp.status == 200
    assert _calls(recorder, "POST", CHECKIN) == 2
    assert [s.json()["external_uid"] for s in recorder.seen[-2:]] == ["o-1", "o-1"]

    recorder.reply("POST", CHECKIN, Reply(503, {"error": "down"}, times=1))
    resp = await gw.post(CHECKIN, json={"receipt_amount": 5}, headers=auth)
    assert resp.status == 503  # no external_uid: Punchh could apply it twice
    assert _calls(recorder, "POST", CHECKIN) == 3

    recorder.reply("POST", FORGOT, Reply(500, {"error": "down"}, times=1))
    assert (await gw.post(FORGOT, json={"email": "g@example.com"})).status == 500
    assert _calls(recorder, "POST", FORGOT) == 1


async def test_a_write_is_retried_when_the_connection_never_opened(
    make_gateway: GatewayFactory,
) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed once the block ends: connections are refused
    gw = await make_gateway(f"http://127.0.0.1:{port}", **QUICK)
    resp = await gw.post(FORGOT, json={"email": "g@example.com"})
    assert resp.status == 502
    error = (await resp.json())["error"]
    assert (error["code"], error["outcome"]) == ("upstream_unavailable", "not_applied")
    retried = (
        f'loyalty_gateway_upstream_retries_total{{business="default",reason="connect",'
        f'route="POST {FORGOT}"}}'
    )
    assert await _metric(gw, retried) == 2


async def test_first_byte_timeout_per_attempt_and_one_deadline_for_all(
    recorder: Recorder, make_gateway: GatewayFactory
) -> None:
    gw = await make_gateway(
        recorder.url,
        PUNCHH_TIMEOUT_READ_FIRST_BYTE="0.2",
        PUNCHH_TIMEOUT_READ_TOTAL="0.7",
        GATEWAY_RETRY_MAX_ATTEMPTS="10",
        **QUICK,
    )
    auth = await _token(gw, recorder)
    recorder.reply("GET", USERS, Reply(200, {"late": True}, delay=0.5, times=1))
    resp = await gw.get(USERS, headers=auth)
    assert resp.status == 200  # the slow first attempt timed out; the second was quick
    assert _calls(recorder, "GET", USERS) == 2

    recorder.reply("GET", USERS, Reply(200, {"late": True}, delay=0.5, times=100))
    started = time.monotonic()
    resp = await gw.get(USERS, headers=auth)
    took = time.monotonic() - started
    assert resp.status == 504
    error = (await resp.json())["error"]
    assert (error["code"], error["outcome"]) == ("upstream_timeout", "unknown")
    assert 0.6 < took < 1.2, took  # the class's total, not 10 attempts of 0.2 s
    assert 3 <= _calls(recorder, "GET", USERS) - 2 <= 5  # as many 0.2 s tries as fit
