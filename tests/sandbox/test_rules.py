"""Pure pieces: signing, families, header parsers, points rules, validation, config, faults."""

from __future__ import annotations

import re
from typing import Any

import pytest

from sandbox import auth, points, signing, validation
from sandbox.faults import FaultBook, parse_rule
from sandbox.tokens import expired
from tests.sandbox.conftest import SECRET, digest, make_config


@pytest.mark.parametrize(
    ("path", "family"),
    [
        ("/api/auth/customers.json", "auth"),
        ("/oauth/token", "oauth"),
        ("/oauth/tokenx", None),
        ("/api2/mobile/users", "mobile"),
        ("/api2/password_less/verify", "password_less"),
        ("/api2/signout", "password_less"),
        ("/api/pos/users/search", "pos"),
        ("/__sandbox/calls", "sandbox"),
        ("/elsewhere", None),
    ],
)
def test_family_for_path(path: str, family: str | None) -> None:
    assert signing.family_for_path(path) == family


@pytest.mark.parametrize(
    ("raw_path", "body", "message"),
    [
        (
            "/api/auth/checkins/balance",
            b'{"client":"CLIENT"}',
            b'/api/auth/checkins/balance{"client":"CLIENT"}',
        ),
        ("/api/auth/users?client=c", b"", b"/api/auth/users?client=c"),
        ("/api/auth/users?", b"", b"/api/auth/users"),
    ],
)
def test_signed_message(raw_path: str, body: bytes, message: bytes) -> None:
    assert signing.signed_message(raw_path, body) == message


@pytest.mark.parametrize("algorithm", ["sha1", "sha256"])
def test_sign_matches_an_independent_hmac(algorithm: str) -> None:
    message = b'/api/auth/checkins/balance{"client":"CLIENT"}'
    expected = digest("/api/auth/checkins/balance", b'{"client":"CLIENT"}', algorithm)
    assert signing.sign(message, SECRET, algorithm) == expected
    assert signing.signature_ok(expected, message, SECRET, algorithm)
    assert not signing.signature_ok(expected.upper(), message, SECRET, algorithm)
    assert not signing.signature_ok(None, message, SECRET, algorithm)
    assert signing.signature_ok(None, message, SECRET, "none")


def test_sha1_known_vector() -> None:
    # RFC 2202 test case 2 for HMAC-SHA1.
    assert signing.sign(b"what do ya want for nothing?", "Jefe", "sha1") == (
        "effcdf6ae5eb2fa2d27416d5f184df9c259a7c79"
    )


@pytest.mark.parametrize(
    ("header", "token"),
    [
        ("Bearer abc", "abc"),
        ("bearer  abc ", "abc"),
        ("Token abc", None),
        ("Bearer", None),
        (None, None),
    ],
)
def test_bearer_token(header: str | None, token: str | None) -> None:
    assert auth.bearer_token(header) == token


@pytest.mark.parametrize(
    ("header", "store"),
    [
        ("Token token=L1, btoken=B", "7"),
        ('Token token="L1", btoken="B"', "7"),
        ("Token btoken=B, token=L1", "7"),
        ("Token token=L2, btoken=B", None),
        ("Token token=L1, btoken=X", None),
        ("Token token=L1", None),
        ("Bearer L1", None),
        (None, None),
    ],
)
def test_pos_store_number(header: str | None, store: str | None) -> None:
    assert auth.pos_store_number(header, "B", {"L1": "7"}) == store


def test_pos_is_closed_without_keys() -> None:
    assert auth.pos_store_number("Token token=, btoken=", "", {"": "7"}) is None
    assert auth.pos_store_number("Token token=L1, btoken=", "", {"L1": "7"}) is None


@pytest.mark.parametrize(
    ("amount", "rate", "earned"), [(12.99, 1, 12), (0.99, 1, 0), (-5, 1, 0), (10, 3, 30)]
)
def test_points_for_receipt(amount: float, rate: int, earned: int) -> None:
    assert points.points_for_receipt(amount, rate) == earned


