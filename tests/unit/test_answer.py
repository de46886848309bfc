"""`after_call` over a real session manager: what the frontend may see of Punchh's answer
(issue 15, finding 6): no held token, of any status, JSON or not; in a sign-in answer,
no token-named value at any depth but the gateway token."""

from __future__ import annotations

import json
from typing import Any

import pytest
from multidict import CIMultiDict, CIMultiDictProxy

from gateway.answer import after_call
from gateway.errors import UpstreamError
from gateway.routes import Route
from gateway.sessions import PunchhTokens, Resolved, SessionManager
from gateway.store.memory import MemorySessionStore
from gateway.upstream import UpstreamResponse
from tests.support.clock import ManualClock

LOGIN = Route("POST", "/api/auth/customers/sign_in", "auth", "none", "login")
FORWARD = Route("GET", "/api/auth/users", "auth", "guest")
LOGOUT = Route("DELETE", "/api/auth/sessions", "auth", "guest", "logout")
OLD = PunchhTokens("old-access-0000", "old-auth-00000", "old-id-token-0", "old-refresh-000")
NOW = PunchhTokens("now-access-0000", "now-auth-00000", "now-id-token-0", "now-refresh-000")
NEW_ACCESS, NEW_AUTH = "new-access-1111", "new-auth-111111"


def _manager() -> SessionManager:
    clock = ManualClock()
    store = MemorySessionStore(max_sessions=10, clock=clock)
    return SessionManager(store, secret=b"m" * 40, ttl=3600, clock=clock)


def _resp(status: int, body: bytes | dict[str, Any], ctype: str = "application/json") -> Any:
    raw = json.dumps(body).encode() if isinstance(body, dict) else body
    return UpstreamResponse(status, CIMultiDictProxy(CIMultiDict({"Content-Type": ctype})), raw)


async def _resolved(manager: SessionManager) -> Resolved:
    _, token = await manager.create("7", NOW)
    return await manager.resolve(token)


async def test_an_answer_without_a_token_is_passed_on_as_is() -> None:
    manager = _manager()
    resolved = await _resolved(manager)
    resp = _resp(200, b'{"id": 7,  "spaced": true}')
    answer = await after_call(FORWARD, resp, resolved, manager, cookie_mode=False)
    assert answer.body is resp.body  # no parse, no copy


@pytest.mark.parametrize("status", [200, 401, 500])
async def test_tokens_before_and_after_a_refresh_are_scrubbed(status: int) -> None:
    manager = _manager()
    resolved = await _resolved(manager)
    gw = resolved.token
    body = {
        "e": [f"Bearer {OLD.access_token}", f"Bearer {NOW.access_token}"],
        "d": [[[[[{"k": f"?id={NOW.id_token}&r={OLD.refresh_token}"}]]]]],
        "x": OLD.authentication_token,
    }
    answer = await after_call(
        FORWARD, _resp(status, body), resolved, manager, cookie_mode=False, earlier=(OLD,)
    )
    assert json.loads(answer.body) == {
        "e": [f"Bearer {gw}", f"Bearer {gw}"],
        "d": [[[[[{"k": "?id=&r="}]]]]],
        "x": gw,
    }


async def test_a_text_answer_echoing_tokens_is_scrubbed_as_bytes() -> None:
    manager = _manager()
    resolved = await _resolved(manager)
    raw = f"error for {NOW.access_token}; refresh {NOW.refresh_token}".encode()
    answer = await after_call(
        FORWARD, _resp(500, raw, "text/html; charset=utf-8"), resolved, manager, cookie_mode=False
    )
    assert answer.body == f"error for {resolved.token}; refresh ".encode()


async def test_cookie_mode_shows_no_gateway_token_either() -> None:
    manager = _manager()
    resolved = await _resolved(manager)
    body = {"a": f"Bearer {NOW.access_token}", "b": NOW.authentication_token, "c": 1}
    answer = await after_call(FORWARD, _resp(200, body), resolved, manager, cookie_mode=True)
    assert json.loads(answer.body) == {"a": "Bearer ", "c": 1}


