"""Two brands in one gateway (issue 18), as the workflow and security tests set them up.

Brand A is the top level (the business `default`, with one POS device); brand B a
`[[businesses]]` table on `brand-b.test` and `*.brand-b.test`, its secret and business key
from `PUNCHH_CLIENT_SECRET__BRAND_B` / `PUNCHH_BUSINESS_KEY__BRAND_B`. `two_brands` is one
sandbox emulating both Punchh businesses (B earns 2 points a dollar); `serve` starts
gateways from a TOML text and an environment, on the test's manual clock.
"""

from __future__ import annotations

import secrets
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from gateway.app import make_app
from gateway.config import load_config
from sandbox.config import SandboxConfig
from sandbox.server import SandboxServer, start_sandbox
from tests.conftest import ADMIN_TOKEN, CLIENT_ID, CLIENT_SECRET, SESSION_SECRET, Client
from tests.support.clock import ManualClock
from tests.support.redis_ha_fixtures import REDIS_URL
from tests.workflows.support import (
    ACCESS_TTL,
    BUSINESS_KEY,
    LOCATION_KEY,
    POS_TOML,
    STORE_NUMBER,
    menu_items,
)

B_CLIENT = "client-brand-b"
B_SECRET = "brand-b-secret-value-0123456789"
B_BUSINESS_KEY = "BIZ-KEY-B"
B_LOCATION = "LOC-201"
B_DEVICE = "store-201-kiosk-device-key"
B_HOST = "brand-b.test"

BRAND_A_POS = POS_TOML  # brand A: the top level, with one POS device


def brand_b(*, device_key: str = B_DEVICE, extra: str = "", pos: bool = True) -> str:
    """Brand B's table; `extra` lines go into it (overrides), `pos` adds its device."""
    table = f"""
[[businesses]]
name = "brand-b"
hosts = ["{B_HOST}", "*.brand-b.test"]
punchh.client_id = "{B_CLIENT}"
pos.enabled = {"true" if pos else "false"}
{extra}
"""
    if not pos:
        return table
    return (
        table
        + f"""
[[businesses.pos.devices]]
name = "store-201"
key = "{device_key}"
location_key = "{B_LOCATION}"
"""
    )


def brands_env(upstream: str, **more: str) -> dict[str, str]:
    """The gateway's environment: brand A's top-level credentials and brand B's secrets."""
    return brands_only_env(
        upstream,
        PUNCHH_CLIENT_ID=CLIENT_ID,
        PUNCHH_CLIENT_SECRET=CLIENT_SECRET,
        PUNCHH_BUSINESS_KEY=BUSINESS_KEY,
        **more,
    )


def brands_only_env(upstream: str, **more: str) -> dict[str, str]:
    """Brand B's secrets and no top-level credentials: no business `default`."""
    return {
        "PUNCHH_BASE_URL": upstream,
        "GATEWAY_SESSION_SECRET": SESSION_SECRET,
        "GATEWAY_ADMIN_TOKEN": ADMIN_TOKEN,
        "PUNCHH_CLIENT_SECRET__BRAND_B": B_SECRET,
        "PUNCHH_BUSINESS_KEY__BRAND_B": B_BUSINESS_KEY,
        **more,
    }


def redis_env() -> dict[str, str]:
    """Stores on the test Redis, under a prefix of this test's own."""
    return {
        "GATEWAY_STORE_URL": REDIS_URL,
        "GATEWAY_STORE_PREFIX": f"lg-test-{uuid.uuid4().hex[:8]}:",
        "GATEWAY_STORE_KEY": secrets.token_urlsafe(32),
    }


def order(uid: str, amount: float) -> dict[str, Any]:
    """An online order's check-in body (seed 002)."""
    return {
        "external_uid": uid,
        "receipt_amount": amount,
        "subtotal_amount": amount,
        "receipt_datetime": "2027-01-15T12:00:00Z",
        "payable": str(amount),
        "transaction_no": uid,
        "channel": "online_order",
        "menu_items": menu_items(amount),
    }


@pytest.fixture
async def two_brands(clock: ManualClock) -> AsyncIterator[SandboxServer]:
    """One sandbox, two Punchh businesses (B earns 2 points a dollar)."""
    brand_a = SandboxConfig(
        client_id=CLIENT_ID,
        client_secret=CLIENT_SECRET,
        business_key=BUSINESS_KEY,
        location_keys={LOCATION_KEY: STORE_NUMBER},
        access_token_ttl=ACCESS_TTL,
    )
    brand_b_cfg = SandboxConfig(
        client_id=B_CLIENT,
        client_secret=B_SECRET,
        business_key=B_BUSINESS_KEY,
        location_keys={B_LOCATION: "201"},
        access_token_ttl=ACCESS_TTL,
        points_per_dollar=2,
    )
    server = await start_sandbox([brand_a, brand_b_cfg], clock=clock)
    yield server
    await server.close()


Serve = Callable[[str, dict[str, str]], Awaitable[Client]]


@pytest.fixture
async def serve(tmp_path: Path, clock: ManualClock) -> AsyncIterator[Serve]:
    """Starts a gateway from a TOML text and an environment; closes them all after."""
    clients: list[Client] = []

    async def start(toml: str, env: dict[str, str]) -> Client:
        path = tmp_path / f"gateway-{len(clients)}.toml"
        path.write_text(toml)
        app = make_app(load_config(str(path), env), clock=clock)
        client: Client = TestClient(TestServer(app, host="127.0.0.1"))
        await client.start_server()
        clients.append(client)
        return client

    yield start
    for c in clients:
        await c.close()
