"""Sandbox-only routes (``/__sandbox/``): no signature, client or user checks; not counted.

Which business: every route but the faults ones acts on the primary business, or on the
one whose client id ``?client=<client_id>`` names; an unknown client id is 404
{"error": "Unknown client"}. Fault rules are one book for every business.

GET    /__sandbox/otp?email=|phone=     200 {"otp"} latest unexpired; 404
GET    /__sandbox/calls                 200 {"METHOD /path": count, ...} summed over every
                                        business; ``?client=``: that business's alone
POST   /__sandbox/calls/reset           200 {} every business's counts; ``?client=``: one
GET    /__sandbox/ledger                200 {"checkins": [every check-in applied, voided too]}
GET    /__sandbox/users/{id}            200 full guest state; 404
POST   /__sandbox/users/{id}/rewards    201 reward {name?, discount_amount?, expires_in?}
POST   /__sandbox/sso/code              201 {"code"} for /oauth/token {user_id}; 404
POST   /__sandbox/settings              200 {"access_token_ttl"}: lifetime of grants issued
                                        from now on (null: back to the config's); 400
POST   /__sandbox/faults                201 rule (see ``sandbox.faults``; ``echo``: the guest's
                                        tokens echoed in the answer, ``sandbox.echo``); 400
GET    /__sandbox/faults                200 {"faults": [...]}
DELETE /__sandbox/faults                200 {"cleared": n}
"""

from __future__ import annotations

import json
import secrets
from dataclasses import asdict
from typing import Any

from aiohttp import web

from sandbox import otp
from sandbox.businesses import Business
from sandbox.context import BUSINESSES_KEY, FAULTS_KEY, Ctx, ctx, json_response
from sandbox.errors import BadRequest, NotFound, SandboxError
from sandbox.ledger import issue_reward
from sandbox.state import SsoCode, User
from sandbox.validation import as_amount
from sandbox.views import balance_json, ledger_json, reward_json, user_json

routes = web.RouteTableDef()


async def _json(request: web.Request) -> dict[str, Any]:
    raw = await request.read()
    try:
        data = json.loads(raw) if raw.strip() else {}
    except ValueError as exc:
        raise BadRequest("Malformed JSON body") from exc
    if not isinstance(data, dict):
        raise BadRequest("The JSON body must be an object")
    return data


def _named(request: web.Request) -> Business | None:
    """The business of ``?client=`` (``NotFound`` when unknown); None when not given."""
    client = request.query.get("client")
    if client is None:
        return None
    named = request.app[BUSINESSES_KEY].by_client_id(client)
    if named is None:
        raise NotFound("Unknown client")
    return named


def _ctx(request: web.Request) -> Ctx:
    return ctx(request, _named(request))


def _user(request: web.Request, c: Ctx) -> User:
    raw = request.match_info["user_id"]
    user = c.state.users.get(int(raw)) if raw.isdigit() else None
    if user is None:
        raise NotFound("User not found")
    return user


@routes.get("/__sandbox/otp")
async def read_otp(request: web.Request) -> web.Response:
    c = _ctx(request)
    try:
        key = otp.identifier(request.query.get("email"), request.query.get("phone"))
    except SandboxError as exc:
        raise BadRequest("email or phone query parameter required") from exc
    live = otp.live(c.state, key, c.now, c.cfg.otp_ttl)
    if live is None:
        raise NotFound("No live OTP")
    return json_response({"otp": live.code})


@routes.get("/__sandbox/calls")
async def calls(request: web.Request) -> web.Response:
    named = _named(request)
    if named is not None:
        return json_response(named.calls.snapshot())
    return json_response(request.app[BUSINESSES_KEY].total_calls())


@routes.post("/__sandbox/calls/reset")
async def reset_calls(request: web.Request) -> web.Response:
    named = _named(request)
    for business in request.app[BUSINESSES_KEY].all if named is None else (named,):
        business.calls.reset()
    return json_response({})


@routes.get("/__sandbox/ledger")
async def ledger(request: web.Request) -> web.Response:
    checkins = _ctx(request).state.checkins.values()
    return json_response({"checkins": [ledger_json(c) for c in checkins]})


@routes.get("/__sandbox/users/{user_id}")
async def user_state(request: web.Request) -> web.Response:
    c = _ctx(request)
    user = _user(request, c)
    redemptions = [asdict(r) for r in c.state.redemptions.values() if r.user_id == user.id]
    basket = c.state.baskets.get(user.id)
    return json_response(
        {
            "user": user_json(user),
            "dummy": user.dummy,
            "invited_by": user.invited_by,
            "balance": balance_json(c.state, c.cfg, user, c.now),
            "rewards": [
                reward_json(r, c.now) for r in c.state.rewards.values() if r.user_id == user.id
            ],
            "redemptions": redemptions,
            "basket_item_ids": [i.id for i in basket.items] if basket else [],
        }
    )


@routes.post("/__sandbox/users/{user_id}/rewards")
async def gift_reward(request: web.Request) -> web.Response:
    c = _ctx(request)
    user, data = _user(request, c), await _json(request)
    amount = as_amount(data.get("discount_amount", c.cfg.reward_amount))
    expires_in = as_amount(data.get("expires_in"))
    if amount is None or amount <= 0:
        raise BadRequest("discount_amount must be a positive number")
    reward = issue_reward(
        c.state,
        user,
        c.now,
        amount=amount,
        points=0,
        name=data.get("name") if isinstance(data.get("name"), str) else None,
        campaign="Sandbox Gift",
        expires_at=None if expires_in is None else c.now + expires_in,
    )
    return json_response(reward_json(reward, c.now), status=201)


@routes.post("/__sandbox/sso/code")
async def sso_code(request: web.Request) -> web.Response:
    c, data = _ctx(request), await _json(request)
    uid = data.get("user_id")
    user = c.state.users.get(uid) if isinstance(uid, int) else None
    if user is None:
        raise NotFound("User not found")
    code = secrets.token_urlsafe(24)
    c.state.sso_codes[code] = SsoCode(user_id=user.id, issued_at=c.now)
    return json_response({"code": code}, status=201)


@routes.post("/__sandbox/faults")
async def add_fault(request: web.Request) -> web.Response:
    data = await _json(request)
    try:
        rule = request.app[FAULTS_KEY].add(data)
    except ValueError as exc:
        raise BadRequest(str(exc)) from exc
    return json_response(rule.as_json(), status=201)


@routes.get("/__sandbox/faults")
async def list_faults(request: web.Request) -> web.Response:
    return json_response({"faults": [r.as_json() for r in request.app[FAULTS_KEY].rules()]})


@routes.delete("/__sandbox/faults")
async def clear_faults(request: web.Request) -> web.Response:
    return json_response({"cleared": request.app[FAULTS_KEY].clear()})


@routes.post("/__sandbox/settings")
async def settings(request: web.Request) -> web.Response:
    c, data = _ctx(request), await _json(request)
    if set(data) - {"access_token_ttl"}:
        raise BadRequest("only access_token_ttl can be set")
    ttl = data.get("access_token_ttl")
    if ttl is not None and (isinstance(ttl, bool) or not isinstance(ttl, int) or ttl < 1):
        raise BadRequest("access_token_ttl: expected a whole number of seconds >= 1, or null")
    c.state.access_token_ttl = ttl
    return json_response({"access_token_ttl": ttl or c.cfg.access_token_ttl})
