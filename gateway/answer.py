"""The answer side: session bookkeeping around Punchh's answer, and what the frontend may see.

A sign-in answer's Punchh tokens are taken into a new session and replaced by the gateway
token (or, in cookie mode, removed: the token travels in the cookie); a sign-out ends the
session; any other answer that echoes a session's Punchh token is scrubbed. A sign-in
answer that cannot be parsed is never passed on: 502.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from gateway import jsonio
from gateway.body import compact_json
from gateway.errors import UpstreamError
from gateway.routes import Route
from gateway.sessions import Resolved, SessionManager
from gateway.translate import id_token_expiry, rewrite_login, scrub, take_tokens
from gateway.upstream import UpstreamResponse


@dataclass(frozen=True, slots=True)
class Answer:
    body: bytes
    new_token: str | None = None  # a session was created: its gateway token
    ended: bool = False  # the session was ended


def _is_json(resp: UpstreamResponse) -> bool:
    return resp.headers.get("Content-Type", "").split(";")[0].strip().endswith("json")


def _load(resp: UpstreamResponse) -> Any:
    """Punchh's JSON answer; one we cannot read cannot be checked for tokens, so it is a 502."""
    try:
        return jsonio.loads(resp.body)
    except (ValueError, UnicodeDecodeError):
        raise UpstreamError("Punchh sent JSON that could not be read", kind="protocol") from None


async def after_call(
    route: Route,
    resp: UpstreamResponse,
    resolved: Resolved | None,
    manager: SessionManager,
    *,
    cookie_mode: bool,
) -> Answer:
    if route.action == "logout" and resolved is not None:
        await manager.end(resolved.session.sid)
        return Answer(scrub_body(resp, resolved), ended=True)
    if route.action == "login" and 200 <= resp.status < 300 and _is_json(resp):
        doc = _load(resp)
        found = take_tokens(doc)
        if found is not None:
            tokens, user_id = found
            expires_at = None if tokens.expires_in else id_token_expiry(tokens.id_token)
            _, token = await manager.create(
                user_id, tokens, family=route.family, access_expires_at=expires_at
            )
            shown = None if cookie_mode else token
            return Answer(compact_json(rewrite_login(doc, shown, manager.lifetime)), token)
    if resolved is not None:
        return Answer(scrub_body(resp, resolved))
    return Answer(resp.body)


def scrub_body(resp: UpstreamResponse, resolved: Resolved) -> bytes:
    secrets_ = resolved.session.tokens.values()
    if not any(t.encode() in resp.body for t in secrets_):
        return resp.body  # the common case: nothing to scrub, no parse
    if not _is_json(resp):
        body = resp.body
        for t in secrets_:
            body = body.replace(t.encode(), b"")
        return body
    return compact_json(scrub(_load(resp), resolved.session.tokens, resolved.token))
