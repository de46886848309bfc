"""Seed 002: online-order check-ins earn once per order, validate first, and void cleanly."""

from __future__ import annotations

import pytest

from tests.workflows.support import (
    RECEIPT_AT,
    STORE_NUMBER,
    Frontend,
    SandboxAdmin,
    menu_items,
)

pytestmark = pytest.mark.asyncio


async def test_checkin_earns_once_per_order_and_voids(fe: Frontend, admin: SandboxAdmin) -> None:
    token, body = await fe.sign_up("eater@example.com", first_name="Eve", last_name="Eater")
    user_id = body["id"]

    first = await fe.checkin(token, "order-1", 42.75, store_number=STORE_NUMBER)
    assert first.status == 200, first
    assert first.body["first_name"] == "Eve"
    assert first.body["points"] == 42  # floor(42.75) x 1
    assert first.body["checkin"]["external_uid"] == "order-1"
    assert first.body["checkin"]["points_earned"] == 42
    checkin_id = first.body["checkin"]["checkin_id"]
    after_one = await fe.balance(token)
    assert after_one["points_balance"] == 42
    assert after_one["lifetime_points"] == 42
    assert after_one["visits"] == 1
    assert after_one["points_to_next_reward"] == 58

    # The same order again (a retry): the same check-in, nothing earned twice.
    repeat = await fe.checkin(token, "order-1", 42.75, store_number=STORE_NUMBER)
    assert repeat.status == 200
    assert repeat.body["checkin"]["checkin_id"] == checkin_id
    assert await fe.balance(token) == after_one

    second = await fe.checkin(token, "order-2", 9.99)
    assert second.body["points"] == 9
    assert (await fe.balance(token))["points_balance"] == 51

    # A bad order is refused whole: nothing reaches the ledger or the balance.
    ledger_before = await admin.ledger()
    balance_before = await fe.balance(token)
    # No datetime, no payable: missing parameters are 400 (seed 002), passed on as sent.
    incomplete = {"external_uid": "order-3", "receipt_amount": 20, "menu_items": menu_items(20)}
    refused = await fe.call("POST", "/api/auth/checkins/online_order", json=incomplete, token=token)
    assert refused.status == 400, refused
    assert refused.body == {
        "error": "Required parameter missing or the value is empty: receipt_datetime, payable"
    }
    negative = await fe.checkin(token, "order-4", -5.0)
    assert negative.status == 422
    assert negative.body["errors"]["receipt_amount"] == ["must be greater than or equal to 0"]
    assert await admin.ledger() == ledger_before
    assert await fe.balance(token) == balance_before

    # Void the first order: its points and its visit go away.
    void = await fe.call(
        "DELETE", "/api/auth/checkins", json={"external_uid": "order-1"}, token=token
    )
    assert void.status == 202
    assert void.raw == b""
    after_void = await fe.balance(token)
    assert (after_void["points_balance"], after_void["visits"]) == (9, 1)
    assert after_void["lifetime_points"] == 9
    again = await fe.call(
        "DELETE", "/api/auth/checkins", json={"external_uid": "order-1"}, token=token
    )
    assert again.status == 422
    unknown = await fe.call(
        "DELETE", "/api/auth/checkins", params={"external_uid": "nope"}, token=token
    )
    assert unknown.status == 404
    replay = await fe.checkin(token, "order-1", 42.75)
    assert replay.status == 422  # a voided order cannot earn again
    assert (await fe.balance(token))["points_balance"] == 9

    ledger = [c for c in await admin.ledger() if c["user_id"] == user_id]
    assert [(c["external_uid"], c["points"], c["voided"]) for c in ledger] == [
        ("order-1", 42, True),
        ("order-2", 9, False),
    ]
    assert ledger[0]["receipt_amount"] == 42.75
    assert ledger[0]["channel"] == "online_order"
    assert ledger[0]["store_number"] == STORE_NUMBER


async def test_checkins_convert_into_rewards(fe: Frontend) -> None:
    token, _ = await fe.sign_up("big@example.com")
    answer = await fe.checkin(token, "feast", 215.40, receipt_datetime=RECEIPT_AT)
    assert answer.body["points"] == 215
    balance = await fe.balance(token)
    assert balance["points_balance"] == 15
    assert balance["lifetime_points"] == 215
    assert [r["name"] for r in balance["rewards"]] == ["$10 Off", "$10 Off"]
    assert balance["banked_rewards"] == "20.00"
