"""The `x-pch-digest` request signature (docs/punchh.md, "The request signature").

message = path + ("?" + query when there is one) + body bytes; HMAC with the client
secret, lowercase hex. SHA1 for Online Ordering and /oauth, SHA256 for Mobile.
"""

from __future__ import annotations

import hmac
from typing import Literal

DigestAlgorithm = Literal["sha1", "sha256", "none"]
DIGEST_ALGORITHMS: tuple[str, ...] = ("sha1", "sha256", "none")


def signing_message(path: str, query: str, body: bytes) -> bytes:
    """The exact bytes Punchh signs: the URI without scheme and host, then the body."""
    uri = f"{path}?{query}" if query else path
    return uri.encode("ascii") + body


def sign(message: bytes, secret: bytes, algorithm: DigestAlgorithm) -> str | None:
    """Lowercase hex HMAC of `message`, or None for an unsigned family."""
    if algorithm == "none":
        return None
    return hmac.new(secret, message, algorithm).hexdigest()


def digest_for(
    path: str, query: str, body: bytes, secret: bytes, algorithm: DigestAlgorithm
) -> str | None:
    return sign(signing_message(path, query, body), secret, algorithm)


class Signer:
    """`digest_for` with the key set up once: an HMAC keyed at start-up is copied per
    request instead of padding the key again (a route's call template holds one)."""

    __slots__ = ("_mac",)

    def __init__(self, secret: bytes, algorithm: DigestAlgorithm) -> None:
        self._mac = None if algorithm == "none" else hmac.new(secret, digestmod=algorithm)

    def __repr__(self) -> str:
        return "Signer(...)"  # never the key

    def digest(self, path: str, query: str, body: bytes) -> str | None:
        if self._mac is None:
            return None
        mac = self._mac.copy()
        mac.update(signing_message(path, query, body))
        return mac.hexdigest()
