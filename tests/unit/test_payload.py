"""Where client and authentication_token travel: body or query, by method and family."""

from typing import Any

import pytest

from gateway.call import build_payload

Q = [("b", "2"), ("client", "evil")]


@pytest.mark.parametrize(
    ("method", "doc", "query", "client", "auth", "add", "body", "qs"),
    [
        ("POST", {"x": 1}, Q, "c", None, False, b'{"x":1,"client":"c"}', "b=2"),
        ("POST", None, [], "c", None, False, b'{"client":"c"}', ""),
        ("GET", None, Q, "c", None, False, None, "b=2&client=c"),
        ("GET", {"x": 1}, [], "c", None, False, b'{"x":1,"client":"c"}', ""),
        (
            "DELETE",
            {"external_uid": "u"},
            [],
            "c",
            None,
            False,
            b'{"external_uid":"u","client":"c"}',
            "",
        ),
        # A gateway token given in the body or query becomes the real one.
        (
            "POST",
            {"authentication_token": "GW"},
            [],
            "c",
            "REAL",
            False,
            b'{"authentication_token":"REAL","client":"c"}',
            "",
        ),
        (
            "GET",
            None,
            [("authentication_token", "GW")],
            "c",
            "REAL",
            False,
            None,
            "authentication_token=REAL&client=c",
        ),
        # A session without an access token: the body (or query) must carry the user.
        (
            "POST",
            {"x": 1},
            [],
            "c",
            "REAL",
            True,
            b'{"x":1,"authentication_token":"REAL","client":"c"}',
            "",
        ),
        ("GET", None, [], "c", "REAL", True, None, "authentication_token=REAL&client=c"),
        # POS: no client anywhere, the query as sent, no body invented.
        ("GET", None, [("phone", "555")], None, None, False, None, "phone=555"),
        ("POST", None, [], None, None, False, None, ""),
        ("POST", {"phone": "555"}, [], None, None, False, b'{"phone":"555"}', ""),
        # Non-ASCII stays UTF-8 on the wire, exactly what gets signed.
        ("POST", {"name": "Zoë"}, [], "c", None, False, '{"name":"Zoë","client":"c"}'.encode(), ""),
    ],
)
def test_build_payload(
    method: str,
    doc: dict[str, Any] | None,
    query: list[tuple[str, str]],
    client: str | None,
    auth: str | None,
    add: bool,
    body: bytes | None,
    qs: str,
) -> None:
    assert build_payload(
        method, doc, query, client_id=client, auth_token=auth, add_auth_token=add
    ) == (body, qs)


def test_a_deeply_nested_body_with_a_long_number_is_invalid_json_not_a_crash() -> None:
    """A 19+ digit number sends the body to `json` (orjson would round it); nesting that
    `json` cannot follow is then a 400, as it is for orjson, never a RecursionError."""
    from gateway.body import parse_body
    from gateway.errors import BadRequest

    deep = b'{"n": 12345678901234567890123, "a": ' + b"[" * 20000 + b"]" * 20000 + b"}"
    with pytest.raises(BadRequest) as info:
        parse_body(deep, "application/json")
    assert info.value.code == "invalid_json"
    assert parse_body(b'{"n": 12345678901234567890123}', "").doc == {"n": 12345678901234567890123}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (b"{}", 1),
        (b'{"a": [[1], {"b": []}]}', 4),
        (b'{"s": "[[[[{{{{", "t": "\\"[[["}', 1),  # brackets in strings, escaped quotes
        (b'["\\\\", [["]]"]]]', 3),  # an escaped backslash ends before the quote
        (b"[" * 50 + b"]" * 50, 50),
    ],
)
def test_depth_counts_brackets_outside_strings(text: bytes, expected: int) -> None:
    from gateway.jsonio import loads, nesting

    assert nesting(loads(text)) == expected


def test_bodies_deeper_than_32_levels_are_invalid_json() -> None:
    from gateway.body import MAX_DEPTH, parse_body
    from gateway.errors import BadRequest

    def deep(levels: int) -> bytes:
        return b'{"a": ' + b"[" * (levels - 1) + b"1" + b"]" * (levels - 1) + b"}"

    assert MAX_DEPTH == 32
    assert parse_body(deep(32), "application/json").doc is not None
    many_strings = b'{"a": "' + b"[" * 100 + b'", "b": [[1]]}'  # many brackets, none deep
    assert parse_body(many_strings, "application/json").doc == {"a": "[" * 100, "b": [[1]]}
    for levels in (33, 300, 5000):
        with pytest.raises(BadRequest) as info:
            parse_body(deep(levels), "application/json")
        assert info.value.code == "invalid_json"
