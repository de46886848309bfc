"""Issue 15, finding 2: strangers lock owners out. Failed sign-ins are counted per
(account, client address), `sign_in_account_ip` 5 per 900 s, and per account from every
address, `sign_in_account` 50 per 900 s, both closed: five wrong passwords (or OTPs) from
one address stop that address, not the owner at home. A real gateway process behind a
trusted proxy (127.0.0.1), in front of the sandbox."""

from __future__ import annotations

from typing import Any

import aiohttp

from sandbox.server import SandboxServer
from tests.conftest import gateway_env
from tests.support.process import gateway_process

SIGN_UP = "/api/auth/customers.json"
SIGN_IN = "/api/auth/customers/sign_in"
OTP_SEND = "/api2/password_less/token"
OTP_VERIFY = "/api2/password_less/verify"
PASSWORD = "correct-horse-1"
CONSENT = {"privacy_policy": True, "terms_and_conditions": True}
STRANGER, OWNER = "203.0.113.66", "198.51.100.7"


async def _post(
    http: aiohttp.ClientSession, url: str, body: dict[str, Any], ip: str
) -> tuple[int, dict[str, Any]]:
    async with http.post(url, json=body, headers={"X-Forwarded-For": ip}) as resp:
        return resp.status, await resp.json()


async def test_a_strangers_wrong_passwords_do_not_lock_the_owner_out(
    sandbox: SandboxServer,
) -> None:
    env = gateway_env(sandbox.url, GATEWAY_TRUSTED_PROXIES="127.0.0.1")
    victim = "victim@example.com"
    async with gateway_process(env) as gw, aiohttp.ClientSession() as http:
        user = {"email": victim, "password": PASSWORD, "first_name": "A", "last_name": "B"}
        assert (await _post(http, gw.url + SIGN_UP, {"user": user}, OWNER))[0] == 201
        tries = [
            await _post(http, gw.url + SIGN_IN, {"user": {"email": victim, "password": p}}, ip)
            for p, ip in [(f"guess-{i}", STRANGER) for i in range(6)]
            + [(PASSWORD, STRANGER), (PASSWORD, OWNER)]
        ]
    statuses = [status for status, _ in tries]
    assert statuses == [401] * 5 + [429, 429, 200]
    assert "sign_in_account_ip" in tries[5][1]["error"]["message"]
    assert tries[7][1]["access_token"]


async def test_a_strangers_wrong_codes_do_not_lock_the_owner_out(sandbox: SandboxServer) -> None:
    env = gateway_env(sandbox.url, GATEWAY_TRUSTED_PROXIES="127.0.0.1")
    phone = "5550107777"
    async with gateway_process(env) as gw, aiohttp.ClientSession() as http:
        guesses = [
            await _post(
                http, gw.url + OTP_VERIFY, {"phone": phone, "otp": f"{i:06d}", **CONSENT}, STRANGER
            )
            for i in range(6)
        ]
        assert (await _post(http, gw.url + OTP_SEND, {"phone": phone}, OWNER))[0] == 200
        async with http.get(f"{sandbox.url}/__sandbox/otp", params={"phone": phone}) as resp:
            code = (await resp.json())["otp"]
        owner = await _post(
            http, gw.url + OTP_VERIFY, {"phone": phone, "otp": code, **CONSENT}, OWNER
        )
    assert [status for status, _ in guesses] == [422] * 5 + [429]
    assert "sign_in_account_ip" in guesses[5][1]["error"]["message"]
    assert owner[0] == 200, owner
