"""Issue 15, finding 1: abuse budgets cannot be sidestepped by a JSON type change.

Against a real gateway process in front of the sandbox: an OTP target or a sign-in
account given as a list, an object, a float or a bool (or an email that is a number) is
400 invalid_identifier before any budget or call; a phone given as a number or in any
punctuation is the same phone, so at most 3 OTP sends per target per 600 s reach Punchh.
"""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest

from sandbox.server import SandboxServer
from tests.conftest import gateway_env
from tests.support.process import GatewayProcess, gateway_process

OTP = "/api2/password_less/token"
SIGN_IN = "/api/auth/customers/sign_in"


async def _calls(http: aiohttp.ClientSession, sandbox: SandboxServer, route: str) -> int:
    async with http.get(f"{sandbox.url}/__sandbox/calls") as resp:
        calls: dict[str, int] = await resp.json()
    return calls.get(route, 0)


async def _post(http: aiohttp.ClientSession, gw: GatewayProcess, path: str, body: Any) -> Any:
    async with http.post(f"{gw.url}{path}", json=body) as resp:
        return resp.status, await resp.json()


@pytest.mark.parametrize(
    "body",
    [
        {"phone": ["5550107777"]},
        {"phone": {"x": "5550107777"}},
        {"phone": 5550107777.0},
        {"email": 1, "phone": "5550107777"},
        {"email": True},
        {"email": ["victim@example.com"]},
    ],
)
async def test_an_otp_target_of_another_type_is_refused_before_punchh(
    sandbox: SandboxServer, body: dict[str, Any]
) -> None:
    async with gateway_process(gateway_env(sandbox.url)) as gw, aiohttp.ClientSession() as http:
        status, answer = await _post(http, gw, OTP, body)
        assert (status, answer["error"]["code"]) == (400, "invalid_identifier")
        assert "request_id" in answer["error"]
        assert await _calls(http, sandbox, f"POST {OTP}") == 0


async def test_every_form_of_one_phone_shares_one_budget(sandbox: SandboxServer) -> None:
    forms: list[Any] = ["5550107777", 5550107777, "(555) 010-7777", " 555.010.7777 ", 5550107777]
    async with gateway_process(gateway_env(sandbox.url)) as gw, aiohttp.ClientSession() as http:
        statuses = [(await _post(http, gw, OTP, {"phone": p}))[0] for p in forms]
        assert statuses[:3] == [200, 200, 200]
        assert statuses[3:] == [429, 429]
        assert await _calls(http, sandbox, f"POST {OTP}") == 3


async def test_a_sign_in_account_of_another_type_is_refused_before_punchh(
    sandbox: SandboxServer,
) -> None:
    async with gateway_process(gateway_env(sandbox.url)) as gw, aiohttp.ClientSession() as http:
        for body in (
            {"user": {"email": ["ada@example.com"], "password": "wrong-pass-1"}},
            {"user": {"email": {"$ne": ""}, "password": "wrong-pass-1"}},
            {"user": ["ada@example.com", "wrong-pass-1"]},
        ):
            status, answer = await _post(http, gw, SIGN_IN, body)
            assert (status, answer["error"]["code"]) == (400, "invalid_identifier"), body
        assert await _calls(http, sandbox, f"POST {SIGN_IN}") == 0
