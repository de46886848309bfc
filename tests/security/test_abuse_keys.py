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


async def test_one_phone_in_any_script_or_with_its_country_code_is_one_budget(
    sandbox: SandboxServer,
) -> None:
    """After an attack review: "+1 555...", Arabic-Indic and fullwidth digits each bought
    a fresh `otp_target` budget for one phone."""
    forms: list[Any] = [
        "5550108888",
        "+1 555 010 8888",
        "\u0665\u0665\u0665\u0660\u0661\u0660\u0668\u0668\u0668\u0668",  # Arabic-Indic
        "\uff15\uff15\uff15\uff10\uff11\uff10\uff18\uff18\uff18\uff18",  # fullwidth
        15550108888,
        "1 (555) 010-8888",
    ]
    async with gateway_process(gateway_env(sandbox.url)) as gw, aiohttp.ClientSession() as http:
        answers = [await _post(http, gw, OTP, {"phone": p}) for p in forms]
        assert [status for status, _ in answers] == [200] * 3 + [429] * 3
        assert all("otp_target" in a["error"]["message"] for _, a in answers[3:])
        assert await _calls(http, sandbox, f"POST {OTP}") == 3


@pytest.mark.parametrize(
    ("path", "query", "body"),
    [
        (OTP, "phone=5550109999", {}),
        (SIGN_IN, "user[email]=victim@example.com", {"user": {"email": "decoy@x.co"}}),
        ("/api/auth/users/forgot_password", "user%5Bemail%5D=victim@example.com", {}),
    ],
)
async def test_identifiers_in_the_query_string_are_refused(
    sandbox: SandboxServer, path: str, query: str, body: dict[str, Any]
) -> None:
    """After an attack review: Punchh (Rails) reads parameters from the query string too,
    and lets them win over the body's; the budgets read the body. A route with an abuse
    class takes its parameters in the body only."""
    async with gateway_process(gateway_env(sandbox.url)) as gw, aiohttp.ClientSession() as http:
        async with http.post(f"{gw.url}{path}?{query}", json=body) as resp:
            status, answer = resp.status, await resp.json()
        assert (status, answer["error"]["code"]) == (400, "query_not_allowed")
        assert await _calls(http, sandbox, f"POST {path}") == 0
