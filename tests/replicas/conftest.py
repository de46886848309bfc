"""`sandbox`: the Punchh emulator in this process, in front of which the tests here start
real gateway processes (no POS locations)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from sandbox.config import SandboxConfig
from sandbox.server import SandboxServer, start_sandbox
from tests.conftest import CLIENT_ID, CLIENT_SECRET


@pytest.fixture
async def sandbox() -> AsyncIterator[SandboxServer]:
    server = await start_sandbox(
        SandboxConfig(
            client_id=CLIENT_ID, client_secret=CLIENT_SECRET, business_key="", location_keys={}
        )
    )
    yield server
    await server.close()
