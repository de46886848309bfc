"""Online Ordering / SSO accounts (``/api/auth``): sign-up, sign-in, profile, passwords.

POST /api/auth/customers.json       201 user + authentication_token + access_token; 422
POST /api/auth/customers/sign_in    200 same shape, fresh tokens; 401 on bad credentials
GET  /api/auth/users                200 user                       (user auth)
PUT  /api/auth/users                200 user; 422                  (user auth)
POST /api/auth/users/forgot_password   200 always (no account enumeration); 422 no email
PATCH /api/auth/users/change_password  200; 422 wrong current / weak new (user auth)
"""

from __future__ import annotations

import logging
from typing import Any

from aiohttp import web

from sandbox import tokens, users
from sandbox.auth import current_user
from sandbox.context import ctx, json_response
from sandbox.errors import BadRequest, Unprocessable
from sandbox.views import user_json, user_with_tokens

logger = logging.getLogger(__name__)
routes = web.RouteTableDef()

RESET_SENT = (
    "You will receive an email with instructions about how to reset your password in a few minutes."
)


def user_fields(body: dict[str, Any]) -> dict[str, Any]:
    """The ``user`` object of a body; seed 000 also sends external_source at top level."""
    fields = body.get("user")
    if not isinstance(fields, dict):
        raise BadRequest("Required parameter missing or the value is empty: user")
    extra = {k: body[k] for k in ("external_source", "external_source_id") if k in body}
    return {**extra, **fields}


@routes.post("/api/auth/customers.json")
async def sign_up(request: web.Request) -> web.Response:
    c = ctx(request)
    user = users.sign_up(c.state, c.cfg, user_fields(c.body), c.now)
    grant = tokens.issue_grant(c.state, user, "password", c.now, c.cfg)
    return json_response(user_with_tokens(user, grant), status=201)


@routes.post("/api/auth/customers/sign_in")
async def sign_in(request: web.Request) -> web.Response:
    c = ctx(request)
    fields = user_fields(c.body)
    user = users.sign_in(c.state, fields.get("email"), fields.get("password"))
    grant = tokens.issue_grant(c.state, user, "password", c.now, c.cfg)
    return json_response(user_with_tokens(user, grant))


@routes.get("/api/auth/users")
async def show_user(request: web.Request) -> web.Response:
    c = ctx(request)
    user, _ = current_user(request, c)
    return json_response(user_json(user))


@routes.put("/api/auth/users")
async def update_user(request: web.Request) -> web.Response:
    c = ctx(request)
    user, _ = current_user(request, c)
    users.update_profile(c.state, user, user_fields(c.body), c.now)
    return json_response(user_json(user))


@routes.post("/api/auth/users/forgot_password")
async def forgot_password(request: web.Request) -> web.Response:
    c = ctx(request)
    email = user_fields(c.body).get("email")
    if not isinstance(email, str) or not email.strip():
        raise Unprocessable.one("email", "can't be blank")
    user = c.state.user_by_email(email)
    if user is not None:
        logger.info("sandbox: password reset requested for user id %s", user.id)
    return json_response({"message": RESET_SENT})


@routes.patch("/api/auth/users/change_password")
async def change_password(request: web.Request) -> web.Response:
    c = ctx(request)
    user, _ = current_user(request, c)
    fields = user_fields(c.body)
    current = fields.get("current_password", c.body.get("current_password"))
    users.change_password(user, current, fields, c.now)
    return json_response({"message": "Your password has been changed successfully."})
