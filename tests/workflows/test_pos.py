"""Seed 003 (POS / kiosk with the device key) and seed 000 (the dummy-account merge)."""

from __future__ import annotations

from typing import Any

import pytest

from sandbox.server import SandboxServer
from sandbox.state import SandboxState
from tests.conftest import GatewayFactory
from tests.workflows.support import (
    LINE_ITEMS,
    POS_HEADERS,
    RECEIPT_AT,
    STORE_NUMBER,
    Frontend,
    SandboxAdmin,
    sandbox_tokens,
)

pytestmark = pytest.mark.asyncio

PHONE = "5550107777"


def _pos_checkin(uid: str, amount: float, **who: str) -> dict[str, Any]:
    return {"external_uid": uid, "receipt_amount": amount, "receipt_datetime": RECEIPT_AT, **who}


async def test_pos_finds_a_guest_by_phone_or_email(fe: Frontend) -> None:
    token, body = await fe.sign_up("pos@example.com", phone="555-010-4242")
    await fe.checkin(token, "web-1", 33.0)
    by_phone = await fe.pos("GET", "/api/pos/users/search", params={"phone": "5550104242"})
    by_email = await fe.pos("GET", "/api/pos/users/search", params={"email": "POS@example.com"})
    for found in (by_phone, by_email):
        assert found.status == 200, found
        assert found.body["id"] == body["id"]
        assert found.body["balance"]["points_balance"] == 33
        assert found.body["balance"]["visits"] == 1
    missing = await fe.pos("GET", "/api/pos/users/search", params={"phone": "5559999999"})
    assert missing.status == 404
    assert missing.body == {"error": "User not found"}


async def test_kiosk_dummy_account_checkin_and_redemptions(
    fe: Frontend, admin: SandboxAdmin
) -> None:
    created = await fe.pos("POST", "/api/pos/users", json={"user": {"phone": PHONE}})
    assert created.status == 201, created
    user_id = created.body["id"]
    assert created.body["email"] is None
    assert created.body["phone"] == PHONE
    assert (await admin.user(user_id))["dummy"] is True
    taken = await fe.pos("POST", "/api/pos/users", json={"user": {"phone": PHONE}})
    assert taken.status == 422

    earned = await fe.pos(
        "POST", "/api/pos/checkins", json=_pos_checkin("pos-1", 120.5, phone=PHONE)
    )
    assert earned.status == 200, earned
    assert earned.body["points"] == 120
    assert earned.body["checkin"]["store_number"] == STORE_NUMBER  # the device's location
    repeat = await fe.pos(
        "POST", "/api/pos/checkins", json=_pos_checkin("pos-1", 120.5, phone=PHONE)
    )
    assert repeat.body["checkin"]["checkin_id"] == earned.body["checkin"]["checkin_id"]

    found = await fe.pos("GET", "/api/pos/users/search", params={"phone": PHONE})
    balance = found.body["balance"]
    assert (balance["points_balance"], balance["lifetime_points"], balance["visits"]) == (
        20,
        120,
        1,
    )
    (reward,) = found.body["rewards"]
    ledger = [c for c in await admin.ledger() if c["user_id"] == user_id]
    assert [(c["external_uid"], c["channel"], c["points"]) for c in ledger] == [
        ("pos-1", "pos", 120)
    ]

    redeem = {
        "phone": PHONE,
        "discount_type": "reward",
        "reward_id": reward["id"],
        "receipt_amount": 30.0,
    }
    possible = await fe.pos("POST", "/api/pos/redemptions/possible", json=redeem)
    assert possible.status == 200, possible
    assert possible.body["category"] == "redeemable"
    assert possible.body["redemption_id"] is None
    unchanged = await fe.pos("GET", "/api/pos/users/search", params={"phone": PHONE})
    assert unchanged.body["balance"] == balance

    done = await fe.pos("POST", "/api/pos/redemptions", json=redeem)
    assert done.status == 200
    assert isinstance(done.body["redemption_id"], int)
    after = await fe.pos("GET", "/api/pos/users/search", params={"phone": PHONE})
    assert after.body["rewards"] == []
    assert after.body["balance"]["points_balance"] == 20
    again = await fe.pos("POST", "/api/pos/redemptions/possible", json=redeem)
    assert again.body["category"] == "processed"


@pytest.mark.parametrize(
    "browser",
    [{"Origin": "https://shop.example.com"}, {"Sec-Fetch-Mode": "cors"}, {"Cookie": "a=b"}],
)
async def test_browsers_never_reach_pos_routes(
    fe: Frontend, admin: SandboxAdmin, state: SandboxState, browser: dict[str, str]
) -> None:
    await admin.reset_calls()
    answer = await fe.call(
        "POST",
        "/api/pos/users",
        json={"user": {"phone": PHONE}},
        headers={**POS_HEADERS, **browser},
    )
    assert answer.status == 403
    assert answer.body["error"]["code"] == "browser_forbidden"
    search = await fe.call(
        "GET", "/api/pos/users/search", params={"phone": PHONE}, headers={**POS_HEADERS, **browser}
    )
    assert search.status == 403
    assert await admin.calls() == {}
    assert state.users == {}


