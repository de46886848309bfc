"""Workflow 5 (seed 002): online-order check-ins, dedupe, voids, rewards, the ledger."""

from __future__ import annotations

from typing import Any

import pytest

from tests.sandbox.conftest import Punchh

MENU_ITEM = {
    "item_name": "Pizza",
    "item_qty": 1,
    "item_amount": 42.5,
    "menu_item_type": "M",
    "menu_item_id": 3419,
    "menu_family": "800",
    "menu_major_group": "152",
    "serial_number": "1.0",
}


async def test_checkin_earns_points_once_per_external_uid(punchh: Punchh) -> None:
    me = await punchh.sign_up("eat@example.com")
    token = me["access_token"]
    first = await punchh.checkin(token, "order-1", 42.99)
    assert first.status == 200
    assert first.body["first_name"] == "Ada"
    assert (first.body["checkins"], first.body["points"]) == (1, 42)
    checkin = first.body["checkin"]
    assert {
        "checkin_id",
        "external_uid",
        "points_earned",
        "pending_points",
        "bar_code",
        "created_at",
    } <= set(checkin)
    assert (checkin["external_uid"], checkin["points_earned"]) == ("order-1", 42)
    again = await punchh.checkin(token, "order-1", 42.99)
    assert again.status == 200
    assert again.body["checkin"] == checkin
    balance = await punchh.balance(token)
    assert (balance["points_balance"], balance["visits"]) == (42, 1)
    ledger = (await punchh.sandbox("GET", "ledger")).body["checkins"]
    assert [(e["external_uid"], e["points"], e["voided"]) for e in ledger] == [
        ("order-1", 42, False)
    ]


async def test_points_convert_into_rewards(punchh: Punchh) -> None:
    token = (await punchh.sign_up("many@example.com"))["access_token"]
    await punchh.checkin(token, "a", 60)
    await punchh.checkin(token, "b", 150.75)
    balance = await punchh.balance(token)
    # 60 + 150 = 210 points: two $10 rewards, 10 points left.
    assert balance["points_balance"] == 10
    assert balance["lifetime_points"] == 210
    assert balance["visits"] == 2
    assert balance["points_to_next_reward"] == 90
    assert [(r["name"], r["discount_amount"], r["status"]) for r in balance["rewards"]] == [
        ("$10 Off", 10.0, "unredeemed"),
        ("$10 Off", 10.0, "unredeemed"),
    ]
    assert len({r["id"] for r in balance["rewards"]}) == 2
    assert balance["banked_rewards"] == "20.00"
    users_balance = await punchh.call("GET", "/api/auth/users/balance", token=token)
    assert users_balance.body == balance


async def test_void_takes_the_points_back(punchh: Punchh) -> None:
    token = (await punchh.sign_up("void@example.com"))["access_token"]
    await punchh.checkin(token, "keep", 30)
    await punchh.checkin(token, "undo", 25)
    reply = await punchh.call("DELETE", "/api/auth/checkins", {"external_uid": "undo"}, token=token)
    assert (reply.status, reply.body) == (202, None)
    balance = await punchh.balance(token)
    assert (balance["points_balance"], balance["visits"]) == (30, 1)
    ledger = (await punchh.sandbox("GET", "ledger")).body["checkins"]
    assert [(e["external_uid"], e["voided"]) for e in ledger] == [("keep", False), ("undo", True)]
    twice = await punchh.call("DELETE", "/api/auth/checkins", {"external_uid": "undo"}, token=token)
    assert twice.status == 422
    unknown = await punchh.call(
        "DELETE", "/api/auth/checkins", {"external_uid": "nope"}, token=token
    )
    assert unknown.status == 404
    replay = await punchh.checkin(token, "undo", 25)
    assert replay.status == 422
    assert (await punchh.balance(token))["points_balance"] == 30