@pytest.mark.parametrize(
    ("balance", "per_reward", "result"),
    [
        (99, 100, (0, 99)),
        (100, 100, (1, 0)),
        (250, 100, (2, 50)),
        (500, 0, (0, 500)),
        (-3, 100, (0, -3)),
    ],
)
def test_convert(balance: int, per_reward: int, result: tuple[int, int]) -> None:
    assert points.convert(balance, per_reward) == result


def test_discount_pricing_and_cap() -> None:
    assert points.points_for_discount(2.3, 10) == 23
    assert points.points_for_discount(2.35, 10) == 24
    assert points.capped(10.0, 4.5) == 4.5
    assert points.capped(10.0, None) == 10.0
    assert points.reward_name(10.0) == "$10 Off"


def test_expiry_rule_is_strictly_after_ttl() -> None:
    assert not expired(100.0, 10, 110.0)
    assert expired(100.0, 10, 110.001)


def _checkin(**overrides: Any) -> dict[str, Any]:
    body = {
        "external_uid": "u1",
        "receipt_amount": 10,
        "receipt_datetime": "2025-01-02T12:00:00Z",
        "payable": "10.80",
    }
    body.update(overrides)
    return body


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"external_uid": None}, "external_uid"),
        ({"receipt_amount": "ten"}, "receipt_amount"),
        ({"receipt_amount": -1}, "receipt_amount"),
        ({"receipt_datetime": "yesterday"}, "receipt_datetime"),
        ({"payable": ""}, "payable"),
        ({"menu_items": {"item_name": "x"}}, "menu_items"),
        ({"menu_items": [{"item_name": "Pizza", "item_qty": 1}]}, "menu_items"),
    ],
)
def test_checkin_errors(overrides: dict[str, Any], field: str) -> None:
    assert field in validation.checkin_errors(_checkin(**overrides))


def test_checkin_errors_accepts_a_valid_body() -> None:
    item = {
        "item_name": "Pizza",
        "item_qty": 1,
        "item_amount": 10,
        "menu_item_type": "M",
        "menu_item_id": 1,
        "serial_number": "1.0",
    }
    assert validation.checkin_errors(_checkin(menu_items=[item])) == {}


def test_missing_line_item_field() -> None:
    good = {"item_name": "c", "item_qty": 1, "amount": 3, "item_type": "M", "item_id": 1}
    assert validation.missing_line_item_field([good]) is None
    assert validation.missing_line_item_field([]) == "line_items"
    assert validation.missing_line_item_field([good, {**good, "item_qty": None}]) == "item_qty_1"


@pytest.mark.parametrize(
    ("overrides", "fragment"),
    [
        ({"digest_auth": "md5"}, "digest_auth='md5'"),
        ({"access_token_ttl": 0}, "access_token_ttl=0"),
        ({"business_key": None}, "business_key"),
        ({"client_secret": ""}, "client_secret"),
    ],
)
def test_config_rejects_bad_values(overrides: dict[str, Any], fragment: str) -> None:
    with pytest.raises(ValueError, match=re.escape(fragment)):
        make_config(**overrides)


def test_config_keeps_secrets_out_of_repr() -> None:
    text = repr(make_config())
    assert SECRET not in text
    assert "biz-key" not in text
    assert "loc-key" not in text


@pytest.mark.parametrize(
    ("data", "fragment"),
    [
        ({"reset": "sideways"}, "reset="),
        ({"status": 42}, "status="),
        ({"latency_ms": -1}, "latency_ms="),
        ({"times": 0, "status": 503}, "times="),
        ({}, "a fault needs"),
        ({"nope": 1}, "unknown fault fields"),
    ],
)
def test_parse_rule_rejects(data: dict[str, Any], fragment: str) -> None:
    with pytest.raises(ValueError, match=re.escape(fragment)):
        parse_rule(data, 1)


def test_fault_book_spends_times_and_matches_method_and_path() -> None:
    book = FaultBook()
    book.add({"method": "post", "path": "/a", "status": 503, "times": 2})
    assert book.take("GET", "/a") is None
    assert book.take("POST", "/b") is None
    assert book.take("POST", "/a") is not None
    assert book.take("POST", "/a") is not None
    assert book.take("POST", "/a") is None
    assert book.rules() == []
