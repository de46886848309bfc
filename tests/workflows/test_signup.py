"""Seed 001: sign-up through the gateway, referral credit, and the 422s."""

from __future__ import annotations

import jwt
import pytest

from sandbox.state import SandboxState
from tests.support.clock import ManualClock
from tests.workflows.support import NAMES, PASSWORD, Frontend, SandboxAdmin, gateway_claims

pytestmark = pytest.mark.asyncio


async def test_sign_up_hands_out_a_gateway_token_and_a_referral_code(
    fe: Frontend, state: SandboxState, clock: ManualClock
) -> None:
    token, body = await fe.sign_up(
        "ada@example.com", first_name="Ada", last_name="Byron", phone="(555) 010-0001"
    )
    user_id = body["id"]
    assert body["email"] == "ada@example.com"
    assert body["phone"] == "5550100001"
    assert body["authentication_token"] == token  # both Punchh tokens became the one gateway token
    assert "id_token" not in body
    assert "refresh_token" not in body
    claims = gateway_claims(token)
    assert claims["sub"] == str(user_id)
    assert claims["iat"] == int(clock.now)
    assert jwt.get_unverified_header(token)["alg"] == "HS256"
    # The sandbox did issue its own pair for this guest: the frontend got neither.
    (grant,) = [g for g in state.grants.values() if g.user_id == user_id]
    assert {grant.access_token, grant.authentication_token}.isdisjoint({token})
    assert token not in state.tokens
    assert body["referral_code"].startswith("ADAB")
    assert len(body["referral_code"]) == 9
    assert body["referral_code"] == state.users[user_id].referral_code
    # The token works for the guest's own routes.
    me = await fe.call("GET", "/api/auth/users", token=token)
    assert me.status == 200
    assert me.body["id"] == user_id


async def test_invite_code_credits_the_referrer(fe: Frontend, admin: SandboxAdmin) -> None:
    referrer_token, referrer = await fe.sign_up("ref@example.com", first_name="Rita")
    before = await fe.balance(referrer_token)
    assert (before["points_balance"], before["lifetime_points"]) == (0, 0)

    _, friend = await fe.sign_up(
        "friend@example.com", first_name="Fred", invite_code=referrer["referral_code"].lower()
    )

    after = await fe.balance(referrer_token)
    assert after["points_balance"] == 50
    assert after["lifetime_points"] == 50
    assert after["visits"] == 0
    assert after["points_to_next_reward"] == 50
    assert after["rewards"] == []
    assert (await admin.user(friend["id"]))["invited_by"] == referrer["id"]


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        ({"email": "TAKEN@example.com"}, "email", "has already been taken"),
        ({"password": "short"}, "password", "is too short (minimum is 8 characters)"),
        ({"email": "not-an-email"}, "email", "is invalid"),
        ({"invite_code": "NOPE12345"}, "invite_code", "is invalid"),
    ],
)
async def test_sign_up_rejections_are_passed_through_and_create_nothing(
    fe: Frontend, state: SandboxState, fields: dict[str, str], field: str, message: str
) -> None:
    await fe.sign_up("taken@example.com")
    users, grants = len(state.users), len(state.grants)
    user = {"email": "new@example.com", "password": PASSWORD, **NAMES, **fields}
    answer = await fe.call("POST", "/api/auth/customers.json", json={"user": user})
    assert answer.status == 422, answer
    assert answer.body["errors"][field] == [message]
    assert "access_token" not in answer.body
    assert (len(state.users), len(state.grants)) == (users, grants)
