"""Workflow fixtures: a real sandbox and a real gateway in front of it, on one manual clock.

`sandbox`   the Punchh emulator on 127.0.0.1 (one POS location, LOC-101 -> store 101)
`gw`        the gateway in front of it, POS on with one device (overrides tests/conftest.py's
            `gw`, which fronts the recorder)
`fe`        a frontend on `gw` that fails on any sandbox token in an answer
`admin`     the sandbox's `/__sandbox/` routes, called on the sandbox itself
`two_brands`, `serve`: two businesses in one gateway (tests/support/brands.py)
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from sandbox.config import SandboxConfig
from sandbox.context import STATE_KEY
from sandbox.server import SandboxServer, start_sandbox
from sandbox.state import SandboxState
from tests.conftest import CLIENT_ID, CLIENT_SECRET, Client, GatewayFactory
from tests.support.brands import serve, two_brands
from tests.support.clock import ManualClock
from tests.workflows.support import (
    ACCESS_TTL,
    BUSINESS_KEY,
    LOCATION_KEY,
    POS_TOML,
    STORE_NUMBER,
    Frontend,
    SandboxAdmin,
    sandbox_tokens,
)

__all__ = ["serve", "two_brands"]


@pytest.fixture
def sandbox_config() -> SandboxConfig:
    return SandboxConfig(
        client_id=CLIENT_ID,
        client_secret=CLIENT_SECRET,
        business_key=BUSINESS_KEY,
        location_keys={LOCATION_KEY: STORE_NUMBER},
        access_token_ttl=ACCESS_TTL,
    )


@pytest.fixture
async def sandbox(
    sandbox_config: SandboxConfig, clock: ManualClock
) -> AsyncIterator[SandboxServer]:
    server = await start_sandbox(sandbox_config, clock=clock)
    yield server
    await server.close()


@pytest.fixture
def state(sandbox: SandboxServer) -> SandboxState:
    return sandbox.app[STATE_KEY]


@pytest.fixture
def pos_config_file(tmp_path: Path) -> Path:
    path = tmp_path / "gateway.toml"
    path.write_text(POS_TOML)
    return path


@pytest.fixture
async def gw(sandbox: SandboxServer, make_gateway: GatewayFactory, pos_config_file: Path) -> Client:
    return await make_gateway(
        sandbox.url, config_file=pos_config_file, PUNCHH_BUSINESS_KEY=BUSINESS_KEY
    )


@pytest.fixture
def fe(gw: Client, state: SandboxState) -> Frontend:
    return Frontend(gw, lambda: sandbox_tokens(state))


@pytest.fixture
async def admin(sandbox: SandboxServer) -> AsyncIterator[SandboxAdmin]:
    async with aiohttp.ClientSession() as http:
        yield SandboxAdmin(http, sandbox.url)
