"""Who is calling: pure parsers for the Authorization forms, and the user check handlers use.

User routes take ``Authorization: Bearer <token>`` or ``authentication_token`` in the body
or query; the token's grant decides the rest (``tokens.authenticate``): unknown, revoked,
expired, or an Advanced Authentication token without its ``id-token`` header -> 401.
POS routes take ``Authorization: Token token=<LOCATION_KEY>, btoken=<BUSINESS_KEY>``.
"""

from __future__ import annotations

import hmac
from collections.abc import Mapping

from aiohttp import web

from sandbox import tokens
from sandbox.context import Ctx, param
from sandbox.state import Grant, User


def bearer_token(header: str | None) -> str | None:
    """The token of ``Bearer <token>`` (scheme case-insensitive), else None."""
    if not header:
        return None
    scheme, _, token = header.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


def parse_token_authorization(header: str | None) -> dict[str, str] | None:
    """``Token token=a, btoken=b`` -> {"token": "a", "btoken": "b"} (quotes allowed)."""
    if not header:
        return None
    scheme, _, rest = header.strip().partition(" ")
    if scheme != "Token":
        return None
    pairs: dict[str, str] = {}
    for part in rest.split(","):
        key, sep, value = part.strip().partition("=")
        if not sep or not key.strip():
            return None
        pairs[key.strip()] = value.strip().strip('"')
    return pairs


def pos_store_number(
    header: str | None, business_key: str, location_keys: Mapping[str, str]
) -> str | None:
    """The store_number of a valid POS Authorization header, else None (always None
    while no business key is configured: POS closed)."""
    pairs = parse_token_authorization(header)
    if pairs is None or not business_key:
        return None
    btoken, location = pairs.get("btoken", ""), pairs.get("token", "")
    if not location:
        return None
    if not hmac.compare_digest(btoken.encode(), business_key.encode()):
        return None
    for key, store_number in location_keys.items():
        if hmac.compare_digest(location.encode(), key.encode()):
            return store_number
    return None


def current_user(request: web.Request, c: Ctx) -> tuple[User, Grant]:
    """The signed-in guest of a user route, or ``Unauthorized`` (401)."""
    token = bearer_token(request.headers.get("Authorization"))
    if token is None:
        given = param(request, c.body, "authentication_token")
        token = given if isinstance(given, str) and given else None
    return tokens.authenticate(
        c.state,
        token,
        request.headers.get("id-token"),
        now=c.now,
    )
