"""Workflow 6 (seed 004): Redemptions 1.0, query vs process, categories, voids, dedupe."""

from __future__ import annotations

from typing import Any

import pytest

from tests.sandbox.conftest import ManualClock, Punchh

PATH = "/api/auth/redemptions/online_order"
KEYS = {
    "status",
    "redemption_amount",
    "category",
    "qualified_menu_items",
    "redemption_id",
    "redemption_code",
    "max_applicable_quantity",
    "campaign_name",
    "qualifying_conditions",
}
ITEM = {
    "item_name": "Pizza",
    "item_qty": 1,
    "item_amount": 25,
    "menu_item_type": "M",
    "menu_item_id": 1,
}


async def _guest_with_reward(punchh: Punchh, email: str) -> tuple[str, int]:
    token = (await punchh.sign_up(email))["access_token"]
    await punchh.checkin(token, f"{email}-earn", 130)  # one $10 reward, 30 points left
    reward_id = (await punchh.balance(token))["rewards"][0]["id"]
    return token, reward_id


def _reward(reward_id: int, **extra: Any) -> dict[str, Any]:
    return {
        "discount_type": "reward",
        "reward_id": reward_id,
        "receipt_amount": 25,
        "menu_items": [ITEM],
        **extra,
    }


async def test_query_reports_and_changes_nothing(punchh: Punchh) -> None:
    token, reward_id = await _guest_with_reward(punchh, "q@example.com")
    before = await punchh.balance(token)
    reply = await punchh.call("POST", PATH, _reward(reward_id, query=True), token=token)
    assert reply.status == 200
    assert set(reply.body) == KEYS
    assert (reply.body["category"], reply.body["redemption_amount"]) == ("redeemable", 10)
    assert isinstance(reply.body["redemption_amount"], int)  # seed 004: integer
    # Not a Price Rollback offer: no quantity cap; qualified: no failed conditions.
    assert reply.body["max_applicable_quantity"] is None
    assert reply.body["qualifying_conditions"] == {}
    assert (reply.body["redemption_id"], reply.body["redemption_code"]) == (None, None)
    assert reply.body["qualified_menu_items"] == [ITEM]
    assert await punchh.balance(token) == before


async def test_process_consumes_then_processed_then_void_restores(punchh: Punchh) -> None:
    token, reward_id = await _guest_with_reward(punchh, "p@example.com")
    reply = await punchh.call("POST", PATH, _reward(reward_id), token=token)
    assert reply.body["category"] == "redeemable"
    assert reply.body["status"] == "Please HONOR it."
    assert isinstance(reply.body["redemption_id"], int)
    assert reply.body["redemption_code"]
    assert (await punchh.balance(token))["rewards"] == []
    again = await punchh.call("POST", PATH, _reward(reward_id), token=token)
    assert (again.body["category"], again.body["redemption_id"]) == ("processed", None)
    void = await punchh.call(
        "DELETE",
        "/api/auth/redemptions",
        {"redemption_id": reply.body["redemption_id"]},
        token=token,
    )
    assert void.status == 202
    assert [r["id"] for r in (await punchh.balance(token))["rewards"]] == [reward_id]
    by_code = await punchh.call(
        "DELETE",
        "/api/auth/redemptions",
        {"redemption_code": reply.body["redemption_code"]},
        token=token,
    )
    assert by_code.status == 422  # already voided


async def test_same_external_uid_redeems_once(punchh: Punchh) -> None:
    token, reward_id = await _guest_with_reward(punchh, "d@example.com")
    first = await punchh.call("POST", PATH, _reward(reward_id, external_uid="ord-9"), token=token)
    second = await punchh.call("POST", PATH, _reward(reward_id, external_uid="ord-9"), token=token)
    assert second.body == first.body
    other_uid = await punchh.call(
        "POST", PATH, _reward(reward_id, external_uid="ord-10"), token=token
    )
    assert other_uid.body["category"] == "processed"


async def test_someone_elses_or_unknown_reward(punchh: Punchh) -> None:
    _, theirs = await _guest_with_reward(punchh, "owner@example.com")
    mine = (await punchh.sign_up("thief@example.com"))["access_token"]
    stolen = await punchh.call("POST", PATH, _reward(theirs), token=mine)
    assert stolen.body["category"] == "unassigned"
    unknown = await punchh.call("POST", PATH, _reward(999999), token=mine)
    assert unknown.body["category"] == "invalid"


async def test_expired_reward(punchh: Punchh, clock: ManualClock) -> None:
    me = await punchh.sign_up("exp@example.com")
    gift = await punchh.sandbox(
        "POST", f"users/{me['id']}/rewards", {"discount_amount": 4, "expires_in": 60}
    )
    assert gift.status == 201
    clock.advance(61)
    reply = await punchh.call("POST", PATH, _reward(gift.body["id"]), token=me["access_token"])
    assert reply.body["category"] == "expired"


