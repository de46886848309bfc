"""Workflow 7: Redemptions 2.0, the discount basket and batch redemptions."""

from __future__ import annotations

from typing import Any

from tests.sandbox.conftest import Punchh

LINE_ITEMS = [
    {
        "item_name": "coffee",
        "item_qty": 1,
        "amount": 4,
        "item_type": "M",
        "item_id": 330,
        "item_family": "10",
        "item_group": "gp",
        "serial_number": "1.0",
    },
    {
        "item_name": "pizza",
        "item_qty": 1,
        "amount": 20,
        "item_type": "M",
        "item_id": 331,
        "item_family": "10",
        "item_group": "gp",
        "serial_number": "2.0",
    },
]


def _order(**extra: Any) -> dict[str, Any]:
    return {
        "receipt_amount": 24,
        "subtotal_amount": 24,
        "receipt_datetime": "2025-01-02T12:00:00Z",
        "line_items": LINE_ITEMS,
        **extra,
    }


async def _guest(punchh: Punchh, email: str, amount: float = 130) -> tuple[str, int]:
    token = (await punchh.sign_up(email))["access_token"]
    await punchh.checkin(token, f"{email}-earn", amount)
    return token, (await punchh.balance(token))["rewards"][0]["id"]


async def _select(punchh: Punchh, token: str, *items: dict[str, Any]) -> Any:
    return await punchh.call(
        "POST",
        "/api/auth/discounts/select",
        {"discount_basket_items_attributes": list(items)},
        token=token,
    )


async def test_select_active_unselect(punchh: Punchh) -> None:
    token, reward_id = await _guest(punchh, "b@example.com")
    assert (await punchh.call("GET", "/api/auth/discounts/active", token=token)).status == 404
    reply = await _select(
        punchh,
        token,
        {"discount_type": "reward", "discount_id": reward_id},
        {"discount_type": "discount_amount", "discount_value": 2},
    )
    assert reply.status == 200
    basket = reply.body
    assert set(basket) == {"redemption_ref", "locked", "created_at", "discount_basket_items"}
    items = basket["discount_basket_items"]
    assert [(i["discount_type"], i["discount_id"]) for i in items] == [
        ("reward", str(reward_id)),
        ("discount_amount", None),
    ]
    assert items[0]["discount_details"]["base_amount"] == 10.0
    active = await punchh.call("GET", "/api/auth/discounts/active", token=token)
    assert active.body == basket
    dup = await _select(punchh, token, {"discount_type": "reward", "discount_id": reward_id})
    assert dup.status == 422
    item_id = items[1]["discount_basket_item_id"]
    after = await punchh.call(
        "DELETE",
        "/api/auth/discounts/unselect",
        {"discount_basket_item_ids": [item_id]},
        token=token,
    )
    assert [i["discount_type"] for i in after.body["discount_basket_items"]] == ["reward"]
    again = await punchh.call(
        "DELETE",
        "/api/auth/discounts/unselect",
        {"discount_basket_item_ids": [item_id]},
        token=token,
    )
    assert again.status == 422


async def test_select_is_all_or_nothing(punchh: Punchh) -> None:
    token, reward_id = await _guest(punchh, "all@example.com")
    reply = await _select(
        punchh,
        token,
        {"discount_type": "reward", "discount_id": reward_id},
        {"discount_type": "reward", "discount_id": 1},
    )
    assert reply.status == 422
    assert (await punchh.call("GET", "/api/auth/discounts/active", token=token)).status == 404
    assert (await _select(punchh, token)).status == 400


