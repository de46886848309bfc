"""Account history through the gateway (issue 16, seed 000 step 4): the guest sees their
visits and points, cached per guest (`X-Cache`) and stale after any write of theirs.

Upstream calls are counted at the sandbox; every read checks the events, not only a status.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.workflows.support import PASSWORD, RECEIPT_AT, Answer, Frontend, SandboxAdmin

pytestmark = pytest.mark.asyncio

OO_HISTORY = "/api/auth/accounts"
MOBILE_HISTORY = "/api2/mobile/users/account_history"
DEVICE = {"punchh-app-device-id": "device-h1st"}
PHONE = "5550106666"


async def history(
    fe: Frontend, token: str, path: str = OO_HISTORY, **params: str
) -> tuple[str | None, list[dict[str, Any]]]:
    answer: Answer = await fe.call("GET", path, token=token, params=params or None)
    assert answer.status == 200, answer
    return answer.headers.get("X-Cache"), list(answer.body)


async def upstream(admin: SandboxAdmin, path: str) -> int:
    return (await admin.calls()).get(f"GET {path}", 0)


def checkins(events: list[dict[str, Any]], kind: str = "event_name") -> list[tuple[Any, ...]]:
    return [(e["event_value"], e["disapproved"]) for e in events if e[kind] == "Checkin"]


async def test_history_is_cached_per_guest_and_stale_after_a_checkin(
    fe: Frontend, admin: SandboxAdmin
) -> None:
    token, _ = await fe.sign_up("hist@example.com")
    assert (await fe.checkin(token, "web-1", 42.5)).status == 200
    await admin.reset_calls()

    first = await history(fe, token)
    assert first[0] == "MISS"
    outcome, events = await history(fe, token)
    assert (outcome, events) == ("HIT", first[1])
    assert await upstream(admin, OO_HISTORY) == 1  # the second read was the cache's
    assert checkins(events) == [("+42 points", False)]
    assert events[0]["channel"] == "OnlineOrder"

    # Another guest: their own entry, their own (empty) history.
    other, _ = await fe.sign_up("other@example.com", first_name="Bo")
    assert await history(fe, other) == ("MISS", [])
    assert await history(fe, other) == ("HIT", [])

    # A check-in makes the first guest's history stale, and only theirs.
    assert (await fe.checkin(token, "web-2", 20.0)).status == 200
    outcome, events = await history(fe, token)
    assert outcome == "MISS"
    assert checkins(events) == [("+20 points", False), ("+42 points", False)]
    assert await upstream(admin, OO_HISTORY) == 3
    assert await history(fe, other) == ("HIT", [])

    # So does a void: the voided check-in stays, disapproved.
    voided = await fe.call(
        "DELETE", "/api/auth/checkins", json={"external_uid": "web-2"}, token=token
    )
    assert voided.status == 202, voided
    outcome, events = await history(fe, token)
    assert outcome == "MISS"
    assert checkins(events) == [("+20 points", True), ("+42 points", False)]


async def test_mobile_history_with_its_filter(fe: Frontend, admin: SandboxAdmin) -> None:
    user = {"email": "app@example.com", "password": PASSWORD, "first_name": "Mo", "last_name": "B"}
    signed_up = await fe.call("POST", "/api2/mobile/users", json={"user": user}, headers=DEVICE)
    assert signed_up.status == 201, signed_up
    token = signed_up.body["access_token"]["token"]
    assert (await fe.checkin(token, "app-1", 120.0)).status == 200  # one reward, 20 points

    outcome, events = await history(fe, token, MOBILE_HISTORY)
    assert outcome == "MISS"
    assert [(e["event_type"], e["event_value"]) for e in events] == [
        ("RewardCredit", "+$10.00"),
        ("Checkin", "+120 points"),
    ]
    # The filter is part of the key: its own entry, its own answer.
    outcome, only = await history(fe, token, MOBILE_HISTORY, event_filter="checkins")
    assert (outcome, [e["event_type"] for e in only]) == ("MISS", ["Checkin"])
    assert (await history(fe, token, MOBILE_HISTORY))[0] == "HIT"
    assert (await history(fe, token, MOBILE_HISTORY, event_filter="checkins"))[0] == "HIT"

    assert (await fe.checkin(token, "app-2", 5.0)).status == 200
    outcome, only = await history(fe, token, MOBILE_HISTORY, event_filter="checkins")
    assert outcome == "MISS"
    assert checkins(only, "event_type") == [("+5 points", False), ("+120 points", False)]


async def test_merged_account_shows_the_earlier_pos_visits(
    fe: Frontend, admin: SandboxAdmin
) -> None:
    created = await fe.pos("POST", "/api/pos/users", json={"user": {"phone": PHONE}})
    assert created.status == 201, created
    for uid, amount in (("till-1", 18.0), ("till-2", 31.5)):
        visit = {"external_uid": uid, "receipt_amount": amount, "receipt_datetime": RECEIPT_AT}
        answer = await fe.pos("POST", "/api/pos/checkins", json={**visit, "phone": PHONE})
        assert answer.status == 200, answer

    token, body = await fe.sign_up("merged-h@example.com", phone="(555) 010-6666")
    assert body["id"] == created.body["id"]  # the dummy, completed in place
    outcome, events = await history(fe, token)
    assert outcome == "MISS"
    assert [(e["event_value"], e["channel"], e["store_number"]) for e in events] == [
        ("+31 points", "POS", "101"),
        ("+18 points", "POS", "101"),
    ]
    assert (await fe.balance(token))["points_balance"] == 49
