"""Pure rewrites between what the frontend sees and what Punchh sees.

Up: `client` is always the gateway's own; a gateway token given as
`authentication_token` becomes the session's real one. Down: a login answer's Punchh
tokens are taken out (`take_tokens`) and replaced by the gateway token
(`rewrite_login`); any answer that echoes a Punchh token is scrubbed (gateway/scrub.py).
Where Punchh puts tokens (docs/punchh.md): top level, under `data` (Advanced
Authentication), under `user`, or as a mobile `access_token` object.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import jwt

from gateway.sessions import PunchhTokens

JSON = Any
_HIDDEN_KEYS = ("id_token", "refresh_token")


def containers(doc: JSON) -> Iterator[dict[str, Any]]:
    if isinstance(doc, dict):
        yield doc
        for key in ("data", "user"):
            inner = doc.get(key)
            if isinstance(inner, dict):
                yield inner


def _user_id_from_id_token(id_token: str) -> str | None:
    # Read-only: the token came straight from Punchh; the gateway does not vouch for it.
    try:
        claims = jwt.decode(id_token, options={"verify_signature": False})
    except jwt.PyJWTError:
        return None
    for key in ("sub", "user_id"):
        if isinstance(claims.get(key), str | int) and not isinstance(claims.get(key), bool):
            return str(claims[key])
    return None


def id_token_expiry(id_token: str | None) -> float | None:
    """The `exp` of Punchh's id_token (read, not verified: it came from Punchh directly)."""
    if not id_token:
        return None
    try:
        exp = jwt.decode(id_token, options={"verify_signature": False}).get("exp")
    except jwt.PyJWTError:
        return None
    if isinstance(exp, bool) or not isinstance(exp, int | float):
        return None
    return float(exp) if -1e12 < exp < 1e12 else None  # a 400-digit exp: no expiry read


_MAX_SECONDS = 10 * 365 * 86400.0  # beyond this a lifetime is nonsense, and float() may fail


def _seconds(value: JSON) -> float | None:
    """A positive number of seconds, or None (a bool, a string, a 400-digit integer)."""
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        return None
    return float(min(value, _MAX_SECONDS))


def take_tokens(doc: JSON) -> tuple[PunchhTokens, str | None] | None:
    """Punchh's tokens and the user id in a sign-in answer, or None when it has none."""
    found: dict[str, Any] = {}
    user_id: str | None = None
    for box in containers(doc):
        access = box.get("access_token")
        if isinstance(access, dict):  # mobile: {"token", "refresh_token", "seconds_to_expire"}
            found.setdefault("access_token", access.get("token"))
            found.setdefault("refresh_token", access.get("refresh_token"))
            found.setdefault("expires_in", access.get("seconds_to_expire"))
        elif isinstance(access, str):
            found.setdefault("access_token", access)
        for key in ("authentication_token", "id_token", "refresh_token", "expires_in"):
            if box.get(key) is not None:
                found.setdefault(key, box[key])
        for key in ("user_id", "id"):
            value = box.get(key)
            if user_id is None and isinstance(value, str | int) and not isinstance(value, bool):
                user_id = str(value) if str(value).isprintable() else None
    # A token or id with a control character (NUL...) could not travel in a header, nor be
    # kept: not taken (the answer is then refused as one without tokens).
    strings = {
        k: v
        for k, v in found.items()
        if k != "expires_in" and isinstance(v, str) and v and v.isprintable()
    }
    if not strings.get("access_token") and not strings.get("authentication_token"):
        return None
    expires = found.get("expires_in")
    tokens = PunchhTokens(
        access_token=strings.get("access_token"),
        authentication_token=strings.get("authentication_token"),
        id_token=strings.get("id_token"),
        refresh_token=strings.get("refresh_token"),
        expires_in=_seconds(expires),
    )
    if user_id is None and tokens.id_token:
        user_id = _user_id_from_id_token(tokens.id_token)
    return tokens, user_id


def rewrite_login(doc: JSON, gateway_token: str | None, lifetime: int) -> JSON:
    """The answer the frontend gets: the gateway token wherever Punchh put its own, or,
    in cookie mode (`gateway_token` None), no token at all: it travels in the cookie."""
    for box in containers(doc):
        access = box.get("access_token")
        if isinstance(access, dict):
            _set_or_drop(access, "token", gateway_token)
            access.pop("refresh_token", None)
            if "seconds_to_expire" in access:
                access["seconds_to_expire"] = lifetime
        elif isinstance(access, str):
            _set_or_drop(box, "access_token", gateway_token)
        if isinstance(box.get("authentication_token"), str):
            _set_or_drop(box, "authentication_token", gateway_token)
        if "expires_in" in box:
            box["expires_in"] = lifetime
        for key in _HIDDEN_KEYS:
            box.pop(key, None)
    return doc


def _set_or_drop(box: dict[str, Any], key: str, value: str | None) -> None:
    if value is None:
        box.pop(key, None)
    else:
        box[key] = value


def bearer_token(authorization: str | None) -> str | None:
    if not authorization:
        return None
    scheme, _, value = authorization.partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        return None
    return value.strip()


def presented_token(
    authorization: str | None, body: JSON, query: list[tuple[str, str]], cookie: str | None = None
) -> str | None:
    """Where a frontend puts its token (seed 000): Authorization: Bearer, or
    `authentication_token` in the JSON body or the query; in cookie mode, the cookie first."""
    if cookie:
        return cookie
    token = bearer_token(authorization)
    if token:
        return token
    if isinstance(body, dict) and isinstance(body.get("authentication_token"), str):
        return str(body["authentication_token"])
    for key, value in query:
        if key == "authentication_token":
            return value
    return None


def rewrite_request_fields(
    fields: dict[str, Any], *, client_id: str | None, auth_token: str | None
) -> dict[str, Any]:
    """`client` is always ours; `authentication_token` is the real one, or goes away."""
    out = dict(fields)
    if client_id is not None:
        out["client"] = client_id
    if "authentication_token" in out:
        if auth_token:
            out["authentication_token"] = auth_token
        else:
            del out["authentication_token"]
    return out


def rewrite_query(
    query: list[tuple[str, str]], *, client_id: str | None, auth_token: str | None
) -> list[tuple[str, str]]:
    """The query-string twin of `rewrite_request_fields`, keeping the order of the rest."""
    out: list[tuple[str, str]] = []
    for key, value in query:
        if key == "client":  # never the frontend's; ours is added when the query carries it
            continue
        if key == "authentication_token":
            if auth_token:
                out.append((key, auth_token))
            continue
        out.append((key, value))
    if client_id is not None:
        out.append(("client", client_id))
    return out
