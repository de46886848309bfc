"""Policy keys, merging configuration into the built-ins, and the header fields."""

from __future__ import annotations

from typing import Any

import pytest

from gateway.errors import InvalidIdentifier
from gateway.ratelimit.gcra import Decision, Rate
from gateway.ratelimit.headers import rate_limit_headers
from gateway.ratelimit.policies import (
    BUILT_IN,
    Policy,
    account_of,
    check_overrides,
    key_for,
    merge,
    target_of,
)
from gateway.routes import PUNCHH_ROUTES

BY_NAME = {p.name: p for p in BUILT_IN}


@pytest.mark.parametrize(
    ("body", "target", "account"),
    [
        ({"phone": "(555) 010-0199"}, "5550100199", "5550100199"),
        ({"email": " Ada@Example.com"}, "ada@example.com", "ada@example.com"),
        ({"user": {"email": "B@x.co", "password": "p"}}, None, "b@x.co"),
        ({"user": {"phone": "555-010-0100"}}, None, "5550100100"),
        ({}, None, None),
        (None, None, None),
        ({"phone": 5550100101}, "5550100101", "5550100101"),  # a JSON number is the same phone
    ],
)
def test_targets_and_accounts(body: Any, target: str | None, account: str | None) -> None:
    assert target_of(body) == target
    assert account_of(body, "password_less" if "user" not in (body or {}) else "auth") == account


@pytest.mark.parametrize(
    "body",
    [
        {"email": True},  # a bool is no email (it was: no target, so no budget at all)
        {"email": 1, "phone": "5550107777"},
        {"phone": ["5550107777"]},
        {"phone": {"x": "5550107777"}},
        {"phone": 5550107777.0},
        {"email": ["a@b.co"]},
    ],
)
def test_an_identifier_of_another_json_type_is_refused(body: Any) -> None:
    """Not counted was not refused: Punchh still reached the number (issue 15, finding 1)."""
    with pytest.raises(InvalidIdentifier):
        target_of(body)
    with pytest.raises(InvalidIdentifier):
        account_of(body, "password_less")
    with pytest.raises(InvalidIdentifier):
        account_of({"user": body}, "auth")


def test_a_user_that_is_not_an_object_is_refused_and_no_user_is_no_account() -> None:
    with pytest.raises(InvalidIdentifier):
        account_of({"user": ["a@b.co"]}, "auth")
    assert account_of({"code": "sso-code"}, "oauth") is None


def test_account_is_read_where_punchh_reads_it() -> None:
    decoy = {"email": "victim@x.co", "user": {"email": "decoy@x.co"}}
    assert account_of(decoy, "password_less") == "victim@x.co"  # OTP verify: top level
    assert account_of(decoy, "auth") == "decoy@x.co"  # password sign-in: user.email
    assert account_of({"email": "top@x.co"}, "auth") is None


def test_keys() -> None:
    kw: dict[str, Any] = {"ip": "203.0.113.9", "session": "sid-1", "body": {"phone": "5550100199"}}
    assert key_for(BY_NAME["ip"], **kw) == "ip:203.0.113.9"
    assert key_for(BY_NAME["session"], **kw) == "session:sid-1"
    assert key_for(BY_NAME["otp_target"], **kw) == "otp_target:5550100199"
    assert key_for(BY_NAME["session"], ip="1.2.3.4", session=None, body=None) is None
    assert key_for(BY_NAME["otp_target"], ip="1.2.3.4", session=None, body={}) is None


def test_sign_in_keys_per_account_and_per_account_and_address() -> None:
    body = {"user": {"email": " Victim@X.co ", "password": "guess"}}
    kw: dict[str, Any] = {"session": None, "body": body, "family": "auth"}
    assert key_for(BY_NAME["sign_in_account"], ip="203.0.113.9", **kw) == (
        "sign_in_account:victim@x.co"
    )
    assert key_for(BY_NAME["sign_in_account_ip"], ip="203.0.113.9", **kw) == (
        "sign_in_account_ip:victim@x.co|203.0.113.9"
    )
    # An IPv6 client's /64 is one address here too.
    assert key_for(BY_NAME["sign_in_account_ip"], ip="2001:db8::7", **kw) == (
        "sign_in_account_ip:victim@x.co|2001:db8::/64"
    )
    assert key_for(BY_NAME["sign_in_account_ip"], ip="", **kw) is None
    no_account: dict[str, Any] = {"session": None, "body": {"code": "c"}, "family": "oauth"}
    assert key_for(BY_NAME["sign_in_account_ip"], ip="203.0.113.9", **no_account) is None
    # The defaults the issue names: 5 per (account, address), 50 per account, per 900 s.
    pair = BY_NAME["sign_in_account_ip"], BY_NAME["sign_in_account"]
    assert [(p.rate.limit, p.rate.window, p.counts) for p in pair] == [
        (5, 900, "failures"),
        (50, 900, "failures"),
    ]
    names = [p.name for p in BUILT_IN]
    assert names.index("sign_in_account_ip") < names.index("sign_in_account")


def test_every_abuse_class_is_covered_by_a_built_in_policy() -> None:
    classes = {r.abuse_class for r in PUNCHH_ROUTES if r.abuse_class}
    assert classes == {"otp_send", "sign_in", "sign_up", "password_reset"}
    for abuse in classes:
        covering = [p.name for p in BUILT_IN if abuse in p.classes]
        assert covering, abuse
    assert all(
        BY_NAME[n].fail_closed
        for n in (
            "otp_target",
            "otp_ip",
            "sign_in_account_ip",
            "sign_in_account",
            "sign_in_ip",
            "sign_up_ip",
            "password_reset_target",
        )
    )
    assert not BY_NAME["ip"].fail_closed


def test_merge_overrides_disables_and_adds() -> None:
    policies = {
        p.name: p
        for p in merge(
            {
                "ip": {"limit": 50},
                "session": {"enabled": False},
                "pos_devices": {
                    "key": "ip",
                    "routes": ["pos"],
                    "limit": 100,
                    "window": 1,
                    "fail": "closed",
                },
            }
        )
    }
    assert policies["ip"].rate == Rate(50, 60.0)
    assert "session" not in policies
    assert policies["pos_devices"] == Policy(
        "pos_devices", "ip", frozenset({"pos"}), Rate(100, 1.0), "requests", True
    )
    assert policies["otp_target"] == BY_NAME["otp_target"]


def test_check_overrides_names_each_problem() -> None:
    good, problems = check_overrides(
        {
            "ip": {"limit": 0, "bogus": 1},
            "new": {"routes": ["nowhere"]},
            "otp_target": {"window": 120},
            "flat": 5,
        }
    )
    assert good == {"otp_target": {"window": 120}}
    assert "rate_limit.policies.ip.bogus: unknown key" in problems
    assert "rate_limit.policies.ip.limit = 0: expected an integer from 1 to 1000000" in problems
    assert any(p.startswith("rate_limit.policies.new.routes = ['nowhere']") for p in problems)
    assert "rate_limit.policies.new.key: required for a new policy" in problems
    assert "rate_limit.policies.flat: expected a table" in problems


def test_header_fields() -> None:
    d = Decision(True, 5_000_000, 41, 0.0, 1.2)
    headers = rate_limit_headers([(BY_NAME["ip"], d), (BY_NAME["otp_ip"], d)])
    assert headers == {
        "RateLimit-Policy": '"ip";q=600;w=60, "otp_ip";q=10;w=3600',
        "RateLimit": '"ip";r=41;t=2, "otp_ip";r=41;t=2',
    }
    assert rate_limit_headers([]) == {}
