"""A session as one compact string, for the memory store: one object per session instead of
a dozen (the session, its tokens object, five floats, four token strings, a tuple).
Measured at 100k sessions (bench/session_memory.py). Fields are separated by NUL, which
no token, id or number holds; the store's deadline comes first so that expiry reads it
without decoding the rest; the session id is the dict key, not repeated. Decoding costs
a split, paid only on a store read.
"""

from __future__ import annotations

from gateway.session_record import PunchhTokens, Session

_SEP = "\x00"


def _opt(value: object) -> str:
    if value is None:
        return ""
    return repr(value) if isinstance(value, float) else str(value)


def pack(s: Session, deadline: float) -> str:
    t = s.tokens
    fields = (
        repr(deadline),
        _opt(s.user_id),
        _opt(t.access_token),
        _opt(t.authentication_token),
        _opt(t.id_token),
        _opt(t.refresh_token),
        _opt(t.expires_in),
        repr(s.created_at),
        repr(s.expires_at),
        repr(s.last_seen),
        _opt(s.access_expires_at),
        s.family,
    )
    return _SEP.join(fields)


def deadline_of(raw: str) -> float:
    return float(raw[: raw.index(_SEP)])


def unpack(sid: str, raw: str) -> Session:
    (
        _,
        user_id,
        access,
        auth,
        id_token,
        refresh,
        expires_in,
        created,
        expires,
        last_seen,
        access_expires,
        family,
    ) = raw.split(_SEP)
    return Session(
        sid=sid,
        user_id=user_id or None,
        tokens=PunchhTokens(
            access or None,
            auth or None,
            id_token or None,
            refresh or None,
            float(expires_in) if expires_in else None,
        ),
        created_at=float(created),
        expires_at=float(expires),
        last_seen=float(last_seen),
        access_expires_at=float(access_expires) if access_expires else None,
        family=family,
    )
