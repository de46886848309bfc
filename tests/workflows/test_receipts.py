"""Seed 003, item 7b: a receipt stored by the POS, earned later by its barcode.

The guest has no loyalty account at the register; the POS stores the receipt
(`POST /receipt_details`, device key in, `Token token=..., btoken=...` up). The guest then
signs up on the web, signs in on the app and scans the receipt's barcode
(`POST /api2/mobile/checkins/barcode`): the receipt's points, once."""

from __future__ import annotations

from typing import Any

import pytest

from sandbox.state import SandboxState
from tests.support.clock import ManualClock
from tests.workflows.support import PASSWORD, RECEIPT_AT, STORE_NUMBER, Frontend, SandboxAdmin

pytestmark = pytest.mark.asyncio

KEY = "012345678905"  # the Punchh key the POS printed (EAN-13 without its check digit)
DEVICE = {"punchh-app-device-id": "device-7f3a"}
MENU = [
    {"item_name": "Burger", "item_qty": 1, "item_amount": 18.5, "menu_item_type": "M",
     "menu_item_id": "1015", "menu_family": "52", "menu_major_group": "52", "serial_number": "1.0"}
]  # fmt: skip


def receipt(key: str = KEY, amount: float = 18.5, **extra: Any) -> dict[str, Any]:
    return {
        "amount": amount,
        "receipt_amount": amount,
        "subtotal_amount": amount,
        "payable": round(amount * 1.08, 2),
        "receipt_datetime": RECEIPT_AT,
        "transaction_no": "20095",
        "punchh_key": key,
        "menu_items": MENU,
        "pos_type": "Aloha",
        "pos_version": "V03",
        "sequence_no": "1",
        "channel": "pos",
        **extra,
    }


async def _app_sign_in(fe: Frontend, email: str) -> str:
    login = {"user": {"email": email, "password": PASSWORD}}
    answer = await fe.call("POST", "/api2/mobile/users/login", json=login, headers=DEVICE)
    assert answer.status == 200, answer
    return str(answer.body["access_token"]["token"])


async def _scan(fe: Frontend, token: str, code: Any) -> Any:
    return await fe.call(
        "POST", "/api2/mobile/checkins/barcode", json={"bar_code": code}, token=token,
        headers=DEVICE,
    )  # fmt: skip


async def test_a_stored_receipt_is_earned_once_by_its_barcode(
    fe: Frontend, admin: SandboxAdmin
) -> None:
    stored = await fe.pos("POST", "/receipt_details", json=receipt())
    assert stored.status == 200, stored
    assert stored.body == {}
    web_token, _ = await fe.sign_up("receipt@example.com")
    assert (await fe.balance(web_token))["points_balance"] == 0
    app_token = await _app_sign_in(fe, "receipt@example.com")

    earned = await _scan(fe, app_token, KEY + "0")  # scanned: the EAN-13, check digit and all
    assert earned.status == 200, earned
    assert earned.body["points_earned"] == 18
    assert earned.body["store_number"] == STORE_NUMBER  # the store of the POS device
    assert (await fe.balance(web_token))["points_balance"] == 18  # the web sees it at once
    assert (await fe.balance(app_token, "/api2/mobile/users/balance"))["points_balance"] == 18

    again = await _scan(fe, app_token, KEY)  # typed by hand: the key itself
    assert again.status == 422, again
    assert again.body == {"errors": {"base": ["You cannot use the same receipt more than once."]}}
    assert (await fe.balance(web_token))["points_balance"] == 18
    ledger = await admin.get("/__sandbox/ledger")
    assert [c["external_uid"] for c in ledger["checkins"]] == [f"receipt:{KEY}"]


