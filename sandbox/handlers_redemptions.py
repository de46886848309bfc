"""Redemptions 1.0 for online orders (``/api/auth``, user auth), seed 004.

POST   /api/auth/redemptions/online_order  200 {status, redemption_amount, category,
        qualified_menu_items, redemption_id, redemption_code, max_applicable_quantity,
        campaign_name, qualifying_conditions}; only category "redeemable" is valid.
        ``redemption_amount`` is an integer (seed 004): a discount worth a fraction of a
        dollar is cut to the whole dollar below (and priced at that), one under $1 fails.
        ``"query": true`` only reports (ids null), changing nothing; without it the
        discount is consumed. The same external_uid, type and target again
        returns the first redemption. 422 for a missing or bad field (seed 004 lists no 400),
        ``channel`` included (seeds 002 and 004 list its values).
DELETE /api/auth/redemptions  {redemption_id | redemption_code}  202 (empty body),
        everything consumed is restored; 404 unknown; 422 already voided
"""

from __future__ import annotations

import math
from typing import Any

from aiohttp import web

from sandbox import redemptions
from sandbox.auth import current_user
from sandbox.context import Ctx, ctx, json_response
from sandbox.discount_views import v1_json, v1_repeat_json
from sandbox.errors import Unprocessable
from sandbox.state import User
from sandbox.validation import (
    BLANK,
    CHANNELS,
    NOT_IN_LIST,
    amount_errors,
    as_amount,
    blank,
    menu_items_errors,
)

routes = web.RouteTableDef()

REF_FIELDS = {
    "reward": "reward_id",
    "redeemable": "redeemable_id",
    "redemption_code": "redemption_code",
}


def is_query(body: dict[str, Any]) -> bool:
    return body.get("query") in (True, "true")


def _errors(body: dict[str, Any]) -> dict[str, list[str]]:
    errors: dict[str, list[str]] = {}
    kind = body.get("discount_type")
    if blank(kind):
        errors["discount_type"] = [BLANK]
    elif kind not in redemptions.DISCOUNT_TYPES:
        errors["discount_type"] = ["is not included in the list"]
    if blank(body.get("receipt_amount")):
        errors["receipt_amount"] = [BLANK]
    errors.update(amount_errors(body, "receipt_amount"))
    errors.update(menu_items_errors(body.get("menu_items")))
    if body.get("channel") is not None and body.get("channel") not in CHANNELS:
        errors["channel"] = [NOT_IN_LIST]
    field = REF_FIELDS.get(str(kind))
    if field and blank(body.get(field)):
        errors[field] = [BLANK]
    if kind == "discount_amount" and all(
        blank(body.get(k)) for k in ("discount_amount", "redeemed_points")
    ):
        errors["discount_amount"] = ["can't be blank (or send redeemed_points)"]
    return errors


def _discount_value(c: Ctx) -> float | None:
    """Dollars asked for by discount_amount, or by redeemed_points at the points rate."""
    dollars = as_amount(c.body.get("discount_amount"))
    if dollars is not None:
        return dollars
    points = as_amount(c.body.get("redeemed_points"))
    return None if points is None else points / c.cfg.points_per_discount_dollar


def redeem_v1(c: Ctx, user: User, *, query: bool) -> dict[str, Any]:
    """Check (query) or process one Redemptions 1.0 request for ``user``."""
    errors = _errors(c.body)
    if errors:
        raise Unprocessable(errors)
    kind = str(c.body["discount_type"])
    field = REF_FIELDS.get(kind)
    ref = str(c.body[field]) if field else None
    uid = c.body.get("external_uid")
    menu_items = c.body.get("menu_items")
    if not query and not blank(uid):
        earlier = redemptions.duplicate(
            c.state, user, str(uid), kind, redemptions.target_of(kind, ref)
        )
        if earlier is not None:
            return v1_repeat_json(earlier, menu_items)
    offer = redemptions.resolve(c.state, c.cfg, user, kind, ref, _discount_value(c), c.now)
    if not offer.ok:
        return v1_json(offer, 0.0, menu_items)
    receipt = as_amount(c.body["receipt_amount"])
    price = redemptions.quote(offer, user.points, c.cfg, receipt)
    if isinstance(price, redemptions.Quote) and not price.amount.is_integer():
        price = redemptions.quote(offer, user.points, c.cfg, math.floor(price.amount))
    if isinstance(price, str):
        failed = redemptions.Offer(kind, "invalid", price, offer.target, offer.name)
        return v1_json(failed, 0.0, menu_items)
    if query:
        return v1_json(offer, price.amount, menu_items)
    made = redemptions.apply(
        c.state, user, offer, price, c.now, external_uid=None if blank(uid) else str(uid)
    )
    return v1_json(offer, price.amount, menu_items, made)


@routes.post("/api/auth/redemptions/online_order")
async def online_redemption(request: web.Request) -> web.Response:
    c = ctx(request)
    user, _ = current_user(request, c)
    return json_response(redeem_v1(c, user, query=is_query(c.body)))


@routes.delete("/api/auth/redemptions")
async def void_redemption(request: web.Request) -> web.Response:
    c = ctx(request)
    user, _ = current_user(request, c)
    rid, code = c.body.get("redemption_id"), c.body.get("redemption_code")
    if blank(rid) and blank(code):
        raise Unprocessable.one("redemption_id", "or redemption_code is required")
    redemption = redemptions.find(c.state, user, rid, code)
    redemptions.void(c.state, user, redemption, c.now)
    return web.Response(status=202)
