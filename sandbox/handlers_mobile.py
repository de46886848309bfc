"""Mobile (``/api2/mobile``, SHA256-signed): sign-up, login, balance, logout.

POST   /api2/mobile/users        201 {"user": {...}, "access_token": {token, refresh_token,
                                 seconds_to_expire, revoked_at, scopes}}; 422 as sign-up
POST   /api2/mobile/users/login  200 same shape; 401 bad credentials
       (both need a ``punchh-app-device-id`` header or ``user.app_device_id``, else 400)
GET    /api2/mobile/users/balance  200 balance (``views.balance_json``)  (Bearer)
DELETE /api2/mobile/users/logout   200 {}; the token stops working      (Bearer)
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from sandbox import tokens, users
from sandbox.auth import current_user
from sandbox.context import Ctx, ctx, json_response
from sandbox.errors import BadRequest
from sandbox.handlers_auth import user_fields
from sandbox.state import Grant, User
from sandbox.views import balance_json, mobile_token_json, user_json

routes = web.RouteTableDef()


def require_device(request: web.Request, fields: dict[str, Any]) -> None:
    if not (request.headers.get("punchh-app-device-id") or fields.get("app_device_id")):
        raise BadRequest("punchh-app-device-id header is required")


def _answer(c: Ctx, user: User, grant: Grant) -> dict[str, Any]:
    return {
        "user": user_json(user),
        "access_token": mobile_token_json(grant, c.now),
    }


@routes.post("/api2/mobile/users")
async def sign_up(request: web.Request) -> web.Response:
    c = ctx(request)
    fields = user_fields(c.body)
    require_device(request, fields)
    user = users.sign_up(c.state, c.cfg, {"signup_channel": "MobileEmail", **fields}, c.now)
    grant = tokens.issue_grant(c.state, user, "mobile", c.now, c.cfg)
    return json_response(_answer(c, user, grant), status=201)


@routes.post("/api2/mobile/users/login")
async def login(request: web.Request) -> web.Response:
    c = ctx(request)
    fields = user_fields(c.body)
    require_device(request, fields)
    user = users.sign_in(c.state, fields.get("email"), fields.get("password"))
    grant = tokens.issue_grant(c.state, user, "mobile", c.now, c.cfg)
    return json_response(_answer(c, user, grant))


@routes.get("/api2/mobile/users/balance")
async def balance(request: web.Request) -> web.Response:
    c = ctx(request)
    user, _ = current_user(request, c)
    return json_response(balance_json(c.state, c.cfg, user, c.now))


@routes.delete("/api2/mobile/users/logout")
async def logout(request: web.Request) -> web.Response:
    c = ctx(request)
    _, grant = current_user(request, c)
    tokens.revoke(grant, c.now)
    return json_response({})