async def test_unknown_voided_and_missing_barcodes(fe: Frontend) -> None:
    token, _ = await fe.sign_up("scanner@example.com")
    app = await _app_sign_in(fe, "scanner@example.com")
    unknown = await _scan(fe, app, "999999999999")
    assert unknown.status == 422
    assert unknown.body == {"errors": {"base": ["This bar code is not valid."]}}
    assert (await fe.pos("POST", "/receipt_details", json=receipt("111111111111"))).status == 200
    voided = await fe.pos("POST", "/receipt_details", json=receipt("111111111111", status="void"))
    assert voided.status == 200
    assert (await _scan(fe, app, "111111111111")).status == 422
    missing = await fe.call(
        "POST", "/api2/mobile/checkins/barcode", json={}, token=app, headers=DEVICE
    )
    assert missing.status == 400
    assert missing.body == {
        "errors": {"missing_required_param": [
            "Required parameter missing or the value is empty: bar_code"
        ]}
    }  # fmt: skip
    assert (await fe.balance(token))["points_balance"] == 0


async def test_a_receipt_sent_again_within_a_second_overwrites_it(
    fe: Frontend, state: SandboxState
) -> None:
    """Punchh: the same receipt within a second overwrites; a second or more later, it is
    stored again. The latest version is the one earned."""
    key = "412345678901"
    for amount in (10.0, 30.0):
        sent = await fe.pos("POST", "/receipt_details", json=receipt(key, amount=amount))
        assert sent.status == 200, sent
    assert [r.amount for r in state.receipts[key]] == [30.0]  # one version: overwritten
    token, _ = await fe.sign_up("twice@example.com")
    app = await _app_sign_in(fe, "twice@example.com")
    earned = await _scan(fe, app, int(key))  # Punchh documents bar_code as an integer
    assert earned.status == 200, earned
    assert earned.body["points_earned"] == 30
    assert (await fe.balance(token))["points_balance"] == 30


@pytest.mark.parametrize("missing", ["punchh_key", "amount", "menu_items", "pos_type"])
async def test_receipt_details_needs_its_parameters(fe: Frontend, missing: str) -> None:
    body = receipt()
    del body[missing]
    refused = await fe.pos("POST", "/receipt_details", json=body)
    assert refused.status == 400, refused
    assert refused.body == {"error": f"Required parameter missing or the value is empty: {missing}"}


async def test_receipt_details_is_for_pos_devices_only(fe: Frontend) -> None:
    token, _ = await fe.sign_up("guest@example.com")
    as_guest = await fe.call("POST", "/receipt_details", json=receipt(), token=token)
    assert as_guest.status == 401, as_guest
    assert as_guest.body["error"]["code"] == "invalid_device_key"


async def test_a_scanned_ean13_names_the_key_by_its_check_digit() -> None:
    from sandbox.receipts import _ean13_check_digit

    assert _ean13_check_digit("400638133393") == "1"  # EAN-13 4006381333931
    assert _ean13_check_digit(KEY) == "0"


async def test_a_receipt_sent_again_a_second_later_is_stored_again(
    fe: Frontend, state: SandboxState, clock: ManualClock
) -> None:
    key = "512345678900"
    assert (await fe.pos("POST", "/receipt_details", json=receipt(key, 12.0))).status == 200
    clock.advance(0.5)
    assert (await fe.pos("POST", "/receipt_details", json=receipt(key, 13.0))).status == 200
    assert [r.amount for r in state.receipts[key]] == [13.0]  # within a second: overwritten
    clock.advance(1.0)
    assert (await fe.pos("POST", "/receipt_details", json=receipt(key, 14.0))).status == 200
    assert [r.amount for r in state.receipts[key]] == [13.0, 14.0]  # a second later: again
    web, _ = await fe.sign_up("later@example.com")
    app = await _app_sign_in(fe, "later@example.com")
    earned = await _scan(fe, app, key)
    assert earned.body["points_earned"] == 14  # the latest version, once
    assert (await fe.balance(web))["points_balance"] == 14
    assert (await _scan(fe, app, key)).status == 422
    assert all(r.used_by is not None for r in state.receipts[key])
