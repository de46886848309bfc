"""Seed 001 continued: sign-in, profile read and update, passwords, the two balances."""

from __future__ import annotations

import pytest

from sandbox.state import SandboxState
from tests.workflows.support import (
    PASSWORD,
    Frontend,
    SandboxAdmin,
    gateway_claims,
    menu_items,
)

pytestmark = pytest.mark.asyncio


async def test_sign_in_gives_a_second_session_for_the_same_guest(
    fe: Frontend, state: SandboxState
) -> None:
    first, body = await fe.sign_up("grace@example.com")
    answer = await fe.sign_in("GRACE@example.com")
    assert answer.status == 200, answer
    second = answer.body["access_token"]
    assert answer.body["authentication_token"] == second != first
    assert gateway_claims(second)["sub"] == str(body["id"])
    assert gateway_claims(first)["sid"] != gateway_claims(second)["sid"]
    for token in (first, second):
        me = await fe.call("GET", "/api/auth/users", token=token)
        assert me.status == 200
        assert me.body["email"] == "grace@example.com"

    wrong = await fe.sign_in("grace@example.com", "not-the-password")
    assert wrong.status == 401
    assert wrong.body == {"error": "Incorrect information submitted. Please retry."}
    assert len([g for g in state.grants.values() if g.user_id == body["id"]]) == 2


async def test_profile_update_persists(fe: Frontend, state: SandboxState) -> None:
    token, body = await fe.sign_up("hopper@example.com", first_name="Grace", last_name="Hopper")
    update = {"user": {"first_name": "Amazing", "city": "Arlington", "birthday": "1906-12-09"}}
    put = await fe.call("PUT", "/api/auth/users", json=update, token=token)
    assert put.status == 200, put
    assert (put.body["first_name"], put.body["city"]) == ("Amazing", "Arlington")

    got = await fe.call("GET", "/api/auth/users", token=token)
    assert got.status == 200
    assert got.body["first_name"] == "Amazing"
    assert got.body["last_name"] == "Hopper"
    assert got.body["city"] == "Arlington"
    assert got.body["birthday"] == "1906-12-09"
    assert state.users[body["id"]].first_name == "Amazing"

    bad = await fe.call("PUT", "/api/auth/users", json={"user": {"email": "x@"}}, token=token)
    assert bad.status == 422
    assert bad.body["errors"]["email"] == ["is invalid"]
    assert state.users[body["id"]].email == "hopper@example.com"


async def test_gateway_token_in_body_or_query_stands_for_the_guest(fe: Frontend) -> None:
    token, body = await fe.sign_up("query@example.com")
    by_query = await fe.call("GET", "/api/auth/users", params={"authentication_token": token})
    assert by_query.status == 200
    assert by_query.body["id"] == body["id"]
    order = {
        "authentication_token": token,
        "external_uid": "q-1",
        "receipt_amount": 12.5,
        "receipt_datetime": "2027-01-15T12:00:00Z",
        "payable": "12.5",
        "menu_items": menu_items(12.5),
    }
    by_body = await fe.call("POST", "/api/auth/checkins/online_order", json=order)
    assert by_body.status == 200, by_body
    assert by_body.body["points"] == 12
    assert (await fe.balance(token))["points_balance"] == 12


async def test_forgot_and_change_password(fe: Frontend) -> None:
    token, _ = await fe.sign_up("pw@example.com")
    forgot = await fe.call(
        "POST", "/api/auth/users/forgot_password", json={"user": {"email": "pw@example.com"}}
    )
    assert forgot.status == 200
    assert "reset your password" in forgot.body["message"]
    unknown = await fe.call(
        "POST", "/api/auth/users/forgot_password", json={"user": {"email": "nobody@example.com"}}
    )
    assert unknown.status == 200
    assert unknown.body == forgot.body

    change = {"user": {"current_password": PASSWORD, "password": "brand-new-pass"}}
    changed = await fe.call("PATCH", "/api/auth/users/change_password", json=change, token=token)
    assert changed.status == 200, changed
    assert (await fe.sign_in("pw@example.com")).status == 401
    assert (await fe.sign_in("pw@example.com", "brand-new-pass")).status == 200


async def test_both_balance_endpoints_agree(fe: Frontend) -> None:
    token, body = await fe.sign_up("bal@example.com")
    await fe.checkin(token, "b-1", 64.99)
    await fe.checkin(token, "b-2", 51.0)
    checkins = await fe.balance(token, "/api/auth/checkins/balance")
    users = await fe.balance(token, "/api/auth/users/balance")
    assert checkins == users
    assert checkins["user_id"] == body["id"]
    assert checkins["points_balance"] == 15  # 64 + 51 = 115: 100 became a reward
    assert checkins["lifetime_points"] == 115
    assert checkins["visits"] == 2
    assert checkins["banked_rewards"] == "10.00"
    assert [r["name"] for r in checkins["rewards"]] == ["$10 Off"]


async def test_sso_code_exchange_gives_a_gateway_session(
    fe: Frontend, admin: SandboxAdmin, state: SandboxState
) -> None:
    _, body = await fe.sign_up("sso@example.com")
    status, issued = await admin.post("/__sandbox/sso/code", {"user_id": body["id"]})
    assert status == 201
    grant = {"grant_type": "authorization_code", "code": issued["code"]}
    answer = await fe.call("POST", "/oauth/token", json=grant)
    assert answer.status == 200, answer
    token = answer.body["access_token"]
    assert answer.body["token_type"] == "Bearer"
    assert answer.body["expires_in"] == 86400
    gateway_claims(token)
    assert state.grants[max(state.grants)].source == "sso"
    assert (await fe.call("GET", "/api/auth/users", token=token)).body["id"] == body["id"]
    assert (await fe.checkin(token, "sso-1", 7.0)).body["points"] == 7
    reused = await fe.call("POST", "/oauth/token", json=grant)
    assert reused.status == 400
    assert reused.body == {"error": "invalid_grant"}


async def test_refresh_call_on_a_password_session_does_not_end_it(
    fe: Frontend, admin: SandboxAdmin
) -> None:
    """Regression: at 4fa2c30 the gateway sent Punchh `refresh_token: ""` for a session
    without one (gateway/proxy.py:94) and ended the live session on Punchh's 401 (:136)."""
    token, _ = await fe.sign_up("norefresh@example.com")
    await admin.reset_calls()
    answer = await fe.call("POST", "/api2/password_less/refresh_token", token=token)
    assert 400 <= answer.status < 500, answer  # nothing to refresh: refused, fine
    assert "POST /api2/password_less/refresh_token" not in await admin.calls()
    still = await fe.call("GET", "/api/auth/users", token=token)
    assert still.status == 200, still  # but the guest's valid session survives
