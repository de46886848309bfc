"""Token grants: issue, authenticate, refresh (rotating) and revoke; the id_token JWT.

A grant's access/authentication tokens are valid while it is not revoked and
``now <= issued_at + access_ttl`` (the lifetime in force when it was issued); its refresh
token while unused, unrevoked and ``now <= issued_at + refresh_token_ttl``.
Raises ``Unauthorized`` (401) otherwise.
  - password and SSO grants: ``access_token`` and ``authentication_token``, two distinct
    random strings, either authenticates (seed 000 note);
  - Advanced Authentication (OTP) grants: access, refresh and ``id_token``; every use of
    the access token needs the ``id-token`` header equal to that id_token (seed 002);
  - mobile grants: access and refresh (the refresh token is issued, not redeemable here).
"""

from __future__ import annotations

import hmac
import secrets

import jwt

from sandbox.config import SandboxConfig
from sandbox.errors import Unauthorized
from sandbox.state import Grant, GrantSource, SandboxState, User

ID_TOKEN_ISSUER = "punchh-sandbox"  # noqa: S105 - the JWT "iss" claim, not a secret
SIGN_IN_FIRST = "You need to sign in or sign up before continuing."


def expired(issued_at: float, ttl: int, now: float) -> bool:
    """The one expiry rule of the sandbox: expired once ``now > issued_at + ttl``."""
    return now > issued_at + ttl


def _new_token() -> str:
    return secrets.token_urlsafe(32)


def mint_id_token(key: str, user: User, now: float, cfg: SandboxConfig, ttl: int) -> str:
    """HS256 JWT: sub = user id (string, per RFC 7519), email, phone, iat, exp."""
    claims = {
        "iss": ID_TOKEN_ISSUER,
        "aud": cfg.client_id,
        "sub": str(user.id),
        "email": user.email,
        "phone": user.phone,
        "iat": int(now),
        "exp": int(now + ttl),
        "jti": secrets.token_hex(8),
    }
    return jwt.encode(claims, key, algorithm="HS256")


def issue_grant(
    state: SandboxState, user: User, source: GrantSource, now: float, cfg: SandboxConfig
) -> Grant:
    grant = Grant(
        id=state.next_id("grant"),
        user_id=user.id,
        source=source,
        issued_at=now,
        access_token=_new_token(),
        access_ttl=state.access_token_ttl or cfg.access_token_ttl,
    )
    if source in ("password", "sso"):
        grant.authentication_token = _new_token()
    if source in ("otp", "mobile"):
        grant.refresh_token = _new_token()
    if source == "otp":
        grant.id_token = mint_id_token(state.id_token_key, user, now, cfg, grant.access_ttl)
    state.grants[grant.id] = grant
    state.tokens[grant.access_token] = (grant.id, "access")
    if grant.authentication_token:
        state.tokens[grant.authentication_token] = (grant.id, "authentication")
    if grant.refresh_token:
        state.tokens[grant.refresh_token] = (grant.id, "refresh")
    return grant


def authenticate(
    state: SandboxState, token: str | None, id_token: str | None, *, now: float
) -> tuple[User, Grant]:
    """The user and grant behind an access or authentication token, else 401."""
    if not token:
        raise Unauthorized(SIGN_IN_FIRST)
    entry = state.tokens.get(token)
    if entry is None or entry[1] == "refresh":
        raise Unauthorized("Invalid authentication token")
    grant = state.grants[entry[0]]
    if grant.revoked_at is not None:
        raise Unauthorized("Token has been revoked")
    if expired(grant.issued_at, grant.access_ttl, now):
        raise Unauthorized("Access token has expired")
    if grant.id_token is not None and not (
        id_token and hmac.compare_digest(id_token.encode(), grant.id_token.encode())
    ):
        raise Unauthorized("A valid id-token header is required with this access token")
    user = state.users.get(grant.user_id)
    if user is None:
        raise Unauthorized("Invalid authentication token")
    return user, grant


def refresh(
    state: SandboxState, refresh_token: str | None, now: float, cfg: SandboxConfig
) -> Grant:
    """Rotate an Advanced Authentication grant: a new grant; the old refresh token dies."""
    entry = state.tokens.get(refresh_token or "")
    if entry is None or entry[1] != "refresh":
        raise Unauthorized("Invalid refresh token")
    old = state.grants[entry[0]]
    if (
        old.source != "otp"
        or old.revoked_at is not None
        or old.refreshed_at is not None
        or expired(old.issued_at, cfg.refresh_token_ttl, now)
    ):
        raise Unauthorized("Invalid refresh token")
    old.refreshed_at = now
    if cfg.refresh_revokes_access:
        old.revoked_at = now
    return issue_grant(state, state.users[old.user_id], "otp", now, cfg)


def revoke(grant: Grant, now: float) -> None:
    if grant.revoked_at is None:
        grant.revoked_at = now
