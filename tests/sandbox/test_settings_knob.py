"""The access-token lifetime knob: later grants live that long, earlier ones keep theirs."""

from __future__ import annotations

from tests.sandbox.conftest import ManualClock, Punchh


async def test_lifetime_knob_applies_to_new_grants_only(punchh: Punchh, clock: ManualClock) -> None:
    before = await punchh.otp_sign_in("knob@example.com")
    reply = await punchh.sandbox("POST", "settings", {"access_token_ttl": 30})
    assert reply.status == 200
    assert reply.body == {"access_token_ttl": 30}
    short = await punchh.otp_sign_in("knob@example.com")
    assert (before["expires_in"], short["expires_in"]) == (86400, 30)
    clock.advance(31)
    assert (
        await punchh.call(
            "GET", "/api/auth/users", token=short["access_token"], id_token=short["id_token"]
        )
    ).status == 401
    assert (
        await punchh.call(
            "GET", "/api/auth/users", token=before["access_token"], id_token=before["id_token"]
        )
    ).status == 200
    reset = await punchh.sandbox("POST", "settings", {"access_token_ttl": None})
    assert reset.body == {"access_token_ttl": 86400}
    assert (await punchh.otp_sign_in("knob@example.com"))["expires_in"] == 86400


async def test_lifetime_knob_rejects_bad_values(punchh: Punchh) -> None:
    for body in ({"access_token_ttl": 0}, {"access_token_ttl": "5"}, {"other": 1}):
        assert (await punchh.sandbox("POST", "settings", body)).status == 400
