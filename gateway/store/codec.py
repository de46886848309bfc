"""A session as bytes for a shared store, its Punchh tokens sealed with AES-256-GCM.

The tokens are encrypted with a key from the environment (GATEWAY_STORE_KEY); the
associated data is the rest of the record with the session id of the key it is read
from (not the id the record claims): a Redis dump alone yields no usable Punchh token, a
record copied onto another session's key does not open, and neither does one whose
guest, lifetime or family was edited. A record that does not open (another key, a move,
tampering) reads as no session, with a WARNING. Version 1 records (sealed with the
session id alone) still open under their own key until they expire.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from gateway.session_record import PunchhTokens, Session

VERSION = 2
_FIELDS = ("user_id", "created_at", "expires_at", "last_seen", "access_expires_at", "family")


class UnreadableRecord(Exception):
    pass


class TokenCipher:
    def __init__(self, key_material: bytes) -> None:
        # The configured secret is text of 32+ characters; SHA-256 makes it a 256-bit key.
        self._aead = AESGCM(hashlib.sha256(b"loyalty-gateway/store\x00" + key_material).digest())

    def __repr__(self) -> str:
        return "TokenCipher(<key hidden>)"

    def seal(self, plaintext: bytes, aad: bytes) -> str:
        nonce = os.urandom(12)
        return base64.urlsafe_b64encode(nonce + self._aead.encrypt(nonce, plaintext, aad)).decode()

    def open(self, sealed: str, aad: bytes) -> bytes:
        try:
            raw = base64.urlsafe_b64decode(sealed)
            return self._aead.decrypt(raw[:12], raw[12:], aad)
        except (InvalidTag, ValueError):
            raise UnreadableRecord("sealed tokens do not open") from None


def _bound(record: dict[str, Any], sid: str) -> bytes:
    """The associated data: the version, the key's session id and every other field."""
    fields = [record["v"], sid, *(record[name] for name in _FIELDS)]
    return json.dumps(fields, separators=(",", ":")).encode()


def dump_session(session: Session, cipher: TokenCipher) -> bytes:
    t = session.tokens
    tokens = json.dumps(
        [t.access_token, t.authentication_token, t.id_token, t.refresh_token, t.expires_in]
    ).encode()
    record: dict[str, Any] = {
        "v": VERSION,
        "sid": session.sid,
        "user_id": session.user_id,
        "created_at": session.created_at,
        "expires_at": session.expires_at,
        "last_seen": session.last_seen,
        "access_expires_at": session.access_expires_at,
        "family": session.family,
    }
    record["tokens"] = cipher.seal(tokens, _bound(record, session.sid))
    return json.dumps(record, separators=(",", ":")).encode()


def load_session(raw: bytes, cipher: TokenCipher, sid: str) -> Session:
    """The session stored under `sid`'s key; UnreadableRecord unless it was sealed there."""
    try:
        record: Any = json.loads(raw)
        if not isinstance(record, dict) or record.get("v") not in (1, VERSION):
            raise UnreadableRecord("not a session record of this version")
        if record.get("sid") != sid:
            raise UnreadableRecord("record of another session id")
        aad = sid.encode() if record["v"] == 1 else _bound(record, sid)
        access, auth, id_token, refresh, expires_in = json.loads(cipher.open(record["tokens"], aad))
        return Session(
            sid=sid,
            user_id=record["user_id"],
            tokens=PunchhTokens(access, auth, id_token, refresh, expires_in),
            created_at=float(record["created_at"]),
            expires_at=float(record["expires_at"]),
            last_seen=float(record["last_seen"]),
            access_expires_at=record["access_expires_at"],
            family=str(record["family"]),
        )
    except (ValueError, KeyError, TypeError, OverflowError) as exc:
        raise UnreadableRecord(f"unreadable session record: {type(exc).__name__}") from None
