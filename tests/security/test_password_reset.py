"""Issue 15, finding 3: password-reset mail bombing. At most 3 reset mails per email per
600 s reach Punchh (policy `password_reset_target`, closed), whatever the address's case
or spacing; another address has its own budget. A real gateway process, the sandbox."""

from __future__ import annotations

import aiohttp

from sandbox.server import SandboxServer
from tests.conftest import gateway_env
from tests.support.process import gateway_process

RESET = "/api/auth/users/forgot_password"


async def test_reset_mails_per_address_are_limited(sandbox: SandboxServer) -> None:
    forms = ["victim@example.com", " Victim@Example.com", "VICTIM@example.com "] * 2
    async with gateway_process(gateway_env(sandbox.url)) as gw, aiohttp.ClientSession() as http:
        statuses = []
        for email in forms:
            async with http.post(f"{gw.url}{RESET}", json={"user": {"email": email}}) as resp:
                statuses.append(resp.status)
                if resp.status == 429:
                    answer = await resp.json()
                    assert answer["error"]["code"] == "rate_limited"
                    assert "password_reset_target" in answer["error"]["message"]
                    assert int(resp.headers["Retry-After"]) > 0
        async with http.post(f"{gw.url}{RESET}", json={"user": {"email": "other@x.io"}}) as r:
            other = r.status
        async with http.get(f"{sandbox.url}/__sandbox/calls") as resp:
            calls = await resp.json()
    assert statuses == [200, 200, 200, 429, 429, 429]
    assert other == 200
    assert calls.get(f"POST {RESET}") == 4  # three for the victim, one for the other
