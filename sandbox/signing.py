"""Which Punchh API family a path is in, and its ``x-pch-digest`` signature (pure).

Signature (docs/punchh.md, "The request signature"): key = client secret; message = the raw path,
then ``?`` + the raw query only when the query is non-empty, then the raw body bytes;
lowercase hex HMAC. SHA1 for /api/auth and /oauth/token, SHA256 for /api2/mobile, none
for /api/pos and /api2/password_less: each family's algorithm comes from the config.
"""

from __future__ import annotations

import hmac
from typing import Any, Literal

from sandbox.config import SandboxConfig

Family = Literal["auth", "oauth", "mobile", "password_less", "pos", "sandbox"]

# A pattern ending in "/" is a prefix; any other is an exact path.
_FAMILIES: tuple[tuple[str, Family], ...] = (
    ("/__sandbox/", "sandbox"),
    ("/api/auth/", "auth"),
    ("/oauth/token", "oauth"),
    ("/api2/mobile/", "mobile"),
    ("/api2/password_less/", "password_less"),
    ("/api2/signout", "password_less"),
    ("/api/pos/", "pos"),
    ("/receipt_details", "pos"),
)


def family_for_path(path: str) -> Family | None:
    """The family of a request path (no query), or None for paths outside every family."""
    for pattern, family in _FAMILIES:
        if path.startswith(pattern) if pattern.endswith("/") else path == pattern:
            return family
    return None


def algorithm_for(family: Family, cfg: SandboxConfig) -> str:
    """The digest algorithm a family is signed with: "sha1", "sha256" or "none"."""
    if family == "auth":
        return cfg.digest_auth
    if family == "oauth":
        return cfg.digest_oauth
    if family == "mobile":
        return cfg.digest_mobile
    if family == "password_less":
        return cfg.digest_password_less
    return "none"


def signed_message(raw_path: str, body: bytes) -> bytes:
    """What is signed: raw path + ("?" + raw query, when non-empty) + body bytes."""
    path, _, query = raw_path.partition("?")
    return (path + ("?" + query if query else "")).encode() + body


def sign(message: bytes, secret: str, algorithm: str) -> str:
    """Lowercase hex HMAC of ``message`` under ``secret`` ("sha1" or "sha256")."""
    return hmac.new(secret.encode(), message, algorithm).hexdigest()


def signature_ok(given: str | None, message: bytes, secret: str, algorithm: str) -> bool:
    """True when ``given`` is exactly the expected digest (always true for "none")."""
    if algorithm == "none":
        return True
    if not given:
        return False
    expected = sign(message, secret, algorithm)
    return hmac.compare_digest(given.encode(), expected.encode())


def invalid_signature_body(family: Family) -> Any:
    """Punchh's 412 body: a bare list for Online Ordering, an errors object for api2."""
    if family in ("auth", "oauth"):
        return ["Invalid Signature"]
    return {"errors": {"invalid_signature": ["Invalid Signature"]}}
