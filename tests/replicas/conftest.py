"""`sandbox`: the Punchh emulator in this process, in front of which the tests here start
real gateway processes (no POS locations); `redis_server`: a Redis of the test's own, to
stop, freeze and start again."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from sandbox.config import SandboxConfig
from sandbox.server import SandboxServer, start_sandbox
from tests.conftest import CLIENT_ID, CLIENT_SECRET
from tests.support.redis_server import RedisServer


@pytest.fixture
async def sandbox() -> AsyncIterator[SandboxServer]:
    server = await start_sandbox(
        SandboxConfig(
            client_id=CLIENT_ID, client_secret=CLIENT_SECRET, business_key="", location_keys={}
        )
    )
    yield server
    await server.close()


@pytest.fixture
async def redis_server(tmp_path: Path) -> AsyncIterator[RedisServer]:
    server = RedisServer(tmp_path)
    server.start()
    yield server
    server.stop()
