"""Mobile (HMAC-SHA256 family): sign-up and login with a device id, balance, two logouts."""

from __future__ import annotations

import pytest

from sandbox.state import SandboxState
from tests.workflows.support import PASSWORD, Frontend, gateway_claims

pytestmark = pytest.mark.asyncio

DEVICE = {"punchh-app-device-id": "device-7f3a"}
USER = {"email": "mo@example.com", "password": PASSWORD, "first_name": "Mo", "last_name": "Bile"}


async def test_mobile_sign_up_login_balance_logout(fe: Frontend, state: SandboxState) -> None:
    no_device = await fe.call("POST", "/api2/mobile/users", json={"user": USER})
    assert no_device.status == 400, no_device
    assert state.users == {}

    signed_up = await fe.call("POST", "/api2/mobile/users", json={"user": USER}, headers=DEVICE)
    assert signed_up.status == 201, signed_up
    user_id = signed_up.body["user"]["id"]
    access = signed_up.body["access_token"]
    assert set(access) == {"token", "seconds_to_expire", "revoked_at", "scopes"}
    assert access["seconds_to_expire"] == 86400
    first = access["token"]
    assert gateway_claims(first)["sub"] == str(user_id)
    assert state.users[user_id].profile["signup_channel"] == "MobileEmail"

    login = {"user": {"email": USER["email"], "password": PASSWORD}}
    logged_in = await fe.call("POST", "/api2/mobile/users/login", json=login, headers=DEVICE)
    assert logged_in.status == 200, logged_in
    second = logged_in.body["access_token"]["token"]
    assert second != first
    bad = {"user": {"email": USER["email"], "password": "wrong-password"}}
    refused = await fe.call("POST", "/api2/mobile/users/login", json=bad, headers=DEVICE)
    assert refused.status == 401

    # Points earned online show in the mobile balance of either session.
    assert (await fe.checkin(first, "app-order-1", 27.5)).status == 200
    for token in (first, second):
        balance = await fe.balance(token, "/api2/mobile/users/balance")
        assert balance["user_id"] == user_id
        assert (balance["points_balance"], balance["visits"]) == (27, 1)
    assert await fe.balance(first, "/api2/mobile/users/balance") == await fe.balance(first)

    # Logout through Punchh's route: the sandbox revokes that grant, the gateway ends it.
    out = await fe.call("DELETE", "/api2/mobile/users/logout", token=first)
    assert out.status == 200, out
    grants = sorted((g for g in state.grants.values() if g.user_id == user_id), key=lambda g: g.id)
    assert [g.revoked_at is not None for g in grants] == [True, False]
    gone = await fe.call("GET", "/api2/mobile/users/balance", token=first)
    assert gone.status == 401
    assert gone.body["error"]["code"] == "invalid_session"

    # The gateway's own logout ends the other session.
    assert (await fe.balance(second, "/api2/mobile/users/balance"))["points_balance"] == 27
    ended = await fe.call("POST", "/gateway/logout", token=second)
    assert ended.status == 204
    assert ended.raw == b""
    after = await fe.call("GET", "/api2/mobile/users/balance", token=second)
    assert after.status == 401
    assert after.body["error"]["code"] == "invalid_session"
    twice = await fe.call("POST", "/gateway/logout", token=second)
    assert twice.status == 401
