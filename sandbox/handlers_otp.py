"""Advanced Authentication (``/api2/password_less``) and the SSO code exchange (``/oauth/token``).

POST /api2/password_less/token          200 {"data": {"message", "expires_in"}}; the OTP
                                        is logged and readable at GET /__sandbox/otp
POST /api2/password_less/verify         200 {"data": {access_token, id_token, refresh_token,
                                        token_type, expires_in, user_id}}; 422 consents/OTP,
                                        or a POS dummy account (seed 000: sign up first)
POST /api2/password_less/refresh_token  200 {"data": {access_token, id_token, token_type,
                                        refresh_token, expires_in}}; 401 (old tokens die)
POST /api2/password_less/sign_out       200; revokes the grant (Bearer + id-token)
POST /api2/signout                      alias of sign_out
POST /oauth/token                       200 {access_token, token_type, expires_in, scope,
                                        created_at}; 400 invalid_grant / unsupported_grant_type
"""

from __future__ import annotations

import logging

from aiohttp import web

from sandbox import otp, tokens
from sandbox.auth import current_user
from sandbox.context import ctx, json_response
from sandbox.errors import SandboxError, Unprocessable
from sandbox.state import Grant

logger = logging.getLogger(__name__)
routes = web.RouteTableDef()


class OAuthError(SandboxError):
    """RFC 6749 section 5.2 error answer."""

    status = 400

    def __init__(self, error: str) -> None:
        super().__init__({"error": error})


def token_data(grant: Grant) -> dict[str, object]:
    return {
        "access_token": grant.access_token,
        "id_token": grant.id_token,
        "refresh_token": grant.refresh_token,
        "token_type": "Bearer",
        "expires_in": grant.access_ttl,
    }


@routes.post("/api2/password_less/token")
async def send_otp(request: web.Request) -> web.Response:
    c = ctx(request)
    key = otp.identifier(c.body.get("email"), c.body.get("phone"))
    code = otp.issue(c.state, key, c.now).code
    logger.info("sandbox OTP for %s %s: %s", key[0], key[1], code)
    return json_response({"data": {"message": "OTP sent", "expires_in": c.cfg.otp_ttl}})


@routes.post("/api2/password_less/verify")
async def verify_otp(request: web.Request) -> web.Response:
    c = ctx(request)
    missing = [k for k in ("privacy_policy", "terms_and_conditions") if c.body.get(k) is not True]
    if missing:
        raise Unprocessable({k: ["must be accepted"] for k in missing})
    key = otp.identifier(c.body.get("email"), c.body.get("phone"))
    otp.consume(c.state, c.cfg, key, c.body.get("otp"), c.now)
    user = otp.user_for(c.state, key, c.now)
    grant = tokens.issue_grant(c.state, user, "otp", c.now, c.cfg)
    data = {**token_data(grant), "user_id": user.id}
    return json_response({"data": data})


@routes.post("/api2/password_less/refresh_token")
async def refresh_token(request: web.Request) -> web.Response:
    c = ctx(request)
    given = c.body.get("refresh_token")
    grant = tokens.refresh(c.state, given if isinstance(given, str) else None, c.now, c.cfg)
    return json_response({"data": token_data(grant)})


@routes.post("/api2/password_less/sign_out")
@routes.post("/api2/signout")
async def sign_out(request: web.Request) -> web.Response:
    c = ctx(request)
    _, grant = current_user(request, c)
    tokens.revoke(grant, c.now)
    return json_response({"data": {"message": "Signed out successfully"}})


@routes.post("/oauth/token")
async def oauth_token(request: web.Request) -> web.Response:
    c = ctx(request)
    if c.body.get("grant_type") != "authorization_code":
        raise OAuthError("unsupported_grant_type")
    code = c.body.get("code")
    sso = c.state.sso_codes.pop(code, None) if isinstance(code, str) else None
    if sso is None or tokens.expired(sso.issued_at, c.cfg.sso_code_ttl, c.now):
        raise OAuthError("invalid_grant")
    user = c.state.users[sso.user_id]
    grant = tokens.issue_grant(c.state, user, "sso", c.now, c.cfg)
    return json_response(
        {
            "access_token": grant.access_token,
            "token_type": "Bearer",
            "expires_in": grant.access_ttl,
            "scope": "",
            "created_at": int(c.now),
        }
    )
