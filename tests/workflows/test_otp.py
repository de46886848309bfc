"""Advanced Authentication (seed 002's OTP sign-in): send, verify, use, refresh, sign out."""

from __future__ import annotations

from typing import Any

import pytest

from sandbox.state import SandboxState
from tests.support.clock import ManualClock
from tests.workflows.support import ACCESS_TTL, Frontend, SandboxAdmin, gateway_claims

pytestmark = pytest.mark.asyncio

EMAIL = "otp@example.com"
CONSENT = {"privacy_policy": True, "terms_and_conditions": True}


async def _verify(fe: Frontend, admin: SandboxAdmin, **extra: Any) -> dict[str, Any]:
    sent = await fe.call("POST", "/api2/password_less/token", json={"email": EMAIL})
    assert sent.status == 200, sent
    assert sent.body["data"]["message"] == "OTP sent"
    code = await admin.otp(email=EMAIL)
    answer = await fe.call(
        "POST", "/api2/password_less/verify", json={"email": EMAIL, "otp": code, **extra}
    )
    assert answer.status == 200, answer
    data: dict[str, Any] = answer.body["data"]
    return data


async def test_verify_needs_both_consents(fe: Frontend, admin: SandboxAdmin) -> None:
    await fe.call("POST", "/api2/password_less/token", json={"email": EMAIL})
    code = await admin.otp(email=EMAIL)
    for body in (
        {"email": EMAIL, "otp": code},
        {"email": EMAIL, "otp": code, "privacy_policy": True},
        {"email": EMAIL, "otp": code, "privacy_policy": True, "terms_and_conditions": "yes"},
    ):
        answer = await fe.call("POST", "/api2/password_less/verify", json=body)
        assert answer.status == 422, answer
        assert answer.body["errors"]["terms_and_conditions"] == ["must be accepted"]
        assert "access_token" not in answer.raw.decode()
    # The OTP was not used up by the refusals.
    assert await admin.otp(email=EMAIL) == code


async def test_otp_session_lifecycle(
    fe: Frontend, admin: SandboxAdmin, state: SandboxState
) -> None:
    data = await _verify(fe, admin, **CONSENT)
    token = data["access_token"]
    assert set(data) == {"access_token", "token_type", "expires_in", "user_id"}
    assert data["expires_in"] == 86400  # the gateway session's lifetime, not Punchh's
    user_id = data["user_id"]
    assert gateway_claims(token)["sub"] == str(user_id)
    (grant,) = state.grants.values()
    assert grant.source == "otp"
    assert grant.id_token
    assert grant.refresh_token
    assert token not in (grant.access_token, grant.id_token, grant.refresh_token)

    # The sandbox refuses an OTP access token without its id-token header: a 200 here
    # proves the gateway sent it.
    me = await fe.call("GET", "/api/auth/users", token=token)
    assert me.status == 200, me
    assert me.body["email"] == EMAIL
    earned = await fe.checkin(token, "otp-1", 20.0)
    assert earned.status == 200
    assert earned.body["points"] == 20

    # Refresh through the gateway: same gateway token, new Punchh tokens behind it.
    await admin.reset_calls()
    old_refresh = grant.refresh_token
    refreshed = await fe.call("POST", "/api2/password_less/refresh_token", token=token)
    assert refreshed.status == 200, refreshed
    assert refreshed.body["data"]["access_token"] == token
    assert "refresh_token" not in refreshed.body["data"]
    assert "id_token" not in refreshed.body["data"]
    assert await admin.calls() == {"POST /api2/password_less/refresh_token": 1}
    assert grant.refreshed_at is not None
    assert grant.revoked_at is not None
    new_grant = state.grants[max(state.grants)]
    assert new_grant.id != grant.id
    assert new_grant.user_id == user_id

    after = await fe.balance(token)
    assert (after["points_balance"], after["visits"]) == (20, 1)
    # The old Punchh refresh token is dead at the sandbox itself.
    status, body = await admin.punchh(
        "POST", "/api2/password_less/refresh_token", {"refresh_token": old_refresh}, {}
    )
    assert (status, body) == (401, {"error": "Invalid refresh token"})
    # The gateway keeps the current one: a second refresh works.
    again = await fe.call("POST", "/api2/password_less/refresh_token", token=token)
    assert again.status == 200, again

    # Sign out through the gateway: Punchh revokes, the gateway forgets.
    out = await fe.call("POST", "/api2/password_less/sign_out", token=token)
    assert out.status == 200, out
    assert state.grants[max(state.grants)].revoked_at is not None
    gone = await fe.call("GET", "/api/auth/users", token=token)
    assert gone.status == 401
    assert gone.body["error"]["code"] == "invalid_session"


async def test_otp_by_phone_and_signout_alias(
    fe: Frontend, admin: SandboxAdmin, state: SandboxState
) -> None:
    sent = await fe.call("POST", "/api2/password_less/token", json={"phone": "555-010-0999"})
    assert sent.status == 200
    code = await admin.otp(phone="5550100999")
    answer = await fe.call(
        "POST",
        "/api2/password_less/verify",
        json={"phone": "5550100999", "otp": code, **CONSENT},
    )
    assert answer.status == 200, answer
    token = answer.body["data"]["access_token"]
    assert (await fe.balance(token))["points_balance"] == 0
    out = await fe.call("POST", "/api2/signout", token=token)
    assert out.status == 200
    assert all(g.revoked_at is not None for g in state.grants.values())
    assert (await fe.call("GET", "/api/auth/users", token=token)).status == 401


async def test_refresh_revives_an_otp_session_after_punchhs_token_expired(
    fe: Frontend, admin: SandboxAdmin, clock: ManualClock
) -> None:
    data = await _verify(fe, admin, **CONSENT)
    token = data["access_token"]
    assert (await fe.checkin(token, "before", 31.0)).status == 200
    clock.advance(ACCESS_TTL + 60)  # Punchh's access token is dead; the gateway session is not
    refreshed = await fe.call("POST", "/api2/password_less/refresh_token", token=token)
    assert refreshed.status == 200, refreshed
    assert refreshed.body["data"]["access_token"] == token
    assert refreshed.body["data"]["expires_in"] == 86400 - (ACCESS_TTL + 60)  # session's rest
    balance = await fe.balance(token)
    assert (balance["points_balance"], balance["visits"]) == (31, 1)
