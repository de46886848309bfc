"""Issue 15, finding 5: sign-in floods evict other guests. The memory store used to drop
the sessions expiring earliest when full, so one account signing in over and over logged
everyone else out. Now a guest holds at most `session.max_per_user` sessions (10), the
oldest ending first, and a full table takes the least recently used session of a guest
with more than one before anyone's only session. A real gateway process (memory store
of 12 sessions: full with 8 guests and 4 of the flood's) in front of the sandbox."""

from __future__ import annotations

from pathlib import Path

import aiohttp

from sandbox.server import SandboxServer
from tests.conftest import gateway_env
from tests.support.process import gateway_process

SIGN_UP = "/api/auth/customers.json"
SIGN_IN = "/api/auth/customers/sign_in"
PROFILE = "/api/auth/users"
PASSWORD = "correct-horse-1"


async def test_one_account_signing_in_over_and_over_logs_nobody_else_out(
    sandbox: SandboxServer, tmp_path: Path
) -> None:
    config = tmp_path / "gateway.toml"
    config.write_text("[session]\nmax_sessions = 12\n")  # full: 8 guests + 4
    env = gateway_env(sandbox.url, GATEWAY_CONFIG=str(config))
    async with gateway_process(env) as gw, aiohttp.ClientSession() as http:

        async def sign(path: str, email: str) -> str:
            user = {"email": email, "password": PASSWORD, "first_name": "F", "last_name": "L"}
            async with http.post(f"{gw.url}{path}", json={"user": user}) as resp:
                assert resp.status in (200, 201), await resp.text()
                return str((await resp.json())["access_token"])

        async def status(token: str) -> int:
            headers = {"Authorization": f"Bearer {token}"}
            async with http.get(f"{gw.url}{PROFILE}", headers=headers) as resp:
                return resp.status

        guests = [await sign(SIGN_UP, f"guest{i}@example.com") for i in range(8)]
        await sign(SIGN_UP, "flood@example.com")
        flood = [await sign(SIGN_IN, "flood@example.com") for _ in range(60)]
        guest_statuses = [await status(token) for token in guests]
        flood_statuses = [await status(token) for token in flood]
    assert guest_statuses == [200] * 8
    # The per-guest cap (10) and then the full table (12) took only the flooding account's
    # sessions, its oldest first: its 4 newest are left beside the 8 guests.
    assert flood_statuses == [401] * 56 + [200] * 4
