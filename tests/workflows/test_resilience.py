"""Issue 9 through gateway + sandbox: faults injected in the sandbox, check-ins counted in
its ledger. Every check-in a frontend sent is in the ledger exactly once, or the frontend
was told it was not applied; the points add up.

A frontend here behaves as the gateway's answers tell it to: an answer whose `outcome`
is `unknown` (or a Punchh 5xx, which has none) is repeated later with the same
`external_uid` or `Idempotency-Key`; one that says `not_applied` may be dropped.
"""

from __future__ import annotations

import asyncio
import math
from pathlib import Path
from typing import Any

import pytest

from sandbox.context import STATE_KEY
from sandbox.server import SandboxServer
from tests.conftest import ADMIN, ADMIN_TOKEN, Client, GatewayFactory
from tests.support.clock import ManualClock
from tests.workflows.support import (
    BUSINESS_KEY,
    RECEIPT_AT,
    Answer,
    Frontend,
    SandboxAdmin,
    menu_items,
    sandbox_tokens,
)

CHECKIN = "/api/auth/checkins/online_order"
BALANCE = "/api/auth/checkins/balance"

# Tight timeouts and quick retries; a breaker that stays closed (tested on its own below).
FAST = {
    "GATEWAY_ADMIN_TOKEN": ADMIN_TOKEN,
    "PUNCHH_TIMEOUT_READ_FIRST_BYTE": "0.3",
    "PUNCHH_TIMEOUT_WRITE_FIRST_BYTE": "0.3",
    "PUNCHH_TIMEOUT_READ_TOTAL": "3",
    "PUNCHH_TIMEOUT_WRITE_TOTAL": "3",
    "GATEWAY_RETRY_BACKOFF_BASE": "0.01",
    "GATEWAY_RETRY_BACKOFF_MAX": "0.05",
    "GATEWAY_CIRCUIT_CONSECUTIVE_FAILURES": "1000",
    "GATEWAY_CIRCUIT_MIN_CALLS": "100000",
}

# (name, fault rule on the check-in route)
FAULTS: list[tuple[str, dict[str, Any] | list[dict[str, Any]]]] = [
    ("latency beyond the first-byte timeout", {"latency_ms": 700, "times": 1}),
    ("latency on every attempt", {"latency_ms": 700, "times": 3}),
    ("reset before the request is applied", {"reset": "before", "times": 1}),
    ("reset after the request is applied", {"reset": "after", "times": 1}),
    ("reset after, on every attempt", {"reset": "after", "times": 3}),
    ("a burst of 500s", {"status": 500, "times": 2}),
    ("a burst of 503s longer than the retries", {"status": 503, "times": 3}),
    ("429 with Retry-After", {"status": 429, "retry_after": 1, "times": 1}),
    # Applied, the answer lost; the retry refused: Punchh's 429 is about the retry only.
    ("reset after, then 429 on the retry", [{"reset": "after"}, {"status": 429, "retry_after": 1}]),
]


def _order(amount: float, uid: str | None) -> dict[str, Any]:
    order: dict[str, Any] = {
        "receipt_amount": amount,
        "subtotal_amount": amount,
        "receipt_datetime": RECEIPT_AT,
        "payable": str(amount),
        "menu_items": menu_items(amount),
    }
    if uid is not None:
        order["external_uid"] = uid
        order["transaction_no"] = uid
    return order


def _verdict(answer: Answer) -> str:
    """What the answer tells the frontend: applied, not_applied, or unknown."""
    if 200 <= answer.status < 300:
        return "applied"
    body = answer.body if answer.raw.startswith(b"{") else None
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict) and "outcome" in error:  # the gateway's own error
        return str(error["outcome"])
    if answer.status >= 500:
        return "unknown"  # Punchh's 5xx: nobody can tell
    return "not_applied"  # Punchh's 4xx: refused


@pytest.fixture
async def gw(sandbox: SandboxServer, make_gateway: GatewayFactory, pos_config_file: Path) -> Client:
    return await make_gateway(
        sandbox.url, config_file=pos_config_file, PUNCHH_BUSINESS_KEY=BUSINESS_KEY, **FAST
    )


async def _metric(gw: Client, name: str, **labels: str) -> float:
    resp = await gw.get("/metrics", headers=ADMIN)
    assert resp.status == 200, "this gateway needs GATEWAY_ADMIN_TOKEN=ADMIN_TOKEN"
    text = await resp.text()
    want = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    total = 0.0
    for line in text.splitlines():
        if line.startswith(name + "{") or line.startswith(name + " "):
            head, _, value = line.rpartition(" ")
            got = head[len(name) :].strip("{}")
            if all(part in got.split(",") for part in want.split(",") if part):
                total += float(value)
    return total


