"""Workflows 8-9 (seeds 003, 000): the POS family and the dummy-account merge."""

from __future__ import annotations

from typing import Any

from sandbox.state import SandboxState
from tests.sandbox.conftest import STORE, Punchh

PHONE = "5550104242"


def _receipt(uid: str, amount: float, **extra: Any) -> dict[str, Any]:
    return {
        "external_uid": uid,
        "receipt_amount": amount,
        "subtotal_amount": amount,
        "receipt_datetime": "2025-01-02T12:00:00Z",
        "transaction_no": uid,
        **extra,
    }


async def test_pos_workflow_look_up_redeem_check_in(punchh: Punchh) -> None:
    me = await punchh.sign_up("pos@example.com", phone=PHONE)
    await punchh.checkin(me["access_token"], "online", 110)  # one reward, 10 points
    found = await punchh.call("GET", "/api/pos/users/search", query={"phone": PHONE})
    assert found.status == 200
    assert found.body["id"] == me["id"]
    assert found.body["balance"]["points_balance"] == 10
    reward_id = found.body["rewards"][0]["id"]
    by_qr = await punchh.call(
        "GET", "/api/pos/users/search", query={"user_as_qrcode": me["user_as_qrcode"]}
    )
    assert by_qr.body["id"] == me["id"]
    by_card = await punchh.call(
        "GET", "/api/pos/users/search", query={"card_number": found.body["user_as_barcode"]}
    )
    assert by_card.body["id"] == me["id"]
    redeem = {
        "phone": PHONE,
        "discount_type": "reward",
        "reward_id": reward_id,
        "receipt_amount": 30,
    }
    possible = await punchh.call("POST", "/api/pos/redemptions/possible", redeem)
    assert (possible.body["category"], possible.body["redemption_id"]) == ("redeemable", None)
    done = await punchh.call("POST", "/api/pos/redemptions", redeem)
    assert done.body["category"] == "redeemable"
    assert done.body["redemption_id"]
    checkin = await punchh.call(
        "POST", "/api/pos/checkins", {"phone": PHONE, **_receipt("pos-1", 30)}
    )
    assert checkin.status == 200
    assert checkin.body["checkin"]["points_earned"] == 30
    assert checkin.body["checkin"]["store_number"] == STORE
    ledger = (await punchh.sandbox("GET", "ledger")).body["checkins"]
    assert [(e["channel"], e["store_number"]) for e in ledger] == [
        ("online_order", None),
        ("pos", STORE),
    ]
    repeat = await punchh.call(
        "POST", "/api/pos/checkins", {"email": "pos@example.com", **_receipt("pos-1", 30)}
    )
    assert repeat.body["checkin"] == checkin.body["checkin"]
    after = await punchh.balance(me["access_token"])
    assert (after["points_balance"], after["visits"], after["rewards"]) == (40, 2, [])


async def test_pos_lookup_errors(punchh: Punchh) -> None:
    missing = await punchh.call("GET", "/api/pos/users/search", query={"phone": "5550000000"})
    assert (missing.status, missing.body) == (404, {"error": "User not found"})
    nothing = await punchh.call("GET", "/api/pos/users/search")
    assert nothing.status == 400


async def test_pos_discounts_lookup_select_and_batch(punchh: Punchh) -> None:
    me = await punchh.sign_up("basket@example.com", phone=PHONE)
    await punchh.checkin(me["access_token"], "earn", 160)  # one reward, 60 points
    lookup = await punchh.call("POST", "/api/pos/discounts/lookup", {"phone": PHONE})
    assert lookup.body["points_balance"] == 60
    assert [r["id"] for r in lookup.body["redeemables"]] == [101]  # 80-point item unaffordable
    reward_id = lookup.body["rewards"][0]["id"]
    select = {
        "phone": PHONE,
        "discount_basket_items_attributes": [{"discount_type": "reward", "discount_id": reward_id}],
    }
    assert (await punchh.call("POST", "/api/pos/discounts/select", select)).status == 200
    line = {"item_name": "pizza", "item_qty": 1, "amount": 20, "item_type": "M", "item_id": 1}
    order = {"phone": PHONE, "receipt_amount": 20, "line_items": [line]}
    query = await punchh.call("POST", "/api/pos/batch_redemptions", {**order, "query": True})
    assert query.body["success"][0]["redemption_id"] is None
    commit = await punchh.call("POST", "/api/pos/batch_redemptions", order)
    assert commit.body["success"][0]["discount_amount"] == 10.0
    assert (await punchh.balance(me["access_token"]))["rewards"] == []


async def test_dummy_account_merges_into_the_online_sign_up(
    punchh: Punchh, state: SandboxState
) -> None:
    dummy = await punchh.call("POST", "/api/pos/users", {"user": {"phone": "555-010-4242"}})
    assert dummy.status == 201
    dummy_id = dummy.body["id"]
    assert state.users[dummy_id].dummy
    for uid, amount in (("visit-1", 12.5), ("visit-2", 30)):
        reply = await punchh.call(
            "POST", "/api/pos/checkins", {"phone": PHONE, **_receipt(uid, amount)}
        )
        assert reply.status == 200
    # The dummy cannot sign in: it has no email or password.
    taken = await punchh.call("POST", "/api/pos/users", {"user": {"phone": PHONE}})
    assert taken.status == 422
    full = await punchh.sign_up("merged@example.com", phone=PHONE)
    assert full["id"] == dummy_id
    assert len(state.users) == 1
    balance = await punchh.balance(full["access_token"])
    assert (balance["points_balance"], balance["visits"]) == (42, 2)
    state_view = (await punchh.sandbox("GET", f"users/{dummy_id}")).body
    assert state_view["dummy"] is False
    assert state_view["user"]["email"] == "merged@example.com"
    again = await punchh.call(
        "POST",
        "/api/auth/customers.json",
        {
            "user": {
                "email": "x@example.com",
                "password": "password123",
                "phone": PHONE,
                "first_name": "Xu",
                "last_name": "Xi",
            }
        },
    )
    assert again.status == 422
    assert again.body["errors"] == {"phone": ["has already been taken"]}


async def test_sandbox_user_view_and_unknown_user(punchh: Punchh) -> None:
    me = await punchh.sign_up("view@example.com")
    await punchh.checkin(me["access_token"], "v1", 101)
    view = await punchh.sandbox("GET", f"users/{me['id']}")
    assert view.status == 200
    assert view.body["balance"]["points_balance"] == 1
    assert view.body["balance"]["visits"] == 1
    assert [r["status"] for r in view.body["rewards"]] == ["unredeemed"]
    assert (await punchh.sandbox("GET", "users/424242")).status == 404
