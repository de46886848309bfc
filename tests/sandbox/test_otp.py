"""Workflow 3 (Advanced Authentication) and 10 (SSO code exchange)."""

from __future__ import annotations

import aiohttp
import jwt
import pytest

from sandbox.server import start_sandbox
from sandbox.state import SandboxState
from tests.sandbox.conftest import CLIENT_ID, T0, ManualClock, Punchh, make_config


async def test_send_verify_and_use_otp_tokens(punchh: Punchh, state: SandboxState) -> None:
    data = await punchh.otp_sign_in("otp@example.com")
    assert set(data) == {
        "access_token",
        "id_token",
        "refresh_token",
        "token_type",
        "expires_in",
        "user_id",
    }
    assert (data["token_type"], data["expires_in"]) == ("Bearer", 86400)
    claims = jwt.decode(
        data["id_token"],
        state.id_token_key,
        algorithms=["HS256"],
        audience=CLIENT_ID,
        options={"verify_exp": False},  # minted at the manual clock's 2023 time
    )
    assert claims["sub"] == str(data["user_id"])
    assert claims["email"] == "otp@example.com"
    assert (claims["iat"], claims["exp"]) == (int(T0), int(T0) + 86400)
    balance = await punchh.balance(data["access_token"], data["id_token"])
    assert balance["user_id"] == data["user_id"]
    # The same guest again: the same account, no new user.
    again = await punchh.otp_sign_in("otp@example.com")
    assert again["user_id"] == data["user_id"]
    assert len(state.users) == 1


async def test_otp_tokens_need_the_id_token_header(punchh: Punchh) -> None:
    data = await punchh.otp_sign_in("idt@example.com")
    for id_token in (None, "not-the-id-token"):
        reply = await punchh.call(
            "GET", "/api/auth/checkins/balance", token=data["access_token"], id_token=id_token
        )
        assert reply.status == 401
    # The id token alone grants nothing.
    alone = await punchh.call(
        "GET", "/api/auth/users", token=data["id_token"], id_token=data["id_token"]
    )
    assert alone.status == 401


async def test_verify_needs_consents_and_the_right_code(punchh: Punchh) -> None:
    await punchh.call("POST", "/api2/password_less/token", {"phone": "555-010-7777"})
    code = (await punchh.sandbox("GET", "otp?phone=5550107777")).body["otp"]
    no_consent = await punchh.call(
        "POST", "/api2/password_less/verify", {"phone": "5550107777", "otp": code}
    )
    assert no_consent.status == 422
    assert set(no_consent.body["errors"]) == {"privacy_policy", "terms_and_conditions"}
    consents = {"privacy_policy": True, "terms_and_conditions": True}
    wrong = "000000" if code != "000000" else "111111"
    bad = await punchh.call(
        "POST", "/api2/password_less/verify", {"phone": "5550107777", "otp": wrong, **consents}
    )
    assert bad.status == 422
    good = await punchh.call(
        "POST", "/api2/password_less/verify", {"phone": "5550107777", "otp": code, **consents}
    )
    assert good.status == 200
    reused = await punchh.call(
        "POST", "/api2/password_less/verify", {"phone": "5550107777", "otp": code, **consents}
    )
    assert reused.status == 422  # single use


async def test_otp_expires_after_otp_ttl(punchh: Punchh, clock: ManualClock) -> None:
    await punchh.call("POST", "/api2/password_less/token", {"email": "late@example.com"})
    code = (await punchh.sandbox("GET", "otp?email=late@example.com")).body["otp"]
    clock.advance(601)
    assert (await punchh.sandbox("GET", "otp?email=late@example.com")).status == 404
    body = {
        "email": "late@example.com",
        "otp": code,
        "privacy_policy": True,
        "terms_and_conditions": True,
    }
    assert (await punchh.call("POST", "/api2/password_less/verify", body)).status == 422


