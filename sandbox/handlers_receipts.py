"""Receipts from the POS and check-ins by their barcode (seed 003, item 7b; ``receipts.py``).

POST /receipt_details               POS family (location + business key, no signature):
                                    200 {}; 400 {"error": "Required parameter missing or the
                                    value is empty: <name>"} or an amount that is no number
POST /api2/mobile/checkins/barcode  mobile (SHA256, Bearer, ``punchh-app-device-id``): 200
                                    the check-in; 400 {"errors": {"missing_required_param":
                                    [...]}}; 422 {"errors": {"base": [...]}} unknown, voided
                                    or used barcode

Required by ``/receipt_details`` (Punchh's POS reference, "Store Receipt Details From POS"):
``transaction_no``, ``amount``, ``receipt_datetime``, ``payable``, ``subtotal_amount``,
``menu_items``, ``punchh_key`` (digits: 11, 12 or 20 of them), ``pos_type``,
``pos_version``. Optional: ``sequence_no``, ``status`` (``void`` voids the receipt),
``receipt_amount``, ``channel``, ``cc_last4`` and the rest.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from sandbox import receipts
from sandbox.auth import current_user
from sandbox.context import STORE_KEY, ctx, json_response
from sandbox.errors import BadRequest, SandboxError
from sandbox.handlers_mobile import require_device
from sandbox.state import Receipt
from sandbox.validation import as_amount, blank
from sandbox.views import iso

routes = web.RouteTableDef()

REQUIRED = (
    "transaction_no",
    "amount",
    "receipt_datetime",
    "payable",
    "subtotal_amount",
    "menu_items",
    "punchh_key",
    "pos_type",
    "pos_version",
)
_KEY_LENGTHS = (11, 12, 20)


class MissingParam(SandboxError):
    """The mobile family's 400 for a missing parameter (Punchh's mobile reference)."""

    status = 400

    def __init__(self, name: str) -> None:
        message = f"Required parameter missing or the value is empty: {name}"
        super().__init__({"errors": {"missing_required_param": [message]}})


def _missing(body: dict[str, Any]) -> str | None:
    return next((name for name in REQUIRED if blank(body.get(name))), None)


def _amount(body: dict[str, Any], name: str) -> float:
    value = as_amount(body.get(name))
    if value is None or value < 0:
        raise BadRequest(f"Invalid parameter: {name}")
    return value


@routes.post("/receipt_details")
async def receipt_details(request: web.Request) -> web.Response:
    c = ctx(request)
    body = c.body
    missing = _missing(body)
    if missing is not None:
        raise BadRequest(f"Required parameter missing or the value is empty: {missing}")
    key = str(body["punchh_key"]).strip()
    if not key.isdigit() or len(key) not in _KEY_LENGTHS:
        raise BadRequest("Invalid parameter: punchh_key")
    if not isinstance(body["menu_items"], list):
        raise BadRequest("Invalid parameter: menu_items")
    amount = _amount(body, "amount")
    payable = _amount(body, "payable")
    _amount(body, "subtotal_amount")
    receipts.store(
        c.state,
        Receipt(
            punchh_key=key,
            store_number=request[STORE_KEY],
            amount=amount,
            receipt_datetime=str(body["receipt_datetime"]),
            transaction_no=str(body["transaction_no"]),
            payable=payable,
            received_at=c.now,
            void=str(body.get("status", "")).strip().lower() == "void",
        ),
    )
    return json_response({})


@routes.post("/api2/mobile/checkins/barcode")
async def checkin_by_barcode(request: web.Request) -> web.Response:
    c = ctx(request)
    user, _ = current_user(request, c)
    require_device(request, {})
    code = c.body.get("bar_code")
    if isinstance(code, bool) or not isinstance(code, str | int) or blank(code):
        raise MissingParam("bar_code")
    first = user.visits == 0
    checkin = receipts.earn(c.state, c.cfg, user, str(code), c.now)
    return json_response(
        {
            "checkin_id": checkin.id,
            "created_at": iso(checkin.created_at),
            "points_earned": checkin.points,
            "store_number": checkin.store_number or "",
            "location_id": None,
            "pending_refresh": False,
            "first_checkin": first,
            "current_membership_level": None,
            "survey_url": None,
            "expiring_on": None,
        }
    )