async def test_sign_out_ends_the_session_and_scrubs() -> None:
    manager = _manager()
    resolved = await _resolved(manager)
    body = {"message": f"signed out {NOW.access_token}"}
    answer = await after_call(LOGOUT, _resp(200, body), resolved, manager, cookie_mode=False)
    assert answer.ended
    assert json.loads(answer.body) == {"message": f"signed out {resolved.token}"}


async def test_a_sign_in_answer_with_tokens_at_depth() -> None:
    manager = _manager()
    body = {
        "id": 9,
        "access_token": NEW_ACCESS,
        "authentication_token": NEW_AUTH,
        "user": {"profile": {"access_token": NEW_ACCESS, "refresh_token": "other-refresh-9"}},
        "sessions": [{"authentication_token": "another-auth-99"}, {"note": f"Bearer {NEW_AUTH}"}],
        "hint": "use other-refresh-9 later",
    }
    answer = await after_call(LOGIN, _resp(200, body), None, manager, cookie_mode=False)
    gw = answer.new_token
    assert gw is not None
    assert json.loads(answer.body) == {
        "id": 9,
        "access_token": gw,
        "authentication_token": gw,
        "user": {"profile": {"access_token": gw}},
        "sessions": [{}, {"note": f"Bearer {gw}"}],
        "hint": "use  later",
    }
    resolved = await manager.resolve(gw)
    assert resolved.session.tokens.access_token == NEW_ACCESS


async def test_a_sign_in_answer_in_cookie_mode_holds_no_token() -> None:
    manager = _manager()
    body = {"access_token": NEW_ACCESS, "list": [{"note": f"Bearer {NEW_ACCESS}"}]}
    answer = await after_call(LOGIN, _resp(201, body), None, manager, cookie_mode=True)
    assert answer.new_token is not None
    assert json.loads(answer.body) == {"list": [{"note": "Bearer "}]}


@pytest.mark.parametrize("status", [401, 422, 500])
async def test_a_refused_sign_in_holding_tokens(status: int) -> None:
    manager = _manager()
    body = {
        "errors": {"authentication_token": ["can't be blank"]},
        "data": {"access_token": NEW_ACCESS, "id_token": "rejected-id-tok"},
        "echo": f"Bearer {NEW_ACCESS}",
    }
    answer = await after_call(LOGIN, _resp(status, body), None, manager, cookie_mode=False)
    assert answer.new_token is None
    assert json.loads(answer.body) == {
        "errors": {"authentication_token": ["can't be blank"]},
        "data": {},
        "echo": "Bearer ",
    }


async def test_a_sign_in_answer_not_read_as_json() -> None:
    manager = _manager()
    resolved = await _resolved(manager)
    raw = f"<p>access_token={NEW_ACCESS}</p><p>{NEW_ACCESS} {NOW.refresh_token}</p>".encode()
    answer = await after_call(
        LOGIN, _resp(200, raw, "text/html"), resolved, manager, cookie_mode=False
    )
    assert answer.new_token is None
    assert answer.body == b"<p>access_token=</p><p> </p>"
    broken = _resp(422, b'{"access_token": "' + NEW_ACCESS.encode() + b'", ')
    answer = await after_call(LOGIN, broken, None, manager, cookie_mode=False)
    assert answer.body == b'{"access_token": "", '


async def test_a_sign_in_answer_without_tokens_is_passed_on_as_is() -> None:
    manager = _manager()
    for resp in (_resp(200, b'{"message":  "check your mail"}'), _resp(422, {"error": "x"})):
        answer = await after_call(LOGIN, resp, None, manager, cookie_mode=False)
        assert answer.body is resp.body


async def test_a_sign_in_answer_that_cannot_be_read_is_a_502() -> None:
    with pytest.raises(UpstreamError):
        await after_call(LOGIN, _resp(200, b"{oops"), None, _manager(), cookie_mode=False)
