"""Token extraction and rewriting over the three answer shapes in docs/punchh.md."""

import copy
import json
from typing import Any

import jwt
import pytest

from gateway import jsonio
from gateway.scrub import Scrub, drop_token_keys, named_tokens, token_swaps
from gateway.sessions import PunchhTokens
from gateway.translate import (
    presented_token,
    rewrite_login,
    rewrite_query,
    rewrite_request_fields,
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
    assert Scrub(token_swaps((tokens,), "GW")).doc(doc) == {
        "user": {"authentication_token": "GW", "access_token": "GW"},
        "list": ["ok", "GW"],
        "n": 1,
    }


# Issue 15, finding 6: tokens inside longer strings, at any depth, in keys, in bytes.
HELD = PunchhTokens("acc-" + "a" * 24, "auth-" + "b" * 24, ID_TOKEN, "ref-" + "d" * 24)
ACC, AUTH, REF = "acc-" + "a" * 24, "auth-" + "b" * 24, "ref-" + "d" * 24
SCRUB = Scrub(token_swaps((HELD,), "GW"))


@pytest.mark.parametrize(
    ("before", "after"),
    [
        (f"Bearer {ACC}", "Bearer GW"),
        (f"https://x.example/cb?token={AUTH}&a=1", "https://x.example/cb?token=GW&a=1"),
        (f"{ID_TOKEN}|{REF}|{ACC}", "||GW"),
        (ACC, "GW"),
        (AUTH, "GW"),
        (ID_TOKEN, None),  # nothing left: dropped from its object or list
        (REF, None),
        ("no token here", "no token here"),
        ("", ""),
    ],
)
def test_scrub_swaps_tokens_inside_strings(before: str, after: str | None) -> None:
    assert SCRUB.text(before) == after


def test_scrub_walks_any_depth_and_keys() -> None:
    doc = {
        "a": [[[[[f"Bearer {ACC}", REF, 5]]]]],
        f"by-{AUTH}": 1,
        REF: "key that is a hidden token: the entry goes",
        "msg": f"id {ID_TOKEN} end",
        "list": [{"x": [{"y": ACC}]}, None, True, 1.5],
    }
    assert SCRUB.doc(doc) == {
        "a": [[[[["Bearer GW", 5]]]]],
        "by-GW": 1,
        "msg": "id  end",
        "list": [{"x": [{"y": "GW"}]}, None, True, 1.5],
    }
    assert SCRUB.doc(f"Bearer {ACC}") == "Bearer GW"
    assert SCRUB.doc(REF) == ""


def test_scrub_of_a_document_as_deep_as_jsonio_reads() -> None:
    raw = b"[" * 1000 + f'"Bearer {ACC}"'.encode() + b"]" * 1000
    node = SCRUB.doc(jsonio.loads(raw))
    for _ in range(1000):
        node = node[0]
    assert node == "Bearer GW"


def test_scrub_in_cookie_mode_shows_no_token_at_all() -> None:
    cookie = Scrub(token_swaps((HELD,), None))
    doc = {"t": ACC, "b": f"Bearer {ACC}", "l": [AUTH, "x"]}
    assert cookie.doc(doc) == {"b": "Bearer ", "l": ["x"]}
    assert cookie.body(f"auth={AUTH};acc={ACC}".encode()) == b"auth=;acc="


def test_scrub_bytes_of_answers_not_read_as_json() -> None:
    html = f"<a href='/cb?token={ACC}'>{REF}</a><p>{ID_TOKEN}</p>".encode()
    assert SCRUB.found_in(html)
    assert SCRUB.body(html) == b"<a href='/cb?token=GW'></a><p></p>"
    assert not SCRUB.found_in(b"<p>no token</p>")


def test_scrub_finds_a_token_json_escaped() -> None:
    slashed = PunchhTokens("acc/" + "s" * 20, refresh_token="ref/" + "r" * 20)
    scrub_ = Scrub(token_swaps((slashed,), "GW"))
    raw = b'{"t":"Bearer acc\\/' + b"s" * 20 + b'","r":"ref\\/' + b"r" * 20 + b'"}'
    assert scrub_.found_in(raw)
    assert scrub_.body(raw) == b'{"t":"Bearer GW","r":""}'
    assert scrub_.doc(jsonio.loads(raw)) == {"t": "Bearer GW"}


def test_a_short_token_is_matched_as_a_whole_string_only() -> None:
    tiny = Scrub(token_swaps((PunchhTokens("a", None, None, "b"),), "GW"))
    assert tiny.doc({"x": "a", "y": "banana", "z": ["b", "abc"]}) == {
        "x": "GW",
        "y": "banana",
        "z": ["abc"],
    }
    assert tiny.found_in(b'{"x":"a"}')
    assert not tiny.found_in(b'{"y":"banana"}')
    assert tiny.body(b"banana a b") == b"banana a b"


def test_token_swaps_of_old_and_new_tokens() -> None:
    old = PunchhTokens("old-access-token", None, "old-id-token-x", "old-refresh-tok")
    assert token_swaps((old, HELD), "GW") == {
        "old-id-token-x": "",
        "old-refresh-tok": "",
        ID_TOKEN: "",
        REF: "",
        "old-access-token": "GW",
        ACC: "GW",
        AUTH: "GW",
    }


def test_drop_token_keys_of_a_sign_in_answer_at_any_depth() -> None:
    doc: dict[str, Any] = {
        "access_token": ACC,
        "authentication_token": AUTH,
        "refresh_token": REF,
        "user": {"id": 1, "profile": {"access_token": "other-token-1234", "name": "Ada"}},
        "grants": [{"id_token": ID_TOKEN}, {"refresh_token": None}, {"access_token": ACC}],
        "mobile": {"access_token": {"token": "mobile-token-5678", "scopes": ["all"]}},
        "errors": {"authentication_token": ["can't be blank"], "id_token": "is invalid"},
    }
    found = take_tokens(doc)
    assert found is not None
    dropped = drop_token_keys(doc, found[0])
    assert sorted(dropped) == sorted([REF, "other-token-1234", ID_TOKEN, "mobile-token-5678"])
    assert doc == {
        "access_token": ACC,  # rewrite_login's
        "authentication_token": AUTH,
        "user": {"id": 1, "profile": {"name": "Ada"}},
        "grants": [{}, {"refresh_token": None}, {"access_token": ACC}],  # the scrub swaps it
        "mobile": {},
        "errors": {"authentication_token": ["can't be blank"], "id_token": "is invalid"},
    }


def test_drop_token_keys_when_nothing_was_taken() -> None:
    doc = {"access_token": ACC, "data": {"refresh_token": REF}, "error": "Invalid OTP"}
    assert sorted(drop_token_keys(doc, None)) == sorted([ACC, REF])
    assert doc == {"data": {}, "error": "Invalid OTP"}


def test_named_tokens_of_an_answer_not_read_as_json() -> None:
    raw = b'<p>access_token="abcdefgh12" id_token=eyJ.abc_DEF-9 refresh_token: "r\\/123456789"'
    assert named_tokens(raw) == ["abcdefgh12", "eyJ.abc_DEF-9", "r\\/123456789"]
    assert named_tokens(b"<p>hello</p>") == []


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


def test_a_token_under_a_token_name_with_a_space_is_still_a_token() -> None:
    """After a code review: "Bearer <token>" under `refresh_token` was kept as a message."""
    secret = "R" * 43
    doc = {
        "x": {"refresh_token": f"Bearer {secret}"},
        "errors": {"access_token": ["can't be blank"]},
    }
    dropped = drop_token_keys(doc, None)
    assert doc == {"x": {}, "errors": {"access_token": ["can't be blank"]}}
    assert secret in dropped