async def test_every_checkin_once_or_not_applied_under_faults(
    fe: Frontend, admin: SandboxAdmin, gw: Client, clock: ManualClock
) -> None:
    token, body = await fe.sign_up("faults@example.com")
    user_id = body["id"]
    sent: dict[str, float] = {}  # uid → amount
    first: dict[str, str] = {}  # uid → the verdict of the first answer
    final: dict[str, str] = {}
    for i, (name, rule) in enumerate(FAULTS):
        for way in ("external_uid", "idempotency_key"):
            uid, amount = f"order-{i}-{way}", 10.0 + i
            body_uid = uid if way == "external_uid" else None
            headers = {"Idempotency-Key": uid} if way == "idempotency_key" else {}
            for one in rule if isinstance(rule, list) else [rule]:
                status, _ = await admin.post(
                    "/__sandbox/faults", {"method": "POST", "path": CHECKIN, "times": 1, **one}
                )
                assert status == 201
            answer = await fe.call(
                "POST", CHECKIN, json=_order(amount, body_uid), token=token, headers=headers
            )
            await admin.http.delete(admin.url + "/__sandbox/faults")
            sent[uid], first[uid] = amount, _verdict(answer)
            verdict, tries = first[uid], 0
            while verdict == "unknown" and tries < 5:  # a good client repeats it, same key
                await asyncio.sleep(0.8)  # a late first attempt lands first
                clock.advance(2)  # past the gateway's hold after a 429 (Retry-After: 1)
                tries += 1
                answer = await fe.call(
                    "POST", CHECKIN, json=_order(amount, body_uid), token=token, headers=headers
                )
                verdict = _verdict(answer)
            final[uid] = verdict
            clock.advance(2)  # the next request is not held by this one's 429
            assert verdict in ("applied", "not_applied"), (name, way, answer)
            if verdict == "applied":
                assert answer.body["checkin"]["external_uid"] == uid, (name, way)
        await asyncio.sleep(0.8)  # a late first attempt (latency faults) lands in the ledger

    ledger = [c for c in await admin.ledger() if str(c["user_id"]) == str(user_id)]
    uids = [c["external_uid"] for c in ledger]
    for uid, verdict in final.items():
        assert uids.count(uid) == (1 if verdict == "applied" else 0), (uid, verdict, uids)
    assert len(uids) == len(set(uids))
    # The faults did bite: retries happened, some answers were unknown at first, and the
    # 429 was refused rather than applied.
    assert first["order-0-external_uid"] == "applied"  # one slow attempt: retried inside
    assert "unknown" in first.values()
    assert first["order-8-idempotency_key"] == "unknown"  # not the 429's "not applied"
    assert final["order-8-idempotency_key"] == "applied"
    refused = {"order-7-external_uid", "order-7-idempotency_key"}  # the 429s
    assert {u for u, v in final.items() if v == "not_applied"} == refused
    assert await _metric(gw, "loyalty_gateway_upstream_retries_total", route=f"POST {CHECKIN}") > 0

    expected = sum(math.floor(sent[u]) for u, v in final.items() if v == "applied")
    assert sum(int(c["points"]) for c in ledger) == expected
    assert (await fe.balance(token))["lifetime_points"] == expected


async def test_reads_are_retried_and_writes_without_uid_are_not(
    fe: Frontend, admin: SandboxAdmin, gw: Client
) -> None:
    token, _ = await fe.sign_up("reads@example.com")
    await admin.reset_calls()
    await admin.post(
        "/__sandbox/faults", {"method": "GET", "path": BALANCE, "reset": "before", "times": 1}
    )
    answer = await fe.call("GET", BALANCE, token=token, headers={"Cache-Control": "no-cache"})
    assert answer.status == 200, answer
    assert (await admin.calls())[f"GET {BALANCE}"] == 2  # the reset one, then the retry

    # A profile update carries no external_uid: once it may have reached Punchh it is not
    # sent again, and the frontend is told the outcome is unknown.
    await admin.post(
        "/__sandbox/faults", {"method": "PUT", "path": "/api/auth/users", "reset": "after"}
    )
    update = {"user": {"first_name": "Changed"}}
    answer = await fe.call("PUT", "/api/auth/users", json=update, token=token)
    await admin.http.delete(admin.url + "/__sandbox/faults")
    assert answer.status == 502, answer
    assert answer.body["error"]["outcome"] == "unknown"
    assert (await admin.calls())["PUT /api/auth/users"] == 1


