"""x-pch-digest vectors, computed independently with `openssl dgst -<alg> -hmac <key>`."""

import pytest

from gateway.signing import DigestAlgorithm, Signer, digest_for, sign, signing_message

BALANCE_MSG = b'/api/auth/checkins/balance{"client":"CLIENT"}'
LOGIN_BODY = b'{"client":"c","user":{"email":"a@b.co","password":"p4ssw0rd!"}}'


@pytest.mark.parametrize(
    ("path", "query", "body", "secret", "alg", "expected"),
    [
        (
            "/api/auth/checkins/balance",
            "",
            b'{"client":"CLIENT"}',
            b"SECRET",
            "sha1",
            "2c857a09ca55cf4ccc993d2cf92629febedf652d",
        ),
        (
            "/api/auth/checkins/balance",
            "",
            b'{"client":"CLIENT"}',
            b"SECRET",
            "sha256",
            "511ca0e6b75c5f2f6c4f482ea99902d3398a9e9a8715e8ab3a872ddacd8b7bd2",
        ),
        (
            "/api/auth/users",
            "client=abc&x=1",
            b"",
            b"secret-key",
            "sha1",
            "e7c421a69fc62c78512c6844a5e6a4b5feac2ed6",
        ),
        (
            "/api/auth/users",
            "client=abc&x=1",
            b"",
            b"secret-key",
            "sha256",
            "fb722dcaac1674ec880efddfce0699e5b4d5a193c8f12b1790af9c4a9e0e28f9",
        ),
        (
            "/api2/mobile/users/login",
            "",
            LOGIN_BODY,
            b"mobile-secret",
            "sha1",
            "91ed65400e05e731e40d60994a657b708701b0cc",
        ),
        (
            "/api2/mobile/users/login",
            "",
            LOGIN_BODY,
            b"mobile-secret",
            "sha256",
            "61f870777a0bcf079f70321d7bfbeed03742168170c9fc153eb1e1367bbd8bb8",
        ),
    ],
)
def test_digest_vectors(
    path: str, query: str, body: bytes, secret: bytes, alg: str, expected: str
) -> None:
    assert digest_for(path, query, body, secret, alg) == expected  # type: ignore[arg-type]


def test_message_is_uri_then_body() -> None:
    assert signing_message("/api/auth/checkins/balance", "", b'{"client":"CLIENT"}') == BALANCE_MSG
    assert signing_message("/p", "a=1", b"") == b"/p?a=1"
    assert signing_message("/p", "", b"") == b"/p"


def test_unsigned_family_has_no_digest() -> None:
    assert sign(b"anything", b"key", "none") is None


def test_one_byte_changes_the_digest() -> None:
    a = digest_for("/api/auth/users", "", b'{"a":1}', b"k", "sha1")
    b = digest_for("/api/auth/users", "", b'{"a": 1}', b"k", "sha1")
    assert a != b


@pytest.mark.parametrize("algorithm", ["sha1", "sha256", "none"])
def test_the_keyed_signer_gives_the_same_digest(algorithm: DigestAlgorithm) -> None:
    signer = Signer(b"secret-value", algorithm)
    for path, query, body in (("/api/auth/x", "", b'{"a":1}'), ("/api2/mobile/y", "q=1", b"")):
        assert signer.digest(path, query, body) == digest_for(
            path, query, body, b"secret-value", algorithm
        )
    assert "secret" not in repr(signer)
