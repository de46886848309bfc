"""The user look-up cache across replicas: two real gateway processes sharing the real Redis
(cache and sessions under one random prefix) in front of one in-process sandbox; and a
cache Redis that cannot be reached, which must never turn a read into an error."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from typing import Any

import aiohttp
import pytest

from gateway.store.resp import connect
from sandbox.config import SandboxConfig
from sandbox.server import SandboxServer, start_sandbox
from tests.conftest import CLIENT_ID, CLIENT_SECRET, GatewayFactory, gateway_env
from tests.store.conftest import STORE_KEY, drop_keys
from tests.support.clock import ManualClock
from tests.support.process import GatewayProcess, free_port, gateway_process
from tests.workflows.support import PASSWORD, RECEIPT_AT, menu_items

BALANCE = "/api/auth/checkins/balance"
SANDBOX_CONFIG = SandboxConfig(
    client_id=CLIENT_ID, client_secret=CLIENT_SECRET, business_key="", location_keys={}
)


@pytest.fixture
async def sandbox() -> AsyncIterator[SandboxServer]:
    server = await start_sandbox(SANDBOX_CONFIG)
    yield server
    await server.close()


@pytest.fixture
async def prefix(redis_url: str) -> AsyncIterator[str]:
    value = f"lgtest:{secrets.token_hex(4)}:"
    yield value
    client = connect(redis_url, timeout=1.0)
    try:
        await drop_keys(client, value)
    finally:
        await client.aclose()


@pytest.fixture
async def replicas(
    sandbox: SandboxServer, prefix: str, redis_url: str
) -> AsyncIterator[tuple[GatewayProcess, GatewayProcess]]:
    """Two gateways on one server, on Sentinel and on Cluster (`redis_url`)."""
    env = gateway_env(
        sandbox.url,
        GATEWAY_STORE_URL=redis_url,
        GATEWAY_STORE_PREFIX=prefix,
        GATEWAY_STORE_KEY=STORE_KEY,
    )
    async with AsyncExitStack() as stack:
        a = await stack.enter_async_context(gateway_process(env))
        b = await stack.enter_async_context(gateway_process(env))
        yield a, b


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


class Guest:
    """One guest's calls through any gateway (by base URL), and the sandbox's counters."""

    def __init__(self, http: aiohttp.ClientSession, sandbox_url: str, email: str) -> None:
        self.http, self.sandbox_url, self.email = http, sandbox_url, email
        self.token = ""
        self.user_id = 0

    def _auth(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}", **(extra or {})}

    async def sign_up(self, gw: str) -> None:
        user = {"email": self.email, "password": PASSWORD, "first_name": "Rep", "last_name": "Lica"}
        async with self.http.post(f"{gw}/api/auth/customers.json", json={"user": user}) as resp:
            assert resp.status == 201, await resp.text()
            body = await resp.json()
        self.token, self.user_id = str(body["access_token"]), int(body["id"])

    async def sign_in(self, gw: str) -> None:
        user = {"email": self.email, "password": PASSWORD}
        async with self.http.post(f"{gw}/api/auth/customers/sign_in", json={"user": user}) as resp:
            assert resp.status == 200, await resp.text()
            body = await resp.json()
        assert int(body["id"]) == self.user_id
        self.token = str(body["access_token"])

    async def checkin(self, gw: str, uid: str, amount: float) -> int:
        order = {
            "external_uid": uid,
            "receipt_amount": amount,
            "subtotal_amount": amount,
            "receipt_datetime": RECEIPT_AT,
            "payable": str(amount),
            "transaction_no": uid,
            "menu_items": menu_items(amount),
        }
        async with self.http.post(
            f"{gw}/api/auth/checkins/online_order", json=order, headers=self._auth()
        ) as resp:
            assert resp.status == 200, await resp.text()
            return int((await resp.json())["points"])

    async def balance(
        self, gw: str, headers: dict[str, str] | None = None
    ) -> tuple[str, dict[str, Any]]:
        """(X-Cache, body) of a balance read; fails on anything but 200."""
        async with self.http.get(f"{gw}{BALANCE}", headers=self._auth(headers)) as resp:
            assert resp.status == 200, await resp.text()
            body: dict[str, Any] = await resp.json()
            assert body["user_id"] == self.user_id, body
            return resp.headers.get("X-Cache", ""), body

    async def logout(self, gw: str) -> None:
        async with self.http.post(f"{gw}/gateway/logout", headers=self._auth()) as resp:
            assert resp.status == 204, await resp.text()

    async def upstream_reads(self) -> int:
        async with self.http.get(f"{self.sandbox_url}/__sandbox/calls") as resp:
            assert resp.status == 200
            calls: dict[str, int] = await resp.json()
        return calls.get(f"GET {BALANCE}", 0)


async def test_a_checkin_through_one_replica_makes_the_others_balance_stale(
    replicas: tuple[GatewayProcess, GatewayProcess],
    sandbox: SandboxServer,
    http: aiohttp.ClientSession,
) -> None:
    a, b = replicas
    guest = Guest(http, sandbox.url, "across@example.com")
    await guest.sign_up(a.url)
    assert await guest.checkin(a.url, "a-1", 10.0) == 10

    first = await guest.balance(b.url)
    assert (first[0], first[1]["points_balance"]) == ("MISS", 10)
    second = await guest.balance(b.url)
    assert (second[0], second[1]["points_balance"]) == ("HIT", 10)
    assert await guest.upstream_reads() == 1

    assert await guest.checkin(a.url, "a-2", 25.0) == 25
    outcome, after = await guest.balance(b.url)
    assert (outcome, after["points_balance"], after["visits"]) == ("MISS", 35, 2)
    assert await guest.upstream_reads() == 2
    outcome, again = await guest.balance(b.url)
    assert (outcome, again["points_balance"]) == ("HIT", 35)
    outcome, through_a = await guest.balance(a.url)
    assert (outcome, through_a["points_balance"]) == ("HIT", 35)
    assert await guest.upstream_reads() == 2


async def test_the_cache_is_shared_and_a_sign_out_on_one_replica_drops_it_on_both(
    replicas: tuple[GatewayProcess, GatewayProcess],
    sandbox: SandboxServer,
    http: aiohttp.ClientSession,
) -> None:
    a, b = replicas
    guest = Guest(http, sandbox.url, "shared@example.com")
    await guest.sign_up(b.url)
    assert await guest.checkin(b.url, "s-1", 12.0) == 12

    outcome, through_a = await guest.balance(a.url)
    assert (outcome, through_a["points_balance"]) == ("MISS", 12)
    outcome, through_b = await guest.balance(b.url)
    assert (outcome, through_b) == ("HIT", through_a)
    assert await guest.upstream_reads() == 1

    # no-cache through B refreshes the shared entry: A then answers it.
    outcome, _ = await guest.balance(b.url, {"Cache-Control": "no-cache"})
    assert outcome == "MISS"
    assert (await guest.balance(a.url))[0] == "HIT"
    assert await guest.upstream_reads() == 2

    await guest.logout(b.url)
    await guest.sign_in(a.url)
    outcome, fresh = await guest.balance(a.url)
    assert (outcome, fresh["points_balance"]) == ("MISS", 12)
    assert await guest.upstream_reads() == 3


async def test_an_unreachable_cache_redis_is_skipped_never_an_error(
    make_gateway: GatewayFactory, clock: ManualClock, http: aiohttp.ClientSession
) -> None:
    sandbox = await start_sandbox(SANDBOX_CONFIG, clock=clock)
    try:
        closed = f"redis://127.0.0.1:{free_port()}/0"  # nothing listens there
        gw = await make_gateway(
            sandbox.url, GATEWAY_CACHE_URL=closed, GATEWAY_STORE_URL="memory://"
        )
        base = str(gw.make_url("")).rstrip("/")
        guest = Guest(http, sandbox.url, "failopen@example.com")
        await guest.sign_up(base)  # learning identifiers fails: the sign-up does not
        assert await guest.checkin(base, "f-1", 17.0) == 17  # nor does invalidating

        for i in range(1, 4):
            outcome, body = await guest.balance(base)
            assert (outcome, body["points_balance"]) == ("MISS", 17)
            assert await guest.upstream_reads() == i  # every read goes to Punchh
        assert await guest.checkin(base, "f-2", 3.0) == 3
        outcome, body = await guest.balance(base, {"Cache-Control": "no-cache"})
        assert (outcome, body["points_balance"]) == ("MISS", 20)
        await guest.logout(base)
    finally:
        await sandbox.close()
