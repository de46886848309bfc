"""Session records for a shared store: tokens sealed, bound to the key they are read from
and to the rest of the record."""

import json

import pytest

from gateway.sessions import PunchhTokens, Session
from gateway.store.codec import (
    TokenCipher,
    UnreadableRecord,
    dump_session,
    load_session,
)

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
    assert load_session(dump_session(SESSION, CIPHER), CIPHER, "sid-1") == SESSION


def test_tokens_are_not_in_the_record() -> None:
    raw = dump_session(SESSION, CIPHER)
    for token in ("ACC-s", "AUTH-s", "ID-s", "REF-s"):
        assert token.encode() not in raw
    assert json.loads(raw)["user_id"] == "42"


def test_another_key_does_not_open() -> None:
    with pytest.raises(UnreadableRecord):
        load_session(dump_session(SESSION, CIPHER), TokenCipher(b"d" * 40), "sid-1")


def test_sealed_tokens_moved_to_another_session_do_not_open() -> None:
    record = json.loads(dump_session(SESSION, CIPHER))
    record["sid"] = "sid-2"
    with pytest.raises(UnreadableRecord):
        load_session(json.dumps(record).encode(), CIPHER, "sid-2")


def test_a_record_copied_onto_another_sessions_key_does_not_open() -> None:
    """Issue 15, finding 4: the victim's whole value under the attacker's key."""
    with pytest.raises(UnreadableRecord):
        load_session(dump_session(SESSION, CIPHER), CIPHER, "sid-2")


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("user_id", "43"),
        ("expires_at", 9e9),
        ("last_seen", 151.0),
        ("access_expires_at", None),
        ("family", "auth"),
    ],
)
def test_an_edited_record_does_not_open(field: str, value: object) -> None:
    record = json.loads(dump_session(SESSION, CIPHER))
    record[field] = value
    with pytest.raises(UnreadableRecord):
        load_session(json.dumps(record).encode(), CIPHER, "sid-1")


def test_a_version_1_record_opens_under_its_own_key_only() -> None:
    """Records written before version 2 (sealed with the session id alone) survive an
    upgrade, under the key they were written to."""
    t = SESSION.tokens
    tokens = json.dumps(
        [t.access_token, t.authentication_token, t.id_token, t.refresh_token, t.expires_in]
    ).encode()
    record = {
        "v": 1,
        "sid": "sid-1",
        "user_id": "42",
        "created_at": 100.0,
        "expires_at": 200.0,
        "last_seen": 150.0,
        "access_expires_at": 1900.0,
        "family": "password_less",
        "tokens": CIPHER.seal(tokens, b"sid-1"),
    }
    raw = json.dumps(record).encode()
    assert load_session(raw, CIPHER, "sid-1") == SESSION
    with pytest.raises(UnreadableRecord):
        load_session(raw, CIPHER, "sid-2")


@pytest.mark.parametrize("raw", [b"", b"{", b"[]", b'{"v": 2}', b'{"v": 1, "sid": "x"}'])
def test_garbage_is_unreadable(raw: bytes) -> None:
    with pytest.raises(UnreadableRecord):
        load_session(raw, CIPHER, "x")


def test_cipher_repr_hides_the_key() -> None:
    assert "c" * 10 not in repr(CIPHER)
