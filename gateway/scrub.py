"""Punchh tokens out of Punchh's answers, whatever their shape (issue 15, finding 6).

`Scrub` swaps every Punchh token the gateway holds for a session (`token_swaps`: the
gateway token where the guest's credential stood, nothing for id and refresh tokens) in a
body, a string or a JSON document at any depth, keys included, after a cheap bytes check;
`drop_token_keys` takes every `access_token`, `refresh_token`, `id_token` and
`authentication_token` out of a sign-in answer, wherever it stands; `named_tokens` finds
them in a sign-in answer that is not JSON. Used by gateway/answer.py.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from typing import Any
from urllib.parse import quote

from multidict import CIMultiDict

from gateway.sessions import PunchhTokens
from gateway.translate import containers

JSON = Any
_TOKEN_KEYS = frozenset({"access_token", "authentication_token", "id_token", "refresh_token"})
# Matched as substrings only from this length: a one-character "token" must not wreck answers.
_MIN_TOKEN = 8
_TOKEN_WORD = 20  # a word this long in a token-named value is taken for a token, not prose
# Characters `quote` leaves as they are: a token made of them only has no encoded spelling.
_URL_SAFE = re.compile(r"[A-Za-z0-9_.~-]*")
_GONE = object()  # a string that was exactly a token, left with nothing: dropped
# A sign-in answer not read as JSON: a value named as a token, `"name": "v"` or `name=v`.
_NAMED_TOKEN = re.compile(
    rb"(?:access|refresh|id|authentication)_token[\"']?\s*[:=]\s*[\"']?([\w.~+/\\-]{8,})"
)


def token_swaps(held: Iterable[PunchhTokens], gateway_token: str | None) -> dict[str, str]:
    """What stands where each held Punchh token stood: the gateway token for an access or
    authentication token ("" in cookie mode: it travels in the cookie only), "" for id and
    refresh tokens (the frontend never holds those)."""
    swaps: dict[str, str] = {}
    for tokens in held:
        for hidden in (tokens.id_token, tokens.refresh_token):
            if hidden:
                swaps[hidden] = ""
    for tokens in held:
        for shown in (tokens.access_token, tokens.authentication_token):
            if shown:
                swaps[shown] = gateway_token or ""
    return swaps


_PLANS_MAX = 1024  # sessions whose answers' scrub plans are kept (a dict of ~1 KB each)


class _Plan:
    """What one set of held tokens needs, built once per session's tokens (not per answer:
    the spellings, the needles of the bytes check and the order of the swaps cost ~9 µs)."""

    __slots__ = ("_pattern", "long", "needles", "swaps")

    def __init__(self, swaps: dict[str, str]) -> None:
        # A token percent-encoded (in a link, a query) is the same token: swapped as well.
        encoded = {
            quote(t, safe=""): quote(swap, safe="")
            for t, swap in swaps.items()
            if len(t) >= _MIN_TOKEN and not _URL_SAFE.fullmatch(t)
        }
        self.swaps = {**swaps, **encoded} if encoded else swaps
        self.needles = [
            t.encode() if len(t) >= _MIN_TOKEN else b'"%s"' % t.encode() for t in self.swaps
        ]
        self.needles += [t.replace("/", "\\/").encode() for t in self.swaps if "/" in t]
        self.long = sorted((t for t in self.swaps if len(t) >= _MIN_TOKEN), key=len, reverse=True)
        self._pattern: tuple[re.Pattern[bytes], dict[bytes, bytes]] | None = None

    def pattern(self) -> tuple[re.Pattern[bytes], dict[bytes, bytes]]:
        """Every spelling of every long token, as one pattern (non-JSON answers, rarely)."""
        if self._pattern is None:
            forms = {
                n: r
                for t, swap in self.swaps.items()
                if len(t) >= _MIN_TOKEN
                for n, r in _spellings(t, swap)
            }
            joined = b"|".join(re.escape(n) for n in sorted(forms, key=len, reverse=True))
            self._pattern = (re.compile(joined or b"(?!)"), forms)
        return self._pattern


_PLANS: dict[tuple[tuple[str, str], ...], _Plan] = {}


class Scrub:
    """Punchh tokens an answer must not carry, each with what takes its place (a mapping
    from `token_swaps`). A string containing a token has it swapped; a string that was
    exactly a token and is left with nothing is dropped from its object or list, and a key
    likewise. Tokens under 8 characters are matched only as whole strings: a one-character
    "token" must not wreck every answer. No regular expression for strings (compiling one
    per answer cost a sign-in a fifth of its CPU): a substring test per long token, longest
    first, then `str.replace`; bytes of a non-JSON answer (rare) get one compiled pattern."""

    __slots__ = ("_plan", "changed")

    def __init__(self, swaps: dict[str, str]) -> None:
        key = tuple(swaps.items())
        plan = _PLANS.get(key)
        if plan is None:  # a session's first answer: its tokens' spellings, once
            if len(_PLANS) >= _PLANS_MAX:
                _PLANS.clear()
            plan = _PLANS[key] = _Plan(swaps)
        self._plan = plan
        self.changed = False  # whether a string was swapped or dropped

    def found_in(self, body: bytes) -> bool:
        """The cheap check: does `body` hold any of the tokens, as sent or JSON-escaped."""
        return any(needle in body for needle in self._plan.needles)

    def text(self, value: str) -> str | None:
        """`value` with every token swapped; None when nothing is left of it."""
        swaps = self._plan.swaps
        swap = swaps.get(value)
        if swap is not None:
            self.changed = True
            return swap or None
        for token in self._plan.long:
            if token in value:
                self.changed = True
                value = value.replace(token, swaps[token])
        return value

    def headers(self, headers: CIMultiDict[str]) -> None:
        """Answer headers, in place: a value holding a token has it swapped (a value that
        was only a token goes)."""
        for name, value in list(headers.items()):
            kept = self.text(value)
            if kept != value:
                headers.popall(name)
                if kept:
                    headers[name] = kept

    def body(self, raw: bytes) -> bytes:
        """A body that is not read as JSON: every token swapped byte-wise."""
        pattern, swaps = self._plan.pattern()
        return pattern.sub(lambda m: swaps[m.group()], raw)

    def doc(self, doc: JSON) -> JSON:
        """`doc` (changed in place) with every token swapped, at any depth, keys too.
        A loop, not recursion: jsonio reads documents up to 1024 levels deep."""
        if isinstance(doc, str):
            return self.text(doc) or ""
        todo = [doc]
        while todo:
            node = todo.pop()
            if isinstance(node, dict):
                items = list(node.items())
                node.clear()
                for key, value in items:
                    key = self.text(key)
                    value = self._value(value, todo)
                    if key is not None and value is not _GONE:
                        node[key] = value
            elif isinstance(node, list):
                node[:] = [v for v in (self._value(v, todo) for v in node) if v is not _GONE]
        return doc

    def _value(self, value: JSON, todo: list[JSON]) -> JSON:
        if isinstance(value, str):
            text = self.text(value)
            return _GONE if text is None else text
        if isinstance(value, dict | list):
            todo.append(value)
        return value


def _spellings(token: str, swap: str) -> Iterator[tuple[bytes, bytes]]:
    """A token as bytes, and as a JSON writer may escape it ("/" as "\\/"); a short one only
    as a whole JSON string."""
    if len(token) < _MIN_TOKEN:
        yield b'"' + token.encode() + b'"', b'"' + swap.encode() + b'"'
        return
    yield token.encode(), swap.encode()
    if "/" in token:
        yield token.replace("/", "\\/").encode(), swap.replace("/", "\\/").encode()


def drop_token_keys(doc: JSON, taken: PunchhTokens | None) -> list[str]:
    """A sign-in answer, in place: every `access_token`, `refresh_token`, `id_token` and
    `authentication_token` at any depth goes, save where `rewrite_login` puts the gateway
    token (the containers, when tokens were `taken`), a value equal to a taken access or
    authentication token (the scrub swaps it), null, and a message (text with a space, or
    a list of such: a 422's "can't be blank"). Returns the token-like strings dropped, to
    be scrubbed wherever else they stand. A loop, not recursion (see `Scrub.doc`)."""
    spared = {id(box) for box in containers(doc)} if taken else set()
    shown = {taken.access_token, taken.authentication_token} if taken else set()
    dropped: list[str] = []
    todo = [doc]
    while todo:
        node = todo.pop()
        if isinstance(node, dict):
            for key in [k for k in node if k in _TOKEN_KEYS]:
                value = node[key]
                if value is None or (isinstance(value, str) and value in shown):
                    continue
                if id(node) in spared and _rewritten(key, value):
                    continue
                if not _is_message(value):
                    del node[key]
                    dropped.extend(_token_like(value))
            node = list(node.values())
        if isinstance(node, list):
            todo.extend(v for v in node if isinstance(v, dict | list))
    return dropped


def _rewritten(key: str, value: JSON) -> bool:
    """What `rewrite_login` replaces in a container (a dict: the mobile access token object)."""
    if key == "access_token":
        return isinstance(value, str | dict)
    return key == "authentication_token" and isinstance(value, str)


def _is_message(value: JSON) -> bool:
    """A 422's "can't be blank": words, none long enough to be a token ("Bearer <token>"
    under a token's name is a token, not a message)."""
    if isinstance(value, list):
        return bool(value) and all(_is_message(v) for v in value if not isinstance(v, list))
    return (
        isinstance(value, str)
        and " " in value
        and all(len(word) < _TOKEN_WORD for word in value.split())
    )


def _token_like(value: JSON) -> Iterator[str]:
    """The strings a dropped value held (itself, or one level in) that may be tokens."""
    inner = (
        value.values() if isinstance(value, dict) else value if isinstance(value, list) else [value]
    )
    for v in inner:
        if isinstance(v, str):
            yield from (w for w in v.split() if len(w) >= _MIN_TOKEN)


def named_tokens(raw: bytes) -> list[str]:
    """The values named as tokens (`"access_token": "v"`, `id_token=v`) in a sign-in answer
    that is not read as JSON."""
    if b"_token" not in raw:
        return []
    return [m.decode("ascii") for m in _NAMED_TOKEN.findall(raw)]
