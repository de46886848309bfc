"""The gateway session token: a JWT (HS256, RFC 7519) that stands in for Punchh's tokens.

Claims: `sid` (random session id, the store key), `sub` (Punchh user id, when known),
`iat`, `exp`, `iss`, and `bus`: the business the session belongs to (absent for the
`default` business, so single-business tokens are as they were); header `kid` names the
signing key. Time is passed in, never read.
Anything not exactly right — unknown kid, another alg (`none` included), a bad
signature, a missing claim, expiry — is `InvalidToken`, whose message is safe to show.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Mapping
from dataclasses import dataclass

import jwt

ALGORITHM = "HS256"
ISSUER = "loyalty-gateway"
LEEWAY_SECONDS = 5


class InvalidToken(Exception):
    pass


@dataclass(frozen=True, slots=True)
class TokenClaims:
    sid: str
    sub: str | None
    iat: int
    exp: int
    bus: str | None = None  # the business; None: `default`


def key_id(secret: bytes) -> str:
    """A stable, non-reversible name for a key: rotating the secret changes the kid."""
    return hashlib.sha256(b"loyalty-gateway/kid\x00" + secret).hexdigest()[:12]


def guest_tag(user_id: str) -> str:
    """Eight hex characters naming a guest's Redis Cluster hash tag: every session of one
    guest and its index share a slot, and guests spread over every slot."""
    return hashlib.blake2s(user_id.encode(), digest_size=4).hexdigest()


def new_session_id(user_id: str | None = None) -> str:
    """`{<guest tag>}<192 random bits>`: the braces are the Redis hash tag of the session's
    keys (gateway/store/redis.py); a session without a guest gets a random tag."""
    tag = guest_tag(user_id) if user_id else secrets.token_hex(4)
    return "{" + tag + "}" + secrets.token_urlsafe(24)


def encode_session_token(claims: TokenClaims, secret: bytes) -> str:
    payload: dict[str, object] = {
        "iss": ISSUER,
        "sid": claims.sid,
        "iat": claims.iat,
        "exp": claims.exp,
    }
    if claims.sub is not None:
        payload["sub"] = claims.sub
    if claims.bus is not None:
        payload["bus"] = claims.bus
    return jwt.encode(payload, secret, algorithm=ALGORITHM, headers={"kid": key_id(secret)})


def decode_session_token(token: str, keys: Mapping[str, bytes], now: float) -> TokenClaims:
    """`keys` maps kid to secret: the current key and any still accepted after a rotation."""
    try:
        header = jwt.get_unverified_header(token)
    except jwt.PyJWTError:
        raise InvalidToken("malformed session token") from None
    secret = keys.get(str(header.get("kid", "")))
    if secret is None or header.get("alg") != ALGORITHM:
        raise InvalidToken("unknown session token key")
    try:
        payload = jwt.decode(
            token,
            secret,
            algorithms=[ALGORITHM],
            issuer=ISSUER,
            options={
                "require": ["sid", "iat", "exp", "iss"],
                "verify_exp": False,
                "verify_iat": False,
            },
        )
    except jwt.PyJWTError:
        raise InvalidToken("invalid session token") from None
    sid, sub, iat, exp = payload["sid"], payload.get("sub"), payload["iat"], payload["exp"]
    if not isinstance(sid, str) or not isinstance(iat, int) or not isinstance(exp, int):
        raise InvalidToken("invalid session token")
    if sub is not None and not isinstance(sub, str):
        raise InvalidToken("invalid session token")
    bus = payload.get("bus")
    if bus is not None and not isinstance(bus, str):
        raise InvalidToken("invalid session token")
    if now > exp + LEEWAY_SECONDS:
        raise InvalidToken("session token expired")
    if iat > now + LEEWAY_SECONDS:
        raise InvalidToken("session token issued in the future")
    return TokenClaims(sid=sid, sub=sub, iat=iat, exp=exp, bus=bus)
