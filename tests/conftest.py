"""Shared fixtures: real servers on 127.0.0.1 (a recording fake Punchh, the gateway)."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from gateway.app import make_app
from gateway.config import GatewayConfig, load_config
from tests.support.clock import ManualClock
from tests.support.recorder import Recorder

pytest_plugins = ["tests.support.redis_ha_fixtures"]

CLIENT_ID = "client-abc"
CLIENT_SECRET = "s3cret-client-value"
SESSION_SECRET = "session-secret-" + "x" * 32
# For tests that read /metrics on the main port: served there only with the admin token.
ADMIN_TOKEN = "test-admin-token-" + "t" * 24
ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}

Client = TestClient[web.Request, web.Application]
GatewayFactory = Callable[..., Awaitable[Client]]


def gateway_env(upstream_url: str, **overrides: str) -> dict[str, str]:
    env = {
        "PUNCHH_BASE_URL": upstream_url,
        "PUNCHH_CLIENT_ID": CLIENT_ID,
        "PUNCHH_CLIENT_SECRET": CLIENT_SECRET,
        "GATEWAY_SESSION_SECRET": SESSION_SECRET,
    }
    env.update(overrides)
    return env


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
async def recorder() -> AsyncIterator[Recorder]:
    rec = Recorder(CLIENT_SECRET)
    server = TestServer(rec.app, host="127.0.0.1")
    await server.start_server()
    rec.url = str(server.make_url("")).rstrip("/")
    yield rec
    await server.close()


@pytest.fixture
async def make_gateway(clock: ManualClock) -> AsyncIterator[GatewayFactory]:
    clients: list[Client] = []

    async def start(
        upstream_url: str,
        *,
        config_file: Path | None = None,
        monotonic: Callable[[], float] | None = None,
        **env: str,
    ) -> Client:
        """`monotonic`: a manual clock for the calls to Punchh (breakers, retry budget)."""
        cfg: GatewayConfig = load_config(
            str(config_file) if config_file else None, gateway_env(upstream_url, **env)
        )
        app = make_app(cfg, clock=clock, monotonic=monotonic or time.monotonic)
        client: Client = TestClient(TestServer(app, host="127.0.0.1"))
        await client.start_server()
        clients.append(client)
        return client

    yield start
    for c in clients:
        await c.close()


@pytest.fixture
async def gw(recorder: Recorder, make_gateway: GatewayFactory) -> Client:
    """The gateway in front of the recording fake Punchh."""
    return await make_gateway(recorder.url)
