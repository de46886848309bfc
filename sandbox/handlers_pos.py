"""POS (``/api/pos``, location + business key, no signature), seed 003's workflow.

The guest is named by ``phone``, ``email``, ``user_as_qrcode``, ``card_number`` (the
guest's ``user_as_barcode`` here) or ``user_id`` (query for GET, body otherwise): 400 when
none is given, 404 ``{"error": "User not found"}``.
GET  /api/pos/users/search            200 user + ``balance`` + ``rewards``
POST /api/pos/users                   201 user; phone only -> a dummy account; 422 taken
POST /api/pos/checkins                200 as the online check-in, at the key's store_number
POST /api/pos/redemptions/possible    200 Redemptions 1.0 answer, nothing changes
POST /api/pos/redemptions             200 Redemptions 1.0 answer, consumed
POST /api/pos/discounts/lookup        200 {user_id, points_balance,
                                      discount_amount_available, rewards[], redeemables[]}
POST /api/pos/discounts/select        200 basket (as /api/auth/discounts/select)
POST /api/pos/batch_redemptions       200 as /api/auth/batch_redemptions
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from sandbox import users
from sandbox.context import STORE_KEY, Ctx, ctx, json_response
from sandbox.errors import BadRequest, NotFound
from sandbox.handlers_auth import user_fields
from sandbox.handlers_checkins import apply_checkin
from sandbox.handlers_discounts import batch_answer, select_answer
from sandbox.handlers_redemptions import redeem_v1
from sandbox.ledger import available_rewards
from sandbox.points import dollars_for_points
from sandbox.state import User
from sandbox.views import balance_json, redeemable_json, reward_json, user_json

routes = web.RouteTableDef()

LOOKUP_KEYS = ("phone", "email", "user_as_qrcode", "card_number", "user_id")


def find_guest(c: Ctx, params: Any) -> User:
    """The guest named by the first lookup key present in ``params``."""
    for key in LOOKUP_KEYS:
        value = params.get(key)
        if value in (None, ""):
            continue
        value = str(value).strip()
        if key == "phone":
            user = c.state.user_by_phone(users.normalize_phone(value) or "")
        elif key == "email":
            user = c.state.user_by_email(value)
        elif key == "user_as_qrcode":
            user = c.state.user_by_qrcode(value)
        elif key == "card_number":
            user = next((u for u in c.state.users.values() if u.user_as_barcode == value), None)
        else:
            user = c.state.users.get(int(value)) if value.isdigit() else None
        if user is None:
            raise NotFound("User not found")
        return user
    raise BadRequest(
        "Required parameter missing or the value is empty: "
        "phone, email, user_as_qrcode, card_number or user_id"
    )


@routes.get("/api/pos/users/search")
async def search(request: web.Request) -> web.Response:
    c = ctx(request)
    user = find_guest(c, {**request.query, **c.body})
    balance = balance_json(c.state, c.cfg, user, c.now)
    return json_response({**user_json(user), "balance": balance, "rewards": balance["rewards"]})


@routes.post("/api/pos/users")
async def create_user(request: web.Request) -> web.Response:
    c = ctx(request)
    user = users.create_pos_user(c.state, user_fields(c.body), c.now)
    return json_response(user_json(user), status=201)


@routes.post("/api/pos/checkins")
async def checkin(request: web.Request) -> web.Response:
    c = ctx(request)
    user = find_guest(c, c.body)
    answer = apply_checkin(
        c, user, channel="pos", store_number=request[STORE_KEY], require_payable=False
    )
    return json_response(answer)


@routes.post("/api/pos/redemptions/possible")
async def possible_redemption(request: web.Request) -> web.Response:
    c = ctx(request)
    return json_response(redeem_v1(c, find_guest(c, c.body), query=True))


@routes.post("/api/pos/redemptions")
async def redemption(request: web.Request) -> web.Response:
    c = ctx(request)
    return json_response(redeem_v1(c, find_guest(c, c.body), query=False))


@routes.post("/api/pos/discounts/lookup")
async def discount_lookup(request: web.Request) -> web.Response:
    c = ctx(request)
    user = find_guest(c, c.body)
    affordable = [r for r in c.cfg.redeemables if r.points <= user.points]
    return json_response(
        {
            "user_id": user.id,
            "points_balance": user.points,
            "discount_amount_available": dollars_for_points(
                user.points, c.cfg.points_per_discount_dollar
            ),
            "rewards": [reward_json(r, c.now) for r in available_rewards(c.state, user, c.now)],
            "redeemables": [redeemable_json(r) for r in affordable],
        }
    )


@routes.post("/api/pos/discounts/select")
async def discount_select(request: web.Request) -> web.Response:
    c = ctx(request)
    return json_response(select_answer(c, find_guest(c, c.body)))


@routes.post("/api/pos/batch_redemptions")
async def batch_redemptions(request: web.Request) -> web.Response:
    c = ctx(request)
    return json_response(batch_answer(c, find_guest(c, c.body)))
