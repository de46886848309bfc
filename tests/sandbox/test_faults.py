"""Fault knobs and the call counter, seen by a real client over a real socket."""

from __future__ import annotations

import time

import aiohttp
import pytest

from tests.sandbox.conftest import Punchh

CHECKIN = "/api/auth/checkins/online_order"


async def _fault(punchh: Punchh, **rule: object) -> None:
    reply = await punchh.sandbox("POST", "faults", {"method": "POST", "path": CHECKIN, **rule})
    assert reply.status == 201, reply.body


async def _points(punchh: Punchh, token: str) -> int:
    return int((await punchh.balance(token))["points_balance"])


async def test_status_fault_with_retry_after_applies_times_then_stops(punchh: Punchh) -> None:
    token = (await punchh.sign_up("f@example.com"))["access_token"]
    await _fault(punchh, status=503, retry_after=5, times=2)
    for _ in range(2):
        reply = await punchh.checkin(token, "o-1", 20)
        assert reply.status == 503
        assert reply.headers["Retry-After"] == "5"
    assert await _points(punchh, token) == 0  # a status fault never applies the request
    ok = await punchh.checkin(token, "o-1", 20)
    assert ok.status == 200
    assert await _points(punchh, token) == 20
    assert (await punchh.sandbox("GET", "faults")).body == {"faults": []}


async def test_429_without_retry_after_until_cleared(punchh: Punchh) -> None:
    token = (await punchh.sign_up("g@example.com"))["access_token"]
    await _fault(punchh, status=429)
    for _ in range(3):
        reply = await punchh.checkin(token, "o-1", 20)
        assert reply.status == 429
        assert "Retry-After" not in reply.headers
    listed = (await punchh.sandbox("GET", "faults")).body["faults"]
    assert [(f["status"], f["times"]) for f in listed] == [(429, None)]
    assert (await punchh.sandbox("DELETE", "faults")).body == {"cleared": 1}
    assert (await punchh.checkin(token, "o-1", 20)).status == 200


async def test_latency(punchh: Punchh) -> None:
    token = (await punchh.sign_up("l@example.com"))["access_token"]
    await _fault(punchh, latency_ms=150, times=1)
    started = time.monotonic()
    reply = await punchh.checkin(token, "o-1", 20)
    assert reply.status == 200
    assert time.monotonic() - started >= 0.15


async def test_reset_before_drops_the_connection_unapplied(punchh: Punchh) -> None:
    token = (await punchh.sign_up("rb@example.com"))["access_token"]
    await _fault(punchh, reset="before", times=1)
    with pytest.raises(aiohttp.ClientConnectionError):
        await punchh.checkin(token, "o-1", 20)
    assert await _points(punchh, token) == 0
    assert (await punchh.sandbox("GET", "ledger")).body["checkins"] == []


async def test_reset_after_applies_then_drops_and_a_retry_earns_once(punchh: Punchh) -> None:
    token = (await punchh.sign_up("ra@example.com"))["access_token"]
    await _fault(punchh, reset="after", times=1)
    with pytest.raises(aiohttp.ClientConnectionError):
        await punchh.checkin(token, "o-1", 20)
    assert await _points(punchh, token) == 20
    retry = await punchh.checkin(token, "o-1", 20)
    assert retry.status == 200
    assert await _points(punchh, token) == 20
    ledger = (await punchh.sandbox("GET", "ledger")).body["checkins"]
    assert [e["external_uid"] for e in ledger] == ["o-1"]


async def test_fault_knob_rejects_bad_rules(punchh: Punchh) -> None:
    reply = await punchh.sandbox("POST", "faults", {"path": CHECKIN, "reset": "sideways"})
    assert reply.status == 400
    assert "reset" in reply.body["error"]


async def test_calls_are_counted_per_method_and_path(punchh: Punchh) -> None:
    token = (await punchh.sign_up("c@example.com"))["access_token"]
    await punchh.call("GET", "/api/auth/users", token=token)
    await punchh.call("GET", "/api/auth/users", query={"authentication_token": token})
    calls = (await punchh.sandbox("GET", "calls")).body
    assert calls == {"POST /api/auth/customers.json": 1, "GET /api/auth/users": 2}
    assert (await punchh.sandbox("POST", "calls/reset")).status == 200
    await _fault(punchh, status=503, times=1)
    await punchh.checkin(token, "o-1", 5)
    assert (await punchh.sandbox("GET", "calls")).body == {f"POST {CHECKIN}": 1}
