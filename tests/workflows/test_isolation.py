"""The sandbox's own routes are never reachable through the gateway, however the path is spelt."""

from __future__ import annotations

import pytest

from sandbox.state import SandboxState
from tests.conftest import Client
from tests.support.raw_http import raw_request
from tests.workflows.support import Frontend, SandboxAdmin

pytestmark = pytest.mark.asyncio

EMAIL = "iso@example.com"


async def test_sandbox_routes_are_404_through_the_gateway(
    fe: Frontend, gw: Client, admin: SandboxAdmin, state: SandboxState
) -> None:
    token, body = await fe.sign_up(EMAIL)
    await fe.call("POST", "/api2/password_less/token", json={"email": EMAIL})
    code = await admin.otp(email=EMAIL)
    assert (await fe.checkin(token, "iso-1", 5.0)).status == 200
    before = await admin.calls()
    assert before["POST /api/auth/checkins/online_order"] == 1

    attempts = [
        ("GET", f"/__sandbox/otp?email={EMAIL}"),
        ("GET", "/__sandbox/calls"),
        ("POST", "/__sandbox/calls/reset"),
        ("GET", "/__sandbox/ledger"),
        ("GET", f"/__sandbox/users/{body['id']}"),
        ("POST", f"/__sandbox/users/{body['id']}/rewards"),
        ("POST", "/__sandbox/faults"),
    ]
    for method, path in attempts:
        answer = await fe.call(method, path, json={} if method == "POST" else None, token=token)
        assert answer.status == 404, (method, path, answer)
        assert answer.body["error"]["code"] == "route_not_found"
        assert code.encode() not in answer.raw

    # Paths that only become /__sandbox/ after normalising (sent byte for byte).
    host, port = str(gw.host), int(gw.port or 0)
    for target in (
        f"/api/auth/../../__sandbox/otp?email={EMAIL}",
        f"/api/auth/%2e%2e/%2e%2e/__sandbox/otp?email={EMAIL}",
        "//__sandbox/calls",
        "/./__sandbox/ledger",
    ):
        status, _, answer = await raw_request(host, port, "GET", target)
        assert status in (400, 404), target
        assert answer["error"]["code"] in ("route_not_found", "invalid_path"), target
        assert code not in str(answer)

    # Nothing arrived: the reset did not reset, no reward, no fault, no new call counted.
    assert await admin.calls() == before
    assert (await admin.user(body["id"]))["rewards"] == []
    assert await admin.faults() == []
    assert await admin.otp(email=EMAIL) == code
    assert len(state.checkins) == 1
