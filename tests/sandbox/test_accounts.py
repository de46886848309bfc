"""Workflows 1-2: sign-up, sign-in, profile, passwords, referrals, token expiry."""

from __future__ import annotations

from typing import Any

import pytest

from sandbox.state import SandboxState
from tests.sandbox.conftest import ManualClock, Punchh

SIGN_UP_KEYS = {
    "id",
    "user_id",
    "email",
    "first_name",
    "last_name",
    "phone",
    "authentication_token",
    "access_token",
    "referral_code",
    "user_as_qrcode",
    "created_at",
    "user_joined_at",
}


async def test_sign_up_answers_201_with_the_user_at_top_level(punchh: Punchh) -> None:
    user = await punchh.sign_up("Ada@Example.com", phone="(555) 010-2030", birthday="1992-10-03")
    assert set(user) >= SIGN_UP_KEYS
    assert user["id"] == user["user_id"]
    assert user["email"] == "ada@example.com"
    assert user["phone"] == "5550102030"
    assert user["authentication_token"] != user["access_token"]
    assert user["referral_code"].startswith("ADAL")
    assert user["created_at"] == "2023-11-14T22:13:20Z"  # the manual clock's T0
    for token in (user["authentication_token"], user["access_token"]):
        reply = await punchh.call("GET", "/api/auth/users", token=token)
        assert reply.status == 200
        assert reply.body["id"] == user["id"]
    via_field = await punchh.call(
        "GET", "/api/auth/users", {"authentication_token": user["authentication_token"]}
    )
    assert via_field.status == 200


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"email": "taken@example.com"}, "email"),
        ({"email": "new@example.com", "password": "short"}, "password"),
        ({"email": "not-an-email"}, "email"),
        (
            {"email": "x@example.com", "password": "password123", "password_confirmation": "other"},
            "password_confirmation",
        ),
        ({"email": "y@example.com", "phone": "5550009999"}, "phone"),
        ({"email": "z@example.com", "invite_code": "NOPE1234"}, "invite_code"),
        ({"email": "w@example.com", "birthday": "03/10/1992"}, "birthday"),
    ],
)
async def test_sign_up_rejects_with_422_errors(
    punchh: Punchh, fields: dict[str, Any], field: str
) -> None:
    await punchh.sign_up("taken@example.com", phone="5550009999")
    user = {"password": "password123", "first_name": "B", "last_name": "C", **fields}
    reply = await punchh.call("POST", "/api/auth/customers.json", {"user": user})
    assert reply.status == 422
    assert field in reply.body["errors"]


async def test_sign_up_without_user_object_is_400(punchh: Punchh) -> None:
    reply = await punchh.call("POST", "/api/auth/customers.json", {})
    assert reply.status == 400


async def test_invite_code_credits_the_referrer(punchh: Punchh, state: SandboxState) -> None:
    referrer = await punchh.sign_up("referrer@example.com")
    invited = await punchh.sign_up("invited@example.com", invite_code=referrer["referral_code"])
    balance = await punchh.balance(referrer["access_token"])
    assert balance["points_balance"] == 50
    assert state.users[invited["id"]].invited_by == referrer["id"]
    assert (await punchh.balance(invited["access_token"]))["points_balance"] == 0


async def test_sign_in_returns_fresh_tokens_and_401_on_bad_credentials(punchh: Punchh) -> None:
    first = await punchh.sign_up("s@example.com")
    creds = {"user": {"email": "S@example.com", "password": "password123"}}
    reply = await punchh.call("POST", "/api/auth/customers/sign_in", creds)
    assert reply.status == 200
    assert set(reply.body) >= SIGN_UP_KEYS
    assert reply.body["id"] == first["id"]
    assert reply.body["access_token"] != first["access_token"]
    for bad in (
        {"email": "s@example.com", "password": "wrong-pass"},
        {"email": "no@example.com", "password": "x"},
    ):
        failed = await punchh.call("POST", "/api/auth/customers/sign_in", {"user": bad})
        assert failed.status == 401
        assert failed.body == {"error": "Incorrect information submitted. Please retry."}


async def test_update_profile_and_email_uniqueness(punchh: Punchh) -> None:
    await punchh.sign_up("other@example.com")
    me = await punchh.sign_up("me@example.com")
    token = me["access_token"]
    reply = await punchh.call(
        "PUT",
        "/api/auth/users",
        {"user": {"first_name": "Grace", "zip_code": "30201"}},
        token=token,
    )
    assert reply.status == 200
    assert (reply.body["first_name"], reply.body["zip_code"]) == ("Grace", "30201")
    shown = await punchh.call("GET", "/api/auth/users", token=token)
    assert shown.body["first_name"] == "Grace"
    clash = await punchh.call(
        "PUT", "/api/auth/users", {"user": {"email": "other@example.com"}}, token=token
    )
    assert clash.status == 422
    assert clash.body["errors"]["email"] == ["has already been taken"]


async def test_forgot_password_does_not_enumerate_accounts(punchh: Punchh) -> None:
    await punchh.sign_up("known@example.com")
    answers = [
        await punchh.call("POST", "/api/auth/users/forgot_password", {"user": {"email": email}})
        for email in ("known@example.com", "unknown@example.com")
    ]
    assert [a.status for a in answers] == [200, 200]
    assert answers[0].body == answers[1].body


async def test_change_password(punchh: Punchh) -> None:
    me = await punchh.sign_up("pw@example.com")
    token = me["access_token"]
    wrong = {"user": {"current_password": "nope-nope", "password": "newpassword1"}}
    reply = await punchh.call("PATCH", "/api/auth/users/change_password", wrong, token=token)
    assert reply.status == 422
    assert "current_password" in reply.body["errors"]
    right = {
        "user": {
            "current_password": "password123",
            "password": "newpassword1",
            "password_confirmation": "newpassword1",
        }
    }
    reply = await punchh.call("PATCH", "/api/auth/users/change_password", right, token=token)
    assert reply.status == 200
    old = {"user": {"email": "pw@example.com", "password": "password123"}}
    assert (await punchh.call("POST", "/api/auth/customers/sign_in", old)).status == 401
    new = {"user": {"email": "pw@example.com", "password": "newpassword1"}}
    assert (await punchh.call("POST", "/api/auth/customers/sign_in", new)).status == 200


async def test_access_token_expires_by_the_injected_clock(
    punchh: Punchh, clock: ManualClock
) -> None:
    me = await punchh.sign_up("clock@example.com")
    clock.advance(86400)  # exactly the TTL: still valid
    assert (await punchh.call("GET", "/api/auth/users", token=me["access_token"])).status == 200
    clock.advance(1)
    for token in (me["access_token"], me["authentication_token"]):
        reply = await punchh.call("GET", "/api/auth/users", token=token)
        assert reply.status == 401
        assert reply.body == {"error": "Access token has expired"}


async def test_unknown_or_missing_token_is_401(punchh: Punchh) -> None:
    assert (await punchh.call("GET", "/api/auth/users", token="made-up")).status == 401
    missing = await punchh.call("GET", "/api/auth/users")
    assert missing.status == 401
    assert "error" in missing.body
