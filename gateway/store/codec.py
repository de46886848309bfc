"""A session as bytes for a shared store, its Punchh tokens sealed with AES-256-GCM.

The tokens are encrypted with a key from the environment (GATEWAY_STORE_KEY), bound to
the session id as associated data: a Redis dump alone yields no usable Punchh token,
and a sealed blob moved to another session id does not open. A record that does not
open (another key, tampering) reads as no session.
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

VERSION = 1


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


def dump_session(session: Session, cipher: TokenCipher) -> bytes:
    t = session.tokens
    tokens = json.dumps(
        [t.access_token, t.authentication_token, t.id_token, t.refresh_token, t.expires_in]
    ).encode()
    record = {
        "v": VERSION,
        "sid": session.sid,
        "user_id": session.user_id,
        "created_at": session.created_at,
        "expires_at": session.expires_at,
        "last_seen": session.last_seen,
        "access_expires_at": session.access_expires_at,
        "family": session.family,
        "tokens": cipher.seal(tokens, session.sid.encode()),
    }
    return json.dumps(record, separators=(",", ":")).encode()


def load_session(raw: bytes, cipher: TokenCipher) -> Session:
    try:
        record: Any = json.loads(raw)
        if not isinstance(record, dict) or record.get("v") != VERSION:
            raise UnreadableRecord("not a session record of this version")
        sid = str(record["sid"])
        access, auth, id_token, refresh, expires_in = json.loads(
            cipher.open(record["tokens"], sid.encode())
        )
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
    except (ValueError, KeyError, TypeError) as exc:
        raise UnreadableRecord(f"unreadable session record: {type(exc).__name__}") from None
