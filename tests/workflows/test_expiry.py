"""Punchh's access token expires before the gateway session does: the 401 passes through."""

from __future__ import annotations

import pytest

from sandbox.state import SandboxState
from tests.support.clock import ManualClock
from tests.workflows.support import ACCESS_TTL, Frontend, SandboxAdmin

pytestmark = pytest.mark.asyncio


async def test_expired_punchh_token_gives_punchhs_401(
    fe: Frontend, clock: ManualClock, admin: SandboxAdmin, state: SandboxState
) -> None:
    token, _ = await fe.sign_up("late@example.com")
    assert (await fe.checkin(token, "early", 10.0)).status == 200

    clock.advance(ACCESS_TTL)  # the last second the sandbox still honours it
    assert (await fe.balance(token))["points_balance"] == 10

    clock.advance(1)
    await admin.reset_calls()
    # no-cache: the balance read a second ago is cached, and a cached answer needs no Punchh.
    expired = await fe.call(
        "GET", "/api/auth/checkins/balance", token=token, headers={"Cache-Control": "no-cache"}
    )
    assert expired.status == 401
    assert expired.body == {"error": "Access token has expired"}  # Punchh's, not the gateway's
    assert await admin.calls() == {"GET /api/auth/checkins/balance": 1}  # no refresh attempt
    late = await fe.checkin(token, "late", 10.0)
    assert late.status == 401
    assert len(state.checkins) == 1

    # A fresh sign-in is the way back (the gateway session itself is still alive).
    again = await fe.sign_in("late@example.com")
    assert again.status == 200
    assert (await fe.balance(again.body["access_token"]))["points_balance"] == 10