async def test_discount_amount_spends_points_as_currency(punchh: Punchh) -> None:
    token = (await punchh.sign_up("cash@example.com"))["access_token"]
    await punchh.checkin(token, "earn", 60)  # 60 points = $6 at 10 points per dollar
    body = {"discount_type": "discount_amount", "discount_amount": 3, "receipt_amount": 20}
    reply = await punchh.call("POST", PATH, body, token=token)
    assert (reply.body["category"], reply.body["redemption_amount"]) == ("redeemable", 3)
    assert (await punchh.balance(token))["points_balance"] == 30
    too_much = {**body, "discount_amount": 4}
    reply = await punchh.call("POST", PATH, too_much, token=token)
    assert reply.body["category"] == "invalid"
    assert (await punchh.balance(token))["points_balance"] == 30


async def test_redemption_amount_is_a_whole_number(punchh: Punchh) -> None:
    """Seed 004 types redemption_amount as an integer: $2.50 asked is $2 given, and paid."""
    token = (await punchh.sign_up("whole@example.com"))["access_token"]
    await punchh.checkin(token, "earn", 60)  # 60 points = $6 at 10 points per dollar
    body = {"discount_type": "discount_amount", "discount_amount": 2.5, "receipt_amount": 20}
    reply = await punchh.call("POST", PATH, body, token=token)
    assert (reply.body["category"], reply.body["redemption_amount"]) == ("redeemable", 2)
    assert isinstance(reply.body["redemption_amount"], int)
    assert (await punchh.balance(token))["points_balance"] == 40
    # Capped by a receipt of $1.80: $1; under a dollar nothing qualifies.
    capped = {**body, "receipt_amount": 1.8}
    assert (await punchh.call("POST", PATH, capped, token=token)).body["redemption_amount"] == 1
    tiny = {**body, "discount_amount": 0.5}
    reply = await punchh.call("POST", PATH, tiny, token=token)
    assert (reply.body["category"], reply.body["redemption_amount"]) == ("invalid", 0)
    assert (await punchh.balance(token))["points_balance"] == 30


async def test_redeemable_and_promo_code(punchh: Punchh) -> None:
    token = (await punchh.sign_up("cat@example.com"))["access_token"]
    await punchh.checkin(token, "earn", 55)
    drink = {"discount_type": "redeemable", "redeemable_id": 101, "receipt_amount": 2}
    reply = await punchh.call("POST", PATH, drink, token=token)
    assert (reply.body["category"], reply.body["redemption_amount"]) == (
        "redeemable",
        2.0,
    )  # capped
    assert (await punchh.balance(token))["points_balance"] == 5
    promo = {
        "discount_type": "redemption_code",
        "redemption_code": "welcome5",
        "receipt_amount": 20,
    }
    assert (await punchh.call("POST", PATH, promo, token=token)).body["category"] == "redeemable"
    assert (await punchh.call("POST", PATH, promo, token=token)).body["category"] == "processed"
    bad = {**promo, "redemption_code": "NOPE"}
    assert (await punchh.call("POST", PATH, bad, token=token)).body["category"] == "invalid"


@pytest.mark.parametrize("kind", ["card_completion", "subscription"])
async def test_types_not_enabled_are_invalid(punchh: Punchh, kind: str) -> None:
    token = (await punchh.sign_up("ne@example.com"))["access_token"]
    reply = await punchh.call(
        "POST", PATH, {"discount_type": kind, "receipt_amount": 5}, token=token
    )
    assert reply.status == 200
    assert reply.body["category"] == "invalid"
    assert "not enabled" in reply.body["status"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"receipt_amount": 5}, "discount_type"),
        ({"discount_type": "coupon", "receipt_amount": 5}, "discount_type"),
        ({"discount_type": "reward"}, "reward_id"),
        ({"discount_type": "reward", "reward_id": 1}, "receipt_amount"),
        # Seeds 002 and 004: online_order, pos, web, mobile, dashboard, chatbot, kiosk only.
        (
            {"discount_type": "reward", "reward_id": 1, "receipt_amount": 5, "channel": "fax"},
            "channel",
        ),
    ],
)
async def test_bad_requests_are_422(punchh: Punchh, body: dict[str, Any], field: str) -> None:
    token = (await punchh.sign_up("v@example.com"))["access_token"]
    reply = await punchh.call("POST", PATH, body, token=token)
    assert reply.status == 422
    assert field in reply.body["errors"]
