"""The answer side: session bookkeeping around Punchh's answer, and what the frontend may see.

A sign-in answer's Punchh tokens are taken into a new session and replaced by the gateway
token (or, in cookie mode, removed: the token travels in the cookie); a sign-out ends the
session. No answer, of any status, JSON or not, carries a Punchh token the gateway holds
for the session, including those this request refreshed away, nor, if it answers a
sign-in, an `access_token`, `refresh_token`, `id_token` or `authentication_token` at any
depth (issue 15, finding 6): the gateway token stands where the guest's credential stood,
anything else goes. A bytes check comes first: an answer that needs no change is passed
on unparsed. A sign-in answer that cannot be parsed is never passed on: 502.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from gateway import jsonio
from gateway.body import compact_json
from gateway.errors import UpstreamError
from gateway.routes import Route
from gateway.scrub import Scrub, drop_token_keys, named_tokens, token_swaps
from gateway.sessions import PunchhTokens, Resolved, SessionManager
from gateway.translate import id_token_expiry, rewrite_login, take_tokens
from gateway.upstream import UpstreamResponse

# A sign-in answer worth reading: a key ending in `_token`, or escapes that may spell one.
_TOKEN_MARKS = (b"_token", b"\\u")
_UNREAD = object()  # an answer not read as JSON: scrubbed as bytes
# A `\\u` escape of a character a token may hold (letters, digits, + - . / = _ ~); Rails'
# usual \\u0026, \\u003c and \\u003e (& < >) do not make an answer worth reading.
_TOKEN_ESCAPE = re.compile(rb"\\u00(?:2[bdef]|3[0-9d]|[4-7][0-9a-f])", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class Answer:
    body: bytes
    new_token: str | None = None  # a session was created: its gateway token
    ended: bool = False  # the session was ended
    scrub: Scrub | None = None  # the tokens the answer's headers must not carry either


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
    earlier: tuple[PunchhTokens, ...] = (),
) -> Answer:
    """`earlier`: the session's tokens before this request refreshed them; Punchh may echo
    those too."""
    held: dict[str, str] = {}
    if resolved is not None:
        shown = None if cookie_mode else resolved.token
        held = token_swaps((*earlier, resolved.session.tokens), shown)
    if route.action == "logout" and resolved is not None:
        await manager.end(resolved.session.sid)
        scrub = Scrub(held)
        return Answer(scrub_body(resp, scrub), ended=True, scrub=scrub)
    if route.action == "login":
        return await _sign_in_answer(route, resp, held, manager, cookie_mode=cookie_mode)
    if not held:
        return Answer(resp.body)
    scrub = Scrub(held)
    return Answer(scrub_body(resp, scrub), scrub=scrub)


def scrub_body(resp: UpstreamResponse, scrub: Scrub) -> bytes:
    """`\\u` escapes may spell a token the bytes check cannot see: a JSON answer holding
    any is read (and written again only if a token was in it)."""
    body = resp.body
    if not scrub.found_in(body):
        if not _TOKEN_ESCAPE.search(body) or not _is_json(resp):
            return body  # the common case: nothing to scrub, no parse
        doc = _try_load(resp)
        if doc is _UNREAD:  # not JSON after all: what the bytes check saw is all there is
            return body
        doc = scrub.doc(doc)
        return compact_json(doc) if scrub.changed else body
    if not _is_json(resp):
        return scrub.body(body)
    return compact_json(scrub.doc(_load(resp)))


async def _sign_in_answer(
    route: Route,
    resp: UpstreamResponse,
    held: dict[str, str],
    manager: SessionManager,
    *,
    cookie_mode: bool,
) -> Answer:
    """Tokens taken from a 2xx JSON answer into a new session; from any sign-in answer,
    every token-named value at any depth is dropped or swapped, and echoes scrubbed."""
    body = resp.body
    signed_in = 200 <= resp.status < 300 and _is_json(resp)
    if signed_in:
        doc = _load(resp)
    elif not any(mark in body for mark in _TOKEN_MARKS) and not Scrub(held).found_in(body):
        return Answer(body, scrub=Scrub(held) if held else None)
    else:
        doc = _try_load(resp)
        if doc is _UNREAD:
            scrub = Scrub(dict.fromkeys(named_tokens(body), "") | held)
            return Answer(scrub.body(body), scrub=scrub)
    found = take_tokens(doc) if signed_in else None
    taken = found[0] if found is not None else None
    dropped = drop_token_keys(doc, taken)
    if found is None:
        scrub = Scrub(dict.fromkeys(dropped, "") | held)
        if not dropped and not scrub.found_in(body) and b"\\u" not in body:
            return Answer(body, scrub=scrub)
        return Answer(compact_json(scrub.doc(doc)), scrub=scrub)
    tokens, user_id = found
    expires_at = None if tokens.expires_in else id_token_expiry(tokens.id_token)
    _, token = await manager.create(
        user_id, tokens, family=route.family, access_expires_at=expires_at
    )
    shown = None if cookie_mode else token
    scrub = Scrub(dict.fromkeys(dropped, "") | held | token_swaps((tokens,), shown))
    out = compact_json(rewrite_login(doc, shown, manager.lifetime))
    if scrub.found_in(out):  # a token left elsewhere in the answer: the walk, rarely
        out = compact_json(scrub.doc(doc))
    return Answer(out, token, scrub=scrub)


def _try_load(resp: UpstreamResponse) -> Any:
    """A sign-in answer that signed no one in (not 2xx, or not JSON), read as JSON if it is
    JSON; one that cannot be read is scrubbed as bytes, not refused."""
    if not _is_json(resp):
        return _UNREAD
    try:
        return jsonio.loads(resp.body)
    except (ValueError, UnicodeDecodeError):
        return _UNREAD
