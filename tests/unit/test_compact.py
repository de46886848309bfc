"""The memory store's compact session form: a lossless round trip."""

import pytest

from gateway.sessions import PunchhTokens, Session
from gateway.store.compact import deadline_of, pack, unpack, user_of

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


def _jwt(payload_size: int) -> str:
    import base64
    import os

    def part(raw: bytes) -> str:
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()

    # Random bytes: every byte value appears, NUL and "," included.
    header, payload, signature = b'{"alg":"RS256"}', os.urandom(payload_size), os.urandom(256)
    return ".".join(part(p) for p in (header, payload, signature))


@pytest.mark.parametrize(
    "id_token",
    [
        _jwt(500),
        _jwt(0),
        _jwt(1),
        "C.D.E",  # "C" does not decode canonically: kept as sent
        "eyJh.eyJi.",  # an empty signature
        "abc.def",  # not three parts
        "a\u00e9.b.c",  # not ASCII
        "YQ==.YQ.YQ",  # padded: not what a JWT carries, kept as sent
        "YR.YQ.YQ",  # non-canonical trailing bits
    ],
)
def test_id_tokens_round_trip_whatever_their_form(id_token: str) -> None:
    session = Session(
        "sid-3", "42", PunchhTokens("A", None, id_token, None), 1.0, 2.0, 1.0, None, "x"
    )
    raw = pack(session, 9.5)
    assert unpack("sid-3", raw) == session
    assert deadline_of(raw) == 9.5
    assert user_of(raw) == "42"


def test_a_jwt_id_token_is_kept_a_quarter_smaller() -> None:
    token = _jwt(500)
    session = Session("s", "7", PunchhTokens("A", None, token, None), 1.0, 2.0, 1.0, None, "x")
    plain = Session("s", "7", PunchhTokens("A", None, None, None), 1.0, 2.0, 1.0, None, "x")
    kept = len(pack(session, 1.0)) - len(pack(plain, 1.0))
    assert kept < 0.8 * len(token)
    assert user_of(pack(plain, 1.0)) == "7"
    assert user_of(pack(BARE, 1.0)) is None