async def test_void_after_conversion_leaves_a_debt(punchh: Punchh) -> None:
    token = (await punchh.sign_up("debt@example.com"))["access_token"]
    await punchh.checkin(token, "big", 120)
    await punchh.call("DELETE", "/api/auth/checkins", {"external_uid": "big"}, token=token)
    balance = await punchh.balance(token)
    assert balance["points_balance"] == -100
    assert len(balance["rewards"]) == 1


def _valid_checkin(change: dict[str, Any]) -> dict[str, Any]:
    body = {
        "external_uid": "x1",
        "receipt_amount": 10,
        "receipt_datetime": "2025-01-02T12:00:00Z",
        "payable": "10.80",
        "channel": "online_order",
        "menu_items": [MENU_ITEM],
    }
    body.update(change)
    return {k: v for k, v in body.items() if v is not None}


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"menu_items": [{**MENU_ITEM, "item_amount": -3}]}, "menu_items"),
        ({"receipt_amount": -1}, "receipt_amount"),
    ],
)
async def test_checkin_invalid_values_are_422_per_field(
    punchh: Punchh, change: dict[str, Any], field: str
) -> None:
    token = (await punchh.sign_up("bad@example.com"))["access_token"]
    body = _valid_checkin(change)
    reply = await punchh.call("POST", "/api/auth/checkins/online_order", body, token=token)
    assert reply.status == 422
    assert field in reply.body["errors"]
    assert (await punchh.balance(token))["points_balance"] == 0


@pytest.mark.parametrize(
    ("change", "field"),
    [
        # Seed 002: 400 is "Sending missing/incorrect params".
        ({"external_uid": None}, "external_uid"),
        ({"receipt_amount": None}, "receipt_amount"),
        ({"receipt_datetime": None}, "receipt_datetime"),
        ({"payable": None}, "payable"),
        ({"receipt_amount": "ten"}, "receipt_amount"),
        # "Requires menu items".
        ({"menu_items": None}, "menu_items"),
        ({"menu_items": []}, "menu_items"),
        ({"menu_items": {"item_name": "x"}}, "menu_items"),
        # YYYY-MM-DDThh:mm:ssZ: a date alone, another layout, no zone are refused.
        ({"receipt_datetime": "2025-01-02"}, "receipt_datetime"),
        ({"receipt_datetime": "02/01/2025"}, "receipt_datetime"),
        ({"receipt_datetime": "2025-01-02T12:00"}, "receipt_datetime"),
        # channel: online_order, pos, web, mobile, dashboard, chatbot, kiosk (seeds 002, 004).
        ({"channel": "phone"}, "channel"),
        ({"channel": "Online_Order"}, "channel"),
        ({"channel": 3}, "channel"),
    ],
)
async def test_checkin_missing_or_malformed_params_are_400(
    punchh: Punchh, change: dict[str, Any], field: str
) -> None:
    token = (await punchh.sign_up("bad@example.com"))["access_token"]
    body = _valid_checkin(change)
    reply = await punchh.call("POST", "/api/auth/checkins/online_order", body, token=token)
    assert reply.status == 400
    assert set(reply.body) == {"error"}
    assert field in reply.body["error"]
    assert (await punchh.balance(token))["points_balance"] == 0


@pytest.mark.parametrize("channel", ["online_order", "pos", "web", "mobile", "kiosk", None])
async def test_checkin_accepts_each_listed_channel(punchh: Punchh, channel: str | None) -> None:
    token = (await punchh.sign_up("ch@example.com"))["access_token"]
    body = _valid_checkin({"channel": channel, "receipt_datetime": "2025-01-02T12:00:00.250Z"})
    reply = await punchh.call("POST", "/api/auth/checkins/online_order", body, token=token)
    assert reply.status == 200, reply.body
    ledger = (await punchh.sandbox("GET", "ledger")).body["checkins"]
    assert [e["channel"] for e in ledger] == [channel or "online_order"]


async def test_checkin_needs_a_user(punchh: Punchh) -> None:
    reply = await punchh.call("POST", "/api/auth/checkins/online_order", {"external_uid": "z"})
    assert reply.status == 401