async def test_send_otp_needs_email_or_phone(punchh: Punchh) -> None:
    assert (await punchh.call("POST", "/api2/password_less/token", {})).status == 422
    assert (await punchh.call("POST", "/api2/password_less/token", {"email": "nope"})).status == 422


async def test_refresh_rotates_and_the_old_refresh_token_fails(punchh: Punchh) -> None:
    first = await punchh.otp_sign_in("rot@example.com")
    reply = await punchh.call(
        "POST", "/api2/password_less/refresh_token", {"refresh_token": first["refresh_token"]}
    )
    assert reply.status == 200
    data = reply.body["data"]
    assert set(data) == {"access_token", "id_token", "token_type", "refresh_token", "expires_in"}
    assert data["refresh_token"] != first["refresh_token"]
    assert data["id_token"] != first["id_token"]
    assert (await punchh.balance(data["access_token"], data["id_token"]))["points_balance"] == 0
    old = await punchh.call(
        "POST", "/api2/password_less/refresh_token", {"refresh_token": first["refresh_token"]}
    )
    assert old.status == 401
    # The replaced access token is revoked too (refresh_revokes_access, the default).
    stale = await punchh.call(
        "GET", "/api/auth/users", token=first["access_token"], id_token=first["id_token"]
    )
    assert stale.status == 401


async def test_refresh_token_expires(punchh: Punchh, clock: ManualClock) -> None:
    first = await punchh.otp_sign_in("old@example.com")
    clock.advance(30 * 86400 + 1)
    reply = await punchh.call(
        "POST", "/api2/password_less/refresh_token", {"refresh_token": first["refresh_token"]}
    )
    assert reply.status == 401


@pytest.mark.parametrize("path", ["/api2/password_less/sign_out", "/api2/signout"])
async def test_sign_out_revokes(punchh: Punchh, path: str) -> None:
    data = await punchh.otp_sign_in("bye@example.com")
    reply = await punchh.call(
        "POST", path, {}, token=data["access_token"], id_token=data["id_token"]
    )
    assert reply.status == 200
    after = await punchh.call(
        "GET", "/api/auth/users", token=data["access_token"], id_token=data["id_token"]
    )
    assert after.status == 401
    refresh = await punchh.call(
        "POST", "/api2/password_less/refresh_token", {"refresh_token": data["refresh_token"]}
    )
    assert refresh.status == 401


async def test_oauth_code_exchange(punchh: Punchh) -> None:
    me = await punchh.sign_up("sso@example.com")
    code = (await punchh.sandbox("POST", "sso/code", {"user_id": me["id"]})).body["code"]
    reply = await punchh.call(
        "POST", "/oauth/token", {"grant_type": "authorization_code", "code": code}
    )
    assert reply.status == 200
    assert reply.body["token_type"] == "Bearer"
    shown = await punchh.call("GET", "/api/auth/users", token=reply.body["access_token"])
    assert shown.body["id"] == me["id"]
    reused = await punchh.call(
        "POST", "/oauth/token", {"grant_type": "authorization_code", "code": code}
    )
    assert (reused.status, reused.body) == (400, {"error": "invalid_grant"})
    other = await punchh.call("POST", "/oauth/token", {"grant_type": "password"})
    assert (other.status, other.body) == (400, {"error": "unsupported_grant_type"})


async def test_refresh_can_keep_the_old_access_token() -> None:
    server = await start_sandbox(make_config(refresh_revokes_access=False))
    try:
        async with aiohttp.ClientSession() as session:
            punchh = Punchh(session, server.url)
            first = await punchh.otp_sign_in("keep@example.com")
            body = {"refresh_token": first["refresh_token"]}
            assert (
                await punchh.call("POST", "/api2/password_less/refresh_token", body)
            ).status == 200
            kept = await punchh.call(
                "GET", "/api/auth/users", token=first["access_token"], id_token=first["id_token"]
            )
            assert kept.status == 200
            assert (
                await punchh.call("POST", "/api2/password_less/refresh_token", body)
            ).status == 401
    finally:
        await server.close()
