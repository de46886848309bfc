"""Workflow 4: the mobile family (SHA256 digest, device id, token object)."""

from __future__ import annotations

from tests.sandbox.conftest import Punchh

DEVICE = {"punchh-app-device-id": "device-1"}
USER = {
    "email": "mob@example.com",
    "password": "password123",
    "first_name": "Mo",
    "last_name": "Bile",
}


async def test_mobile_sign_up_login_balance_logout(punchh: Punchh) -> None:
    signed_up = await punchh.call("POST", "/api2/mobile/users", {"user": USER}, headers=DEVICE)
    assert signed_up.status == 201
    assert signed_up.body["user"]["email"] == "mob@example.com"
    login = await punchh.call("POST", "/api2/mobile/users/login", {"user": USER}, headers=DEVICE)
    assert login.status == 200
    token = login.body["access_token"]
    assert set(token) == {"token", "refresh_token", "seconds_to_expire", "revoked_at", "scopes"}
    assert (token["seconds_to_expire"], token["revoked_at"]) == (86400, None)
    assert login.body["user"]["id"] == signed_up.body["user"]["id"]
    await punchh.checkin(token["token"], "m-1", 12)
    balance = await punchh.call("GET", "/api2/mobile/users/balance", token=token["token"])
    assert balance.status == 200
    assert (balance.body["points_balance"], balance.body["visits"]) == (12, 1)
    out = await punchh.call("DELETE", "/api2/mobile/users/logout", {}, token=token["token"])
    assert out.status == 200
    after = await punchh.call("GET", "/api2/mobile/users/balance", token=token["token"])
    assert after.status == 401


async def test_mobile_needs_a_device_id_and_good_credentials(punchh: Punchh) -> None:
    no_device = await punchh.call("POST", "/api2/mobile/users", {"user": USER})
    assert no_device.status == 400
    await punchh.call("POST", "/api2/mobile/users", {"user": USER}, headers=DEVICE)
    bad = {**USER, "password": "wrong-password"}
    reply = await punchh.call("POST", "/api2/mobile/users/login", {"user": bad}, headers=DEVICE)
    assert reply.status == 401
    dup = await punchh.call("POST", "/api2/mobile/users", {"user": USER}, headers=DEVICE)
    assert (dup.status, dup.body["errors"]["email"]) == (422, ["has already been taken"])
