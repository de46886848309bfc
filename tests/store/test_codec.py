"""Session records for a shared store: tokens sealed, bound to their session id."""

import json

import pytest

from gateway.sessions import PunchhTokens, Session
from gateway.store.codec import TokenCipher, UnreadableRecord, dump_session, load_session

SESSION = Session(
    sid="sid-1",
    user_id="42",
    tokens=PunchhTokens("ACC-s", "AUTH-s", "ID-s", "REF-s", 1800.0),
    created_at=100.0,
    expires_at=200.0,
    last_seen=150.0,
    access_expires_at=1900.0,
    family="password_less",
)
CIPHER = TokenCipher(b"c" * 40)


def test_round_trip() -> None:
    assert load_session(dump_session(SESSION, CIPHER), CIPHER) == SESSION


def test_tokens_are_not_in_the_record() -> None:
    raw = dump_session(SESSION, CIPHER)
    for token in ("ACC-s", "AUTH-s", "ID-s", "REF-s"):
        assert token.encode() not in raw
    assert json.loads(raw)["user_id"] == "42"


def test_another_key_does_not_open() -> None:
    with pytest.raises(UnreadableRecord):
        load_session(dump_session(SESSION, CIPHER), TokenCipher(b"d" * 40))


def test_sealed_tokens_moved_to_another_session_do_not_open() -> None:
    record = json.loads(dump_session(SESSION, CIPHER))
    record["sid"] = "sid-2"
    with pytest.raises(UnreadableRecord):
        load_session(json.dumps(record).encode(), CIPHER)


@pytest.mark.parametrize("raw", [b"", b"{", b"[]", b'{"v": 2}', b'{"v": 1, "sid": "x"}'])
def test_garbage_is_unreadable(raw: bytes) -> None:
    with pytest.raises(UnreadableRecord):
        load_session(raw, CIPHER)


def test_cipher_repr_hides_the_key() -> None:
    assert "c" * 10 not in repr(CIPHER)
