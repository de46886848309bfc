"""Session token codec: round trip, and every forgery is InvalidToken."""

import base64
import json

import jwt
import pytest

from gateway.tokens import (
    InvalidToken,
    TokenClaims,
    decode_session_token,
    encode_session_token,
    key_id,
)

KEY = b"k" * 40
OTHER = b"o" * 40
KEYS = {key_id(KEY): KEY}
CLAIMS = TokenClaims(sid="sid-1", sub="42", iat=1_000, exp=2_000)


def _b64(doc: dict[str, object]) -> str:
    return base64.urlsafe_b64encode(json.dumps(doc).encode()).rstrip(b"=").decode()


def test_round_trip() -> None:
    token = encode_session_token(CLAIMS, KEY)
    assert decode_session_token(token, KEYS, now=1_500) == CLAIMS
    header = jwt.get_unverified_header(token)
    assert header == {"alg": "HS256", "kid": key_id(KEY), "typ": "JWT"}


def test_sub_is_optional() -> None:
    claims = TokenClaims(sid="s", sub=None, iat=1_000, exp=2_000)
    assert decode_session_token(encode_session_token(claims, KEY), KEYS, 1_500).sub is None


def test_key_id_is_stable_and_distinct() -> None:
    assert key_id(KEY) == key_id(KEY)
    assert key_id(KEY) != key_id(OTHER)
    assert KEY.decode() not in key_id(KEY)


def test_rotation_accepts_listed_keys_only() -> None:
    old = encode_session_token(CLAIMS, OTHER)
    assert decode_session_token(old, {**KEYS, key_id(OTHER): OTHER}, 1_500) == CLAIMS
    with pytest.raises(InvalidToken):
        decode_session_token(old, KEYS, 1_500)


def _forgeries() -> list[tuple[str, str]]:
    good = encode_session_token(CLAIMS, KEY)
    head, payload, sig = good.split(".")
    tampered = _b64(
        {"iss": "loyalty-gateway", "sid": "sid-2", "sub": "43", "iat": 1000, "exp": 2000}
    )
    alg_none = ".".join(
        [
            _b64({"alg": "none", "kid": key_id(KEY), "typ": "JWT"}),
            payload,
            "",
        ]
    )
    same_kid_other_key = jwt.encode(
        {"iss": "loyalty-gateway", "sid": "s", "iat": 1000, "exp": 2000},
        OTHER,
        algorithm="HS256",
        headers={"kid": key_id(KEY)},
    )
    hs512 = jwt.encode(
        {"iss": "loyalty-gateway", "sid": "s", "iat": 1000, "exp": 2000},
        KEY + KEY,
        algorithm="HS512",
        headers={"kid": key_id(KEY)},
    )
    no_sid = jwt.encode(
        {"iss": "loyalty-gateway", "iat": 1000, "exp": 2000},
        KEY,
        algorithm="HS256",
        headers={"kid": key_id(KEY)},
    )
    other_issuer = jwt.encode(
        {"iss": "punchh", "sid": "s", "iat": 1000, "exp": 2000},
        KEY,
        algorithm="HS256",
        headers={"kid": key_id(KEY)},
    )
    return [
        ("tampered payload", f"{head}.{tampered}.{sig}"),
        ("alg none", alg_none),
        ("wrong key", same_kid_other_key),
        ("unknown kid", encode_session_token(CLAIMS, OTHER)),
        ("other alg", hs512),
        ("missing sid", no_sid),
        ("other issuer", other_issuer),
        ("garbage", "not.a.jwt"),
        ("empty", ""),
    ]


@pytest.mark.parametrize(("name", "token"), _forgeries())
def test_forgeries_are_rejected(name: str, token: str) -> None:
    with pytest.raises(InvalidToken):
        decode_session_token(token, KEYS, 1_500)


def test_expiry_uses_the_given_clock() -> None:
    token = encode_session_token(CLAIMS, KEY)
    decode_session_token(token, KEYS, now=2_004)  # within the 5 s leeway
    with pytest.raises(InvalidToken, match="expired"):
        decode_session_token(token, KEYS, now=2_006)
    with pytest.raises(InvalidToken, match="future"):
        decode_session_token(token, KEYS, now=900)
