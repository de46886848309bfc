"""The memory store's compact session form: a lossless round trip."""

import pytest

from gateway.sessions import PunchhTokens, Session
from gateway.store.compact import deadline_of, pack, unpack

FULL = Session(
    "sid-1",
    "42",
    PunchhTokens("A", "B", "C.D.E", "R", 1800.0),
    1.5,
    2.25,
    1.75,
    1801.5,
    "password_less",
)
BARE = Session("sid-2", None, PunchhTokens("A"), 1.0, 2.0, 1.0, None, "auth")


@pytest.mark.parametrize("session", [FULL, BARE])
def test_round_trip(session: Session) -> None:
    raw = pack(session, 123.456)
    assert deadline_of(raw) == 123.456
    assert unpack(session.sid, raw) == session
    assert session.sid not in raw  # the key, not repeated
