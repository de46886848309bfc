"""Redemptions 2.0 for online orders (``/api/auth``, user auth); rules in ``sandbox.basket``.

POST   /api/auth/discounts/select   {discount_basket_items_attributes: [{discount_type,
                                    discount_id | discount_value}]}  200 basket; 400; 422
GET    /api/auth/discounts/active   200 basket; 404 when the guest has none
DELETE /api/auth/discounts/unselect {discount_basket_item_ids}  200 basket; 400; 404; 422
POST   /api/auth/batch_redemptions  {receipt_amount, line_items, query?, external_uid?}
                                    200 {redemption_ref, success, failures}; ``query: true``
                                    changes nothing; 400 missing receipt/line items; 422
                                    without a basket
DELETE /api/auth/batch_redemptions/{redemption_ref}  202 (empty body), restored; 410 when
                                    its external_uid was checked in; 422 unknown
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from sandbox import basket
from sandbox.auth import current_user
from sandbox.context import Ctx, ctx, json_response
from sandbox.discount_views import basket_json, batch_json
from sandbox.errors import BadRequest, Unprocessable
from sandbox.handlers_redemptions import is_query
from sandbox.state import Basket, Batch, User
from sandbox.validation import as_amount, blank, missing_line_item_field

routes = web.RouteTableDef()


def basket_answer(c: Ctx, user: User, active: Basket) -> dict[str, Any]:
    offers = [basket.item_offer(c.state, c.cfg, user, i, c.now) for i in active.items]
    return basket_json(active, offers)


def select_answer(c: Ctx, user: User) -> dict[str, Any]:
    attributes = c.body.get("discount_basket_items_attributes")
    return basket_answer(c, user, basket.select(c.state, c.cfg, user, attributes, c.now))


def batch_answer(c: Ctx, user: User) -> dict[str, Any]:
    """Confirm (``query: true``) or commit the guest's basket against this receipt."""
    receipt = as_amount(c.body.get("receipt_amount"))
    if receipt is None or receipt < 0:
        raise BadRequest("Required parameter missing or the value is empty: receipt_amount")
    line_items = c.body.get("line_items")
    missing = missing_line_item_field(line_items)
    if missing:
        raise BadRequest(f"Required parameter missing or the value is empty: {missing}")
    uid = None if blank(c.body.get("external_uid")) else str(c.body["external_uid"])
    query = is_query(c.body)
    earlier = None if query else basket.committed_batch(c.state, user, uid)
    if earlier is not None:
        return earlier.response
    active = c.state.baskets.get(user.id)
    if active is None or not active.items:
        raise Unprocessable.one("base", basket.NO_BASKET)
    outcomes = basket.evaluate(c.state, c.cfg, user, active, receipt, c.now)
    if query:
        return batch_json(active.redemption_ref, outcomes, line_items, {})
    made = basket.commit(c.state, user, active, outcomes, c.now, uid)
    answer = batch_json(active.redemption_ref, outcomes, line_items, made)
    if made:
        c.state.batches[active.redemption_ref] = Batch(
            ref=active.redemption_ref,
            user_id=user.id,
            redemption_ids=list(made.values()),
            external_uid=uid,
            response=answer,
            created_at=c.now,
        )
    return answer


@routes.post("/api/auth/discounts/select")
async def select(request: web.Request) -> web.Response:
    c = ctx(request)
    user, _ = current_user(request, c)
    return json_response(select_answer(c, user))


@routes.get("/api/auth/discounts/active")
async def active(request: web.Request) -> web.Response:
    c = ctx(request)
    user, _ = current_user(request, c)
    return json_response(basket_answer(c, user, basket.active_basket(c.state, user)))


@routes.delete("/api/auth/discounts/unselect")
async def unselect(request: web.Request) -> web.Response:
    c = ctx(request)
    user, _ = current_user(request, c)
    ids = c.body.get("discount_basket_item_ids", request.query.get("discount_basket_item_ids"))
    return json_response(basket_answer(c, user, basket.unselect(c.state, user, ids)))


@routes.post("/api/auth/batch_redemptions")
async def batch_redemptions(request: web.Request) -> web.Response:
    c = ctx(request)
    user, _ = current_user(request, c)
    return json_response(batch_answer(c, user))


@routes.delete("/api/auth/batch_redemptions/{redemption_ref}")
async def void_batch(request: web.Request) -> web.Response:
    c = ctx(request)
    user, _ = current_user(request, c)
    basket.void_batch(c.state, user, request.match_info["redemption_ref"], c.now)
    return web.Response(status=202)
