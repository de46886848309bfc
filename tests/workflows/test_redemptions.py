"""Seed 004: Redemptions 1.0 and 2.0 through the gateway, balances checked at each step."""

from __future__ import annotations

from typing import Any

import pytest

from tests.workflows.support import LINE_ITEMS, Frontend, SandboxAdmin

pytestmark = pytest.mark.asyncio


async def _guest_with_reward(fe: Frontend, email: str, amount: float) -> tuple[str, int]:
    token, _ = await fe.sign_up(email)
    assert (await fe.checkin(token, f"earn-{email}", amount)).status == 200
    (reward,) = (await fe.balance(token))["rewards"]
    assert (reward["name"], reward["discount_amount"]) == ("$10 Off", 10.0)
    return token, int(reward["id"])


async def test_redemptions_1_0(fe: Frontend, admin: SandboxAdmin) -> None:
    token, reward_id = await _guest_with_reward(fe, "r1@example.com", 130.0)
    start = await fe.balance(token)
    assert start["points_balance"] == 30
    order: dict[str, Any] = {
        "discount_type": "reward",
        "reward_id": reward_id,
        "receipt_amount": 25.0,
        "external_uid": "r1-order",
    }

    asked = await fe.call(
        "POST", "/api/auth/redemptions/online_order", json={**order, "query": True}, token=token
    )
    assert asked.status == 200, asked
    assert asked.body["category"] == "redeemable"
    assert asked.body["redemption_amount"] == 10.0
    assert asked.body["redemption_id"] is None
    assert asked.body["redemption_code"] is None
    assert await fe.balance(token) == start

    done = await fe.call("POST", "/api/auth/redemptions/online_order", json=order, token=token)
    assert done.status == 200, done
    assert done.body["category"] == "redeemable"
    assert done.body["status"] == "Please HONOR it."
    redemption_id = done.body["redemption_id"]
    assert isinstance(redemption_id, int)
    assert done.body["redemption_code"]
    spent = await fe.balance(token)
    assert spent["rewards"] == []
    assert spent["banked_rewards"] == "0.00"
    assert spent["points_balance"] == 30  # a reward costs no points

    retry = await fe.call("POST", "/api/auth/redemptions/online_order", json=order, token=token)
    assert retry.body["redemption_id"] == redemption_id  # same order: the first redemption

    other = {**order, "external_uid": "r1-other"}
    twice = await fe.call("POST", "/api/auth/redemptions/online_order", json=other, token=token)
    assert twice.status == 200
    assert twice.body["category"] == "processed"
    assert twice.body["redemption_id"] is None
    assert await fe.balance(token) == spent

    void = await fe.call(
        "DELETE", "/api/auth/redemptions", json={"redemption_id": redemption_id}, token=token
    )
    assert void.status == 202, void
    restored = await fe.balance(token)
    assert [r["id"] for r in restored["rewards"]] == [reward_id]
    assert restored == start
    state = await admin.user(restored["user_id"])
    (redemption,) = state["redemptions"]
    assert redemption["voided_at"] is not None


async def test_redemptions_1_0_points_and_catalog(fe: Frontend) -> None:
    token, _ = await _guest_with_reward(fe, "r1b@example.com", 190.0)  # 1 reward + 90 points
    free_drink = {"discount_type": "redeemable", "redeemable_id": 101, "receipt_amount": 12.0}
    done = await fe.call("POST", "/api/auth/redemptions/online_order", json=free_drink, token=token)
    assert done.body["category"] == "redeemable"
    assert done.body["redemption_amount"] == 3.0
    assert (await fe.balance(token))["points_balance"] == 40  # the drink costs 50 points
    too_dear = {"discount_type": "redeemable", "redeemable_id": 102, "receipt_amount": 12.0}
    refused = await fe.call(
        "POST", "/api/auth/redemptions/online_order", json=too_dear, token=token
    )
    assert refused.body["category"] == "invalid"
    assert (await fe.balance(token))["points_balance"] == 40


async def test_redemptions_2_0(fe: Frontend, admin: SandboxAdmin) -> None:
    token, reward_id = await _guest_with_reward(fe, "r2@example.com", 180.0)
    start = await fe.balance(token)
    assert start["points_balance"] == 80

    chosen = {
        "discount_basket_items_attributes": [
            {"discount_type": "reward", "discount_id": reward_id},
            {"discount_type": "redeemable", "discount_id": 101},
            {"discount_type": "discount_amount", "discount_value": 2},
        ]
    }
    selected = await fe.call("POST", "/api/auth/discounts/select", json=chosen, token=token)
    assert selected.status == 200, selected
    ref = selected.body["redemption_ref"]
    items = selected.body["discount_basket_items"]
    assert [i["discount_type"] for i in items] == ["reward", "redeemable", "discount_amount"]
    assert await fe.balance(token) == start  # selecting spends nothing

    active = await fe.call("GET", "/api/auth/discounts/active", token=token)
    assert active.status == 200
    assert active.body["redemption_ref"] == ref
    assert [i["discount_basket_item_id"] for i in active.body["discount_basket_items"]] == [
        i["discount_basket_item_id"] for i in items
    ]

    points_item = items[2]["discount_basket_item_id"]
    unselected = await fe.call(
        "DELETE",
        "/api/auth/discounts/unselect",
        json={"discount_basket_item_ids": [points_item]},
        token=token,
    )
    assert unselected.status == 200, unselected
    assert [i["discount_type"] for i in unselected.body["discount_basket_items"]] == [
        "reward",
        "redeemable",
    ]

    receipt = {"receipt_amount": 25.0, "line_items": LINE_ITEMS, "external_uid": "r2-order"}
    asked = await fe.call(
        "POST", "/api/auth/batch_redemptions", json={**receipt, "query": True}, token=token
    )
    assert asked.status == 200, asked
    assert [s["discount_amount"] for s in asked.body["success"]] == [10.0, 3.0]
    assert all(s["redemption_id"] is None for s in asked.body["success"])
    assert asked.body["failures"] == []
    assert await fe.balance(token) == start
    assert (await fe.call("GET", "/api/auth/discounts/active", token=token)).status == 200

    committed = await fe.call("POST", "/api/auth/batch_redemptions", json=receipt, token=token)
    assert committed.status == 200, committed
    assert committed.body["redemption_ref"] == ref
    assert all(isinstance(s["redemption_id"], int) for s in committed.body["success"])
    spent = await fe.balance(token)
    assert spent["rewards"] == []
    assert spent["points_balance"] == 30  # 80 - 50 for the drink
    closed = await fe.call("GET", "/api/auth/discounts/active", token=token)
    assert closed.status == 404  # a committed basket is closed

    void = await fe.call("DELETE", f"/api/auth/batch_redemptions/{ref}", token=token)
    assert void.status == 202, void
    assert await fe.balance(token) == start
    redemptions = (await admin.user(start["user_id"]))["redemptions"]
    assert len(redemptions) == 2
    assert all(r["voided_at"] is not None for r in redemptions)
    again = await fe.call("DELETE", f"/api/auth/batch_redemptions/{ref}", token=token)
    assert again.status == 422