async def test_idempotency_key_dedupes_in_flight_and_replays(
    fe: Frontend, admin: SandboxAdmin, gw: Client
) -> None:
    token, _ = await fe.sign_up("idem@example.com")
    await admin.reset_calls()
    await admin.post("/__sandbox/faults", {"method": "POST", "path": CHECKIN, "latency_ms": 200})
    key = "c0ffee-0001"
    same = [
        fe.call(
            "POST", CHECKIN, json=_order(25.0, None), token=token, headers={"Idempotency-Key": key}
        )
        for _ in range(5)
    ]
    answers = await asyncio.gather(*same)
    await admin.http.delete(admin.url + "/__sandbox/faults")
    assert {a.status for a in answers} == {200}
    assert len({a.raw for a in answers}) == 1  # the same answer for all five
    assert sum(a.headers.get("Idempotent-Replayed") == "true" for a in answers) == 4
    assert (await admin.calls())[f"POST {CHECKIN}"] == 1
    assert answers[0].body["checkin"]["external_uid"] == key

    again = await fe.call(
        "POST", CHECKIN, json=_order(25.0, None), token=token, headers={"Idempotency-Key": key}
    )
    assert (again.status, again.raw, again.headers["Idempotent-Replayed"]) == (
        200,
        answers[0].raw,
        "true",
    )
    other = await fe.call(
        "POST", CHECKIN, json=_order(26.0, None), token=token, headers={"Idempotency-Key": key}
    )
    assert other.status == 422, other
    assert other.body["error"]["code"] == "idempotency_key_reused"
    assert other.body["error"]["outcome"] == "not_applied"
    assert (await admin.calls())[f"POST {CHECKIN}"] == 1
    ledger = [c for c in await admin.ledger() if c["external_uid"] == key]
    assert [int(c["points"]) for c in ledger] == [25]

    # The same key from another guest is theirs alone.
    token2, _ = await fe.sign_up("idem2@example.com")
    theirs = await fe.call(
        "POST", CHECKIN, json=_order(7.0, None), token=token2, headers={"Idempotency-Key": key}
    )
    assert (theirs.status, theirs.body["points"]) == (200, 7)
    assert "Idempotent-Replayed" not in theirs.headers

    bad = await fe.call(
        "POST", CHECKIN, json=_order(1.0, None), token=token, headers={"Idempotency-Key": "a b"}
    )
    assert (bad.status, bad.body["error"]["code"]) == (400, "invalid_idempotency_key")


async def test_circuit_breaker_opens_fails_fast_and_closes(
    sandbox: SandboxServer,
    make_gateway: GatewayFactory,
    pos_config_file: Path,
    admin: SandboxAdmin,
) -> None:
    breaker_clock = ManualClock()  # the calls' clock: the breaker opens and probes on it
    gw = await make_gateway(
        sandbox.url,
        config_file=pos_config_file,
        monotonic=breaker_clock,
        PUNCHH_BUSINESS_KEY=BUSINESS_KEY,
        GATEWAY_CIRCUIT_CONSECUTIVE_FAILURES="3",
        GATEWAY_CIRCUIT_OPEN_SECONDS="1",
        GATEWAY_RETRY_MAX_ATTEMPTS="1",
        GATEWAY_ADMIN_TOKEN=ADMIN_TOKEN,
    )
    fe = Frontend(gw, lambda: sandbox_tokens(sandbox.app[STATE_KEY]))
    token, _ = await fe.sign_up("breaker@example.com")
    fresh = {"Cache-Control": "no-cache"}
    await admin.post("/__sandbox/faults", {"method": "GET", "path": BALANCE, "status": 500})
    for _ in range(3):
        assert (await fe.call("GET", BALANCE, token=token, headers=fresh)).status == 500
    assert await _metric(gw, "loyalty_gateway_circuit_state", family="auth") == 2
    await admin.reset_calls()
    fast = await fe.call("GET", BALANCE, token=token, headers=fresh)
    assert fast.status == 503, fast
    assert fast.body["error"]["code"] == "upstream_unavailable"
    assert fast.body["error"]["outcome"] == "not_applied"
    assert int(fast.headers["Retry-After"]) >= 1
    assert (await admin.calls()).get(f"GET {BALANCE}", 0) == 0  # nothing reached Punchh

    # Another family is not affected: POS look-ups still reach the sandbox.
    pos = await fe.pos("GET", "/api/pos/users/search", params={"email": "breaker@example.com"})
    assert pos.status == 200, pos

    breaker_clock.advance(1.1)  # half-open: one probe, still failing → open again
    assert (await fe.call("GET", BALANCE, token=token, headers=fresh)).status == 500
    assert (await fe.call("GET", BALANCE, token=token, headers=fresh)).status == 503
    await admin.http.delete(admin.url + "/__sandbox/faults")
    breaker_clock.advance(1.1)  # the next probe succeeds and closes it
    assert (await fe.call("GET", BALANCE, token=token, headers=fresh)).status == 200
    assert await _metric(gw, "loyalty_gateway_circuit_state", family="auth") == 0
    assert await _metric(gw, "loyalty_gateway_circuit_transitions_total", family="auth") == 5
