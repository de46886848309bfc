"""Token extraction and rewriting over the three answer shapes in REFERENCE.md."""

import copy
import json
from typing import Any

import jwt
import pytest

from gateway.sessions import PunchhTokens
from gateway.translate import (
    presented_token,
    rewrite_login,
    rewrite_query,
    rewrite_request_fields,
    scrub,
    take_tokens,
)

ID_TOKEN = jwt.encode({"sub": "77", "email": "g@example.com"}, "x" * 32, algorithm="HS256")

ONLINE = {
    "id": 12,
    "user_id": 12,
    "email": "g@example.com",
    "authentication_token": "AUTH-1",
    "access_token": "ACCESS-1",
    "referral_code": "REF",
}
MOBILE = {
    "user": {"id": 34, "email": "m@example.com"},
    "access_token": {
        "token": "ACCESS-2",
        "refresh_token": "REFRESH-2",
        "seconds_to_expire": 7200,
        "revoked_at": None,
        "scopes": ["all"],
    },
}
OTP = {
    "data": {
        "access_token": "ACCESS-3",
        "id_token": ID_TOKEN,
        "refresh_token": "REFRESH-3",
        "token_type": "Bearer",
        "expires_in": 1800,
    }
}
OTP_TOP = {
    "access_token": "ACCESS-4",
    "id_token": ID_TOKEN,
    "refresh_token": "REFRESH-4",
    "expires_in": 86400,
    "user_id": 56,
}


@pytest.mark.parametrize(
    ("doc", "access", "auth", "id_token", "refresh", "expires", "user_id"),
    [
        (ONLINE, "ACCESS-1", "AUTH-1", None, None, None, "12"),
        (MOBILE, "ACCESS-2", None, None, "REFRESH-2", 7200.0, "34"),
        (OTP, "ACCESS-3", None, ID_TOKEN, "REFRESH-3", 1800.0, "77"),
        (OTP_TOP, "ACCESS-4", None, ID_TOKEN, "REFRESH-4", 86400.0, "56"),
    ],
)
def test_take_tokens(
    doc: dict[str, Any],
    access: str,
    auth: str | None,
    id_token: str | None,
    refresh: str | None,
    expires: float | None,
    user_id: str,
) -> None:
    found = take_tokens(copy.deepcopy(doc))
    assert found is not None
    tokens, uid = found
    assert (tokens.access_token, tokens.authentication_token, tokens.id_token) == (
        access,
        auth,
        id_token,
    )
    assert (tokens.refresh_token, tokens.expires_in, uid) == (refresh, expires, user_id)


def test_no_tokens_is_none() -> None:
    assert take_tokens({"errors": {"email": ["taken"]}}) is None
    assert take_tokens(["Invalid Signature"]) is None


@pytest.mark.parametrize("doc", [ONLINE, MOBILE, OTP, OTP_TOP])
def test_rewrite_login_leaves_no_punchh_token(doc: dict[str, Any]) -> None:
    out = json.dumps(rewrite_login(copy.deepcopy(doc), "GW", 3600))
    for secret in ("ACCESS-", "AUTH-1", "REFRESH-", ID_TOKEN):
        assert secret not in out
    assert "GW" in out


def test_rewrite_login_shapes() -> None:
    assert rewrite_login(copy.deepcopy(ONLINE), "GW", 60)["authentication_token"] == "GW"
    mobile = rewrite_login(copy.deepcopy(MOBILE), "GW", 60)["access_token"]
    assert mobile == {"token": "GW", "seconds_to_expire": 60, "revoked_at": None, "scopes": ["all"]}
    assert rewrite_login(copy.deepcopy(OTP), "GW", 60)["data"] == {
        "access_token": "GW",
        "token_type": "Bearer",
        "expires_in": 60,
    }


def test_scrub_replaces_echoes_everywhere() -> None:
    tokens = PunchhTokens("ACC", "AUTH", "IDT", "REF")
    doc = {
        "user": {"authentication_token": "AUTH", "access_token": "ACC", "id_token": "IDT"},
        "list": ["REF", "ok", "ACC"],
        "n": 1,
    }
    assert scrub(doc, tokens, "GW") == {
        "user": {"authentication_token": "GW", "access_token": "GW"},
        "list": ["ok", "GW"],
        "n": 1,
    }


def test_presented_token_places() -> None:
    assert presented_token("Bearer abc", None, []) == "abc"
    assert presented_token("bearer  abc ", None, []) == "abc"
    assert presented_token("Basic abc", {"authentication_token": "b"}, []) == "b"
    assert presented_token(None, None, [("authentication_token", "q")]) == "q"
    assert presented_token(None, {"authentication_token": 5}, []) is None
    assert presented_token("Bearer ", None, []) is None


def test_request_fields() -> None:
    assert rewrite_request_fields(
        {"client": "evil", "authentication_token": "GW", "x": 1},
        client_id="ours",
        auth_token="REAL",
    ) == {"client": "ours", "authentication_token": "REAL", "x": 1}
    assert (
        rewrite_request_fields({"authentication_token": "GW"}, client_id=None, auth_token=None)
        == {}
    )


def test_query() -> None:
    q = [("client", "evil"), ("a", "1"), ("authentication_token", "GW"), ("b", "2")]
    assert rewrite_query(q, client_id="ours", auth_token="REAL") == [
        ("a", "1"),
        ("authentication_token", "REAL"),
        ("b", "2"),
        ("client", "ours"),
    ]
    assert rewrite_query(q, client_id=None, auth_token=None) == [("a", "1"), ("b", "2")]
