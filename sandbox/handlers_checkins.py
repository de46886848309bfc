"""Online-order check-ins and balances (``/api/auth``, user auth), seed 002.

POST   /api/auth/checkins/online_order  200 {first_name, last_name, checkins, points,
                                        checkin{...}}; the same external_uid again: the
                                        same check-in, earned once; 400 {"error"} for a
                                        missing or malformed parameter (menu_items and a
                                        listed channel included), 422 per invalid value
DELETE /api/auth/checkins               202 (empty body): points and visit taken back;
                                        404 unknown external_uid; 422 already voided
GET    /api/auth/checkins/balance       200 balance (``views.balance_json``)
GET    /api/auth/users/balance          200 balance, same shape
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from sandbox import ledger
from sandbox.auth import current_user
from sandbox.context import Ctx, ctx, json_response
from sandbox.errors import BadRequest, Unprocessable
from sandbox.state import User
from sandbox.validation import (
    as_amount,
    bad_params_message,
    blank,
    checkin_errors,
    online_checkin_problems,
)
from sandbox.views import balance_json, checkin_answer

routes = web.RouteTableDef()


def amount_of(body: dict[str, Any], name: str) -> float:
    """A validated amount field (validation ran first)."""
    value = as_amount(body.get(name))
    if value is None:
        raise Unprocessable.one(name, "is not a number")
    return value


def apply_checkin(
    c: Ctx, user: User, *, channel: str, store_number: str | None, require_payable: bool
) -> dict[str, Any]:
    """Validate, apply once per external_uid, and answer in seed 002's shape."""
    errors = checkin_errors(c.body, require_payable=require_payable)
    if errors:
        raise Unprocessable(errors)
    checkin = ledger.record_checkin(
        c.state,
        c.cfg,
        user,
        c.now,
        external_uid=str(c.body["external_uid"]),
        receipt_amount=amount_of(c.body, "receipt_amount"),
        receipt_datetime=str(c.body["receipt_datetime"]),
        channel=channel,
        store_number=store_number,
    )
    return checkin_answer(user, checkin)


@routes.post("/api/auth/checkins/online_order")
async def online_order(request: web.Request) -> web.Response:
    c = ctx(request)
    user, _ = current_user(request, c)
    malformed, invalid = online_checkin_problems(c.body)
    if malformed:
        raise BadRequest(bad_params_message(malformed))
    if invalid:
        raise Unprocessable(invalid)
    store = c.body.get("store_number")
    channel = c.body.get("channel") or "online_order"
    answer = apply_checkin(
        c,
        user,
        channel=str(channel),
        store_number=None if blank(store) else str(store),
        require_payable=True,
    )
    return json_response(answer)


@routes.delete("/api/auth/checkins")
async def void_checkin(request: web.Request) -> web.Response:
    c = ctx(request)
    user, _ = current_user(request, c)
    uid = c.body.get("external_uid", request.query.get("external_uid"))
    if blank(uid):
        raise Unprocessable.one("external_uid", "can't be blank")
    ledger.void_checkin(c.state, user, str(uid), c.now)
    return web.Response(status=202)


@routes.get("/api/auth/checkins/balance")
@routes.get("/api/auth/users/balance")
async def balance(request: web.Request) -> web.Response:
    c = ctx(request)
    user, _ = current_user(request, c)
    return json_response(balance_json(c.state, c.cfg, user, c.now))
