"""A session as one compact string, for the memory store: one object per session instead of
a dozen (the session, its tokens object, five floats, four token strings, a tuple).
Measured at 100k sessions (bench/session_memory.py). Fields are separated by NUL, which
no token, id or number holds; the store's deadline comes first so that expiry reads it
without decoding the rest; the session id is the dict key, not repeated. Decoding costs
a split, paid only on a store read (the store keeps the hottest sessions decoded).

The id_token, most of a session's bytes (a JWT of ~700 characters), comes last and is
kept as its three base64url parts decoded (a quarter smaller), as one latin-1 string
after their lengths; the split stops before it, so its bytes may hold anything. A token
whose parts are not canonical unpadded base64url (so that decoding and encoding again
would not give it back) is kept as sent.
"""

from __future__ import annotations

import base64
import binascii

from gateway.session_record import PunchhTokens, Session

_SEP = "\x00"
_FIELDS = 12  # the id_token is the 12th, the rest of the string
_RAW, _PARTS = "r", "p"  # how the id_token is kept: as sent, or its parts decoded


def _opt(value: object) -> str:
    if value is None:
        return ""
    return repr(value) if isinstance(value, float) else str(value)


def _b64(part: bytes) -> str:
    return base64.urlsafe_b64encode(part).rstrip(b"=").decode("ascii")


def _pack_jwt(token: str | None) -> str:
    if not token:
        return ""
    parts = token.split(".")
    if len(parts) == 3 and token.isascii():
        try:
            raw = [base64.urlsafe_b64decode(p + "=" * (-len(p) % 4)) for p in parts]
        except (binascii.Error, ValueError):
            raw = []
        if raw and all(_b64(r) == p for r, p in zip(raw, parts, strict=True)):
            head = f"{_PARTS}{len(raw[0])},{len(raw[1])},"
            return head + b"".join(raw).decode("latin-1")
    return _RAW + token


def _unpack_jwt(kept: str) -> str | None:
    if not kept:
        return None
    if kept[0] == _RAW:
        return kept[1:]
    first, second, rest = kept[1:].split(",", 2)
    data = rest.encode("latin-1")
    a, b = int(first), int(first) + int(second)
    return f"{_b64(data[:a])}.{_b64(data[a:b])}.{_b64(data[b:])}"


def pack(s: Session, deadline: float) -> str:
    t = s.tokens
    fields = (
        repr(deadline),
        _opt(s.user_id),
        _opt(t.access_token),
        _opt(t.authentication_token),
        _opt(t.refresh_token),
        _opt(t.expires_in),
        repr(s.created_at),
        repr(s.expires_at),
        repr(s.last_seen),
        _opt(s.access_expires_at),
        s.family,
        _pack_jwt(t.id_token),
    )
    return _SEP.join(fields)


def deadline_of(raw: str) -> float:
    return float(raw[: raw.index(_SEP)])


def user_of(raw: str) -> str | None:
    """The guest of a packed session, without decoding the rest."""
    start = raw.index(_SEP) + 1
    return raw[start : raw.index(_SEP, start)] or None


def unpack(sid: str, raw: str) -> Session:
    (
        _,
        user_id,
        access,
        auth,
        refresh,
        expires_in,
        created,
        expires,
        last_seen,
        access_expires,
        family,
        id_token,
    ) = raw.split(_SEP, _FIELDS - 1)
    return Session(
        sid=sid,
        user_id=user_id or None,
        tokens=PunchhTokens(
            access or None,
            auth or None,
            _unpack_jwt(id_token),
            refresh or None,
            float(expires_in) if expires_in else None,
        ),
        created_at=float(created),
        expires_at=float(expires),
        last_seen=float(last_seen),
        access_expires_at=float(access_expires) if access_expires else None,
        family=family,
    )