async def test_batch_query_confirms_and_changes_nothing_then_commit_consumes(
    punchh: Punchh,
) -> None:
    token, reward_id = await _guest(punchh, "c@example.com")  # 30 points left
    await _select(
        punchh,
        token,
        {"discount_type": "reward", "discount_id": reward_id},
        {"discount_type": "discount_amount", "discount_value": 2},
    )
    before = await punchh.balance(token)
    query = await punchh.call(
        "POST", "/api/auth/batch_redemptions", _order(query=True), token=token
    )
    assert query.status == 200
    assert [s["discount_amount"] for s in query.body["success"]] == [10.0, 2.0]
    assert query.body["failures"] == []
    assert all(s["redemption_id"] is None for s in query.body["success"])
    assert await punchh.balance(token) == before
    commit = await punchh.call(
        "POST", "/api/auth/batch_redemptions", _order(external_uid="o-1"), token=token
    )
    assert commit.status == 200
    assert commit.body["redemption_ref"] == query.body["redemption_ref"]
    assert all(isinstance(s["redemption_id"], int) for s in commit.body["success"])
    assert commit.body["success"][0]["qualified_items"][0]["item_type"] == "R"
    after = await punchh.balance(token)
    assert (after["rewards"], after["points_balance"]) == ([], 10)
    # Retried commit with the same external_uid: the same answer, nothing consumed twice.
    retry = await punchh.call(
        "POST", "/api/auth/batch_redemptions", _order(external_uid="o-1"), token=token
    )
    assert retry.body == commit.body
    assert (await punchh.balance(token))["points_balance"] == 10
    # The basket is closed.
    assert (await punchh.call("GET", "/api/auth/discounts/active", token=token)).status == 404


async def test_failures_come_back_with_200(punchh: Punchh) -> None:
    token, reward_id = await _guest(punchh, "f@example.com")  # 30 points left
    await _select(
        punchh,
        token,
        {"discount_type": "reward", "discount_id": reward_id},
        {"discount_type": "redeemable", "discount_id": 101},
    )
    reply = await punchh.call(
        "POST", "/api/auth/batch_redemptions", _order(receipt_amount=8), token=token
    )
    assert reply.status == 200
    assert [s["discount_type"] for s in reply.body["success"]] == ["reward"]
    assert reply.body["success"][0]["discount_amount"] == 8.0
    failure = reply.body["failures"][0]
    assert (failure["discount_type"], failure["qualified"]) == ("redeemable", False)
    assert failure["message"]
    # The redeemable failed: its 50 points were not spent.
    assert (await punchh.balance(token))["points_balance"] == 30


async def test_void_batch_restores_unless_checked_in(punchh: Punchh) -> None:
    token, reward_id = await _guest(punchh, "v@example.com")
    await _select(punchh, token, {"discount_type": "reward", "discount_id": reward_id})
    commit = await punchh.call(
        "POST", "/api/auth/batch_redemptions", _order(external_uid="ord-5"), token=token
    )
    ref = commit.body["redemption_ref"]
    void = await punchh.call("DELETE", f"/api/auth/batch_redemptions/{ref}", {}, token=token)
    assert void.status == 202
    assert [r["id"] for r in (await punchh.balance(token))["rewards"]] == [reward_id]
    assert (
        await punchh.call("DELETE", f"/api/auth/batch_redemptions/{ref}", {}, token=token)
    ).status == 422
    # Commit again, check the order in, then a void is too late.
    await _select(punchh, token, {"discount_type": "reward", "discount_id": reward_id})
    commit = await punchh.call(
        "POST", "/api/auth/batch_redemptions", _order(external_uid="ord-6"), token=token
    )
    await punchh.checkin(token, "ord-6", 24)
    late = await punchh.call(
        "DELETE", f"/api/auth/batch_redemptions/{commit.body['redemption_ref']}", {}, token=token
    )
    assert late.status == 410
    assert late.body["error"]["code"] == "commited"


async def test_batch_input_errors(punchh: Punchh) -> None:
    token, _ = await _guest(punchh, "e@example.com")
    no_items = await punchh.call(
        "POST", "/api/auth/batch_redemptions", _order(line_items=[]), token=token
    )
    assert (no_items.status, no_items.body["error"]) == (
        400,
        "Required parameter missing or the value is empty: line_items",
    )
    bad_item = [{**LINE_ITEMS[0], "item_qty": None}]
    reply = await punchh.call(
        "POST", "/api/auth/batch_redemptions", _order(line_items=bad_item), token=token
    )
    assert reply.body["error"].endswith("item_qty_0")
    no_basket = await punchh.call("POST", "/api/auth/batch_redemptions", _order(), token=token)
    assert no_basket.status == 422