async def test_bad_device_key_never_reaches_punchh(fe: Frontend, admin: SandboxAdmin) -> None:
    await admin.reset_calls()
    for auth in ("Token token=not-a-device-key-at-all", "Token token=LOC-101, btoken=BIZ-KEY", ""):
        answer = await fe.call(
            "GET", "/api/pos/users/search", params={"phone": PHONE}, headers={"Authorization": auth}
        )
        assert answer.status == 401, auth
        assert answer.body["error"]["code"] == "invalid_device_key"
    assert await admin.calls() == {}


async def test_pos_routes_are_404_without_pos_config(
    sandbox: SandboxServer,
    make_gateway: GatewayFactory,
    admin: SandboxAdmin,
    state: SandboxState,
) -> None:
    plain = Frontend(await make_gateway(sandbox.url), lambda: sandbox_tokens(state))
    await admin.reset_calls()
    for method, path in (("GET", "/api/pos/users/search"), ("POST", "/api/pos/checkins")):
        answer = await plain.pos(method, path, json=None, params={"phone": PHONE})
        assert answer.status == 404, answer
        assert answer.body["error"]["code"] == "route_not_found"
    assert await admin.calls() == {}


async def test_dummy_account_merges_into_the_online_sign_up(
    fe: Frontend, admin: SandboxAdmin, state: SandboxState
) -> None:
    created = await fe.pos("POST", "/api/pos/users", json={"user": {"phone": PHONE}})
    dummy_id = created.body["id"]
    for uid, amount in (("kiosk-1", 60.0), ("kiosk-2", 55.25)):
        answer = await fe.pos(
            "POST", "/api/pos/checkins", json=_pos_checkin(uid, amount, phone=PHONE)
        )
        assert answer.status == 200, answer

    token, body = await fe.sign_up(
        "merged@example.com", phone="(555) 010-7777", first_name="Mia", last_name="Merge"
    )
    assert body["id"] == dummy_id  # the same account, completed in place
    assert body["email"] == "merged@example.com"
    assert len(state.users) == 1

    balance = await fe.balance(token)
    assert balance["user_id"] == dummy_id
    assert balance["points_balance"] == 15  # 60 + 55 = 115: one reward and 15 points
    assert balance["lifetime_points"] == 115
    assert balance["visits"] == 2
    assert [r["name"] for r in balance["rewards"]] == ["$10 Off"]
    assert await fe.balance(token, "/api/auth/users/balance") == balance
    assert (await admin.user(dummy_id))["dummy"] is False

    # The merged guest keeps earning online, on the same account.
    await fe.checkin(token, "web-after-merge", 85.0)
    after = await fe.balance(token)
    assert (after["points_balance"], after["visits"]) == (0, 3)
    assert len(after["rewards"]) == 2
    signed_in = await fe.sign_in("merged@example.com")
    assert signed_in.status == 200
    assert signed_in.body["id"] == dummy_id


async def test_kiosk_redemptions_2_0(fe: Frontend) -> None:
    await fe.pos(
        "POST", "/api/pos/users", json={"user": {"phone": PHONE, "email": "k@example.com"}}
    )
    await fe.pos("POST", "/api/pos/checkins", json=_pos_checkin("k-1", 175.0, phone=PHONE))
    looked = await fe.pos("POST", "/api/pos/discounts/lookup", json={"phone": PHONE})
    assert looked.status == 200, looked
    assert looked.body["points_balance"] == 75
    assert [r["id"] for r in looked.body["redeemables"]] == [101]  # only what 75 points buy
    (reward,) = looked.body["rewards"]

    chosen = {
        "phone": PHONE,
        "discount_basket_items_attributes": [
            {"discount_type": "reward", "discount_id": reward["id"]},
            {"discount_type": "redeemable", "discount_id": 101},
        ],
    }
    selected = await fe.pos("POST", "/api/pos/discounts/select", json=chosen)
    assert selected.status == 200, selected
    receipt = {"phone": PHONE, "receipt_amount": 40.0, "line_items": LINE_ITEMS}
    asked = await fe.pos("POST", "/api/pos/batch_redemptions", json={**receipt, "query": True})
    assert [s["discount_amount"] for s in asked.body["success"]] == [10.0, 3.0]
    unchanged = await fe.pos("POST", "/api/pos/discounts/lookup", json={"phone": PHONE})
    assert unchanged.body == looked.body
    done = await fe.pos("POST", "/api/pos/batch_redemptions", json=receipt)
    assert done.status == 200
    assert len(done.body["success"]) == 2
    after = await fe.pos("POST", "/api/pos/discounts/lookup", json={"phone": PHONE})
    assert (after.body["points_balance"], after.body["rewards"]) == (25, [])
