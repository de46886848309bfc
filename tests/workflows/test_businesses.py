"""Two businesses in one gateway process (issue 18), on the memory store and on Redis.

Brand A is the top-level configuration (the business `default`, any host no business
claims); brand B a `[[businesses]]` table on `brand-b.test` and `*.brand-b.test`, its
secret and business key from `PUNCHH_CLIENT_SECRET__BRAND_B` and
`PUNCHH_BUSINESS_KEY__BRAND_B`. One sandbox emulates both Punchh businesses (one per client
id, each with its own guests, points and keys; brand B earns 2 points a dollar), so every
request the gateway signs with the wrong business's secret, or sends with the wrong client
or business key, fails there. Every test below fails if one brand's guest, token, cached
answer, budget or idempotency key reaches the other.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestServer

from sandbox.context import BUSINESSES_KEY
from sandbox.server import SandboxServer
from tests.conftest import (
    ADMIN,
    CLIENT_ID,
    CLIENT_SECRET,
    Client,
)
from tests.support.brands import (
    B_CLIENT,
    B_DEVICE,
    B_HOST,
    B_SECRET,
    BRAND_A_POS,
    Serve,
    brand_b,
    brands_env,
    brands_only_env,
    order,
    redis_env,
)
from tests.support.recorder import Recorder
from tests.support.redis_ha_fixtures import REDIS_URL
from tests.workflows.support import (
    DEVICE_KEY,
    Answer,
    Frontend,
    SandboxAdmin,
    sandbox_tokens,
)

pytestmark = pytest.mark.asyncio

EMAIL = "both@example.com"


@dataclass
class Brand(Frontend):
    """A frontend of one brand: every call names the brand's host."""

    host: str = ""
    device_key: str = DEVICE_KEY

    async def call(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        token: str | None = None,
        headers: Any = None,
        params: Any = None,
    ) -> Answer:
        sent = {"Host": self.host} if self.host else {}
        sent.update(headers or {})
        return await super().call(method, path, json=json, token=token, headers=sent, params=params)

    async def pos(self, method: str, path: str, *, json: Any = None, params: Any = None) -> Answer:
        auth = {"Authorization": f"Token token={self.device_key}"}
        return await self.call(method, path, json=json, params=params, headers=auth)


@pytest.fixture
def sandbox(two_brands: SandboxServer) -> SandboxServer:
    """One sandbox, both brands' Punchh businesses (tests/support/brands.py)."""
    return two_brands


@pytest.fixture(params=["memory", "redis"])
def store_env(request: pytest.FixtureRequest) -> dict[str, str]:
    return {} if request.param == "memory" else redis_env()


@pytest.fixture
async def gw(sandbox: SandboxServer, serve: Serve, store_env: dict[str, str]) -> Client:
    client: Client = await serve(BRAND_A_POS + brand_b(), brands_env(sandbox.url, **store_env))
    return client


def _issued(sandbox: SandboxServer) -> set[str]:
    """Every token either business of the sandbox has issued."""
    found: set[str] = set()
    for business in sandbox.app[BUSINESSES_KEY].all:
        found |= sandbox_tokens(business.state)
    return found


@pytest.fixture
def brands(gw: Client, sandbox: SandboxServer) -> tuple[Brand, Brand]:
    a = Brand(gw, lambda: _issued(sandbox))
    b = Brand(gw, lambda: _issued(sandbox), host=B_HOST, device_key=B_DEVICE)
    return a, b


@pytest.fixture
async def admin(sandbox: SandboxServer) -> AsyncIterator[SandboxAdmin]:
    async with aiohttp.ClientSession() as http:
        yield SandboxAdmin(http, sandbox.url)


async def _calls(admin: SandboxAdmin, client_id: str) -> dict[str, int]:
    calls: dict[str, int] = await admin.get(f"/__sandbox/calls?client={client_id}")
    return calls


async def test_two_brands_sign_up_check_in_balance_redeem_and_pos(
    brands: tuple[Brand, Brand], admin: SandboxAdmin, gw: Client
) -> None:
    a, b = brands
    token_a, guest_a = await a.sign_up(EMAIL, phone="555-010-1111")
    token_b, guest_b = await b.sign_up(EMAIL, phone="555-010-1111")
    # Two Punchh users, one per business (ids may coincide: they are two businesses').
    for guest, client in ((guest_a, CLIENT_ID), (guest_b, B_CLIENT)):
        user = await admin.get(f"/__sandbox/users/{guest['id']}?client={client}")
        assert user["user"]["email"] == EMAIL

    assert (await a.checkin(token_a, "order-1", 30.0)).status == 200
    assert (await a.balance(token_a))["points_balance"] == 30  # read: now cached for A
    assert (await b.checkin(token_b, "order-1", 30.0)).status == 200  # same order number
    assert (await b.balance(token_b))["points_balance"] == 60  # B: 2 points a dollar
    assert (await a.balance(token_a))["points_balance"] == 30  # A's cache: A's answer
    assert (await b.balance(token_b))["points_balance"] == 60

    drink = {"discount_type": "redeemable", "redeemable_id": 101, "receipt_amount": 12.0}
    done = await b.call("POST", "/api/auth/redemptions/online_order", json=drink, token=token_b)
    assert done.status == 200, done
    assert done.body["redemption_amount"] == 3.0
    assert (await b.balance(token_b))["points_balance"] == 10  # the drink costs 50
    assert (await a.balance(token_a))["points_balance"] == 30

    # POS: each brand's device finds its brand's guest; a device of A on B's host is unknown.
    found_a = await a.pos("GET", "/api/pos/users/search", params={"email": EMAIL})
    found_b = await b.pos("GET", "/api/pos/users/search", params={"email": EMAIL})
    assert found_a.status == 200, found_a
    assert found_b.status == 200, found_b
    assert found_a.body["balance"]["points_balance"] == 30
    assert found_b.body["balance"]["points_balance"] == 10
    stray = Brand(gw, a.issued, host=B_HOST, device_key=DEVICE_KEY)
    wrong = await stray.pos("GET", "/api/pos/users/search", params={"email": EMAIL})
    assert wrong.status == 401
    assert wrong.body["error"]["code"] == "invalid_device_key"

    # Each brand's calls reached its own business (signed with its secret: the sandbox
    # checks every signature with the business its client names).
    calls_a, calls_b = await _calls(admin, CLIENT_ID), await _calls(admin, B_CLIENT)
    assert calls_a["POST /api/auth/checkins/online_order"] == 1
    assert calls_b["POST /api/auth/checkins/online_order"] == 1
    assert calls_b["POST /api/auth/redemptions/online_order"] == 1
    assert "POST /api/auth/redemptions/online_order" not in calls_a
    assert calls_a["GET /api/pos/users/search"] == 1
    assert calls_b["GET /api/pos/users/search"] == 1


async def test_a_session_token_works_at_its_own_brand_only(
    brands: tuple[Brand, Brand], admin: SandboxAdmin
) -> None:
    a, b = brands
    token_a, _ = await a.sign_up("token-a@example.com")
    token_b, _ = await b.sign_up("token-b@example.com")
    assert (await a.balance(token_a))["points_balance"] == 0  # verified, remembered at A
    before = await admin.calls()
    for brand, token in ((b, token_a), (a, token_b)):
        answer = await brand.call("GET", "/api/auth/checkins/balance", token=token)
        assert answer.status == 401, answer
        assert answer.body["error"]["code"] == "invalid_session"
    assert await admin.calls() == before  # Punchh never asked
    assert (await a.balance(token_a))["points_balance"] == 0  # still good where it belongs
    assert (await b.balance(token_b))["points_balance"] == 0


async def test_logout_all_ends_one_brands_sessions_only(brands: tuple[Brand, Brand]) -> None:
    a, b = brands
    first_a, _ = await a.sign_up(EMAIL)
    signed_in = await a.sign_in(EMAIL)
    assert signed_in.status == 200, signed_in
    second_a = signed_in.body["access_token"]
    token_b, _ = await b.sign_up(EMAIL)
    ended = await a.call("POST", "/gateway/logout/all", token=first_a)
    assert ended.status == 204, ended
    for token in (first_a, second_a):
        gone = await a.call("GET", "/api/auth/checkins/balance", token=token)
        assert gone.status == 401, gone
    assert (await b.balance(token_b))["points_balance"] == 0


async def test_budgets_are_per_brand(brands: tuple[Brand, Brand]) -> None:
    """The same e-mail address and client IP at two brands: two budgets."""
    a, b = brands
    await a.sign_up(EMAIL)
    await b.sign_up(EMAIL)
    statuses = [(await a.sign_in(EMAIL, "wrong-password")).status for _ in range(6)]
    assert statuses[-1] == 429, statuses  # sign_in_account_ip: 5 failures per 15 minutes
    assert (await a.sign_in(EMAIL)).status == 429
    assert (await b.sign_in(EMAIL, "wrong-password")).status == 401
    assert (await b.sign_in(EMAIL)).status == 200


async def test_idempotency_keys_are_per_brand(brands: tuple[Brand, Brand]) -> None:
    a, b = brands
    token_a, _ = await a.sign_up("idem@example.com")
    token_b, _ = await b.sign_up("idem@example.com")
    key = {"Idempotency-Key": "order-7-" + uuid.uuid4().hex}
    first = await a.checkin(token_a, "idem-1", 10.0, **{})
    assert first.status == 200
    done_a = await a.call(
        "POST",
        "/api/auth/checkins/online_order",
        json=order("idem-2", 10.0),
        token=token_a,
        headers=key,
    )
    done_b = await b.call(
        "POST",
        "/api/auth/checkins/online_order",
        json=order("idem-2", 10.0),
        token=token_b,
        headers=key,
    )
    assert done_a.status == 200, done_a
    assert done_b.status == 200, done_b
    assert "Idempotent-Replayed" not in done_b.headers
    assert (await a.balance(token_a))["points_balance"] == 20
    assert (await b.balance(token_b))["points_balance"] == 20  # applied at B: 2 a dollar
    again = await b.call(
        "POST",
        "/api/auth/checkins/online_order",
        json=order("idem-2", 10.0),
        token=token_b,
        headers=key,
    )
    assert again.status == 200
    assert (await b.balance(token_b))["points_balance"] == 20  # B's own key: once


async def test_metrics_and_access_log_name_the_business(
    brands: tuple[Brand, Brand], gw: Client, caplog: pytest.LogCaptureFixture
) -> None:
    a, b = brands
    with caplog.at_level(logging.INFO, logger="gateway.access"):
        token_b, _ = await b.sign_up("seen@example.com")
        await b.balance(token_b)
        await a.sign_up("seen@example.com")
    lines = [r for r in caplog.records if r.name == "gateway.access"]
    assert [getattr(r, "business", None) for r in lines] == ["brand-b", "brand-b", "default"]
    async with gw.get("/metrics", headers=ADMIN) as resp:
        text = await resp.text()
    route = 'route="GET /api/auth/checkins/balance"'
    assert any(
        route in line and 'business="brand-b"' in line and line.endswith(" 1.0")
        for line in text.splitlines()
        if line.startswith("loyalty_gateway_requests_total{")
    ), text
    assert not any(
        route in line and 'business="default"' in line
        for line in text.splitlines()
        if line.startswith("loyalty_gateway_requests_total{")
    )
    assert 'loyalty_gateway_circuit_state{business="brand-b",family="auth"} 0.0' in text
    # A path on no route is still the brand's (its 404s show in its row and series).
    assert (await b.call("GET", "/api/auth/no-such-route")).status == 404
    async with gw.get("/metrics", headers=ADMIN) as resp:
        text = await resp.text()
    assert (
        'loyalty_gateway_requests_total{business="brand-b",method="*",route="unmatched",'
        'source="gateway",status="404"} 1.0'
    ) in text
    assert 'loyalty_gateway_rate_limited_total{business="brand-b",policy="sign_in_ip"} 0.0' in text


BRANDS_ONLY = f"""
[[businesses]]
name = "brand-a"
hosts = ["brand-a.test"]
punchh.client_id = "{CLIENT_ID}"
punchh.client_secret = "{CLIENT_SECRET}"
""" + brand_b(pos=False)


async def test_no_business_for_the_host_is_404_and_punchh_is_never_called(
    sandbox: SandboxServer, serve: Serve, admin: SandboxAdmin
) -> None:
    gw = await serve(BRANDS_ONLY, brands_only_env(sandbox.url))
    issued = lambda: _issued(sandbox)  # noqa: E731
    before = await admin.calls()
    for host in ("127.0.0.1", "brand-c.test", "brand-b.test.evil.example", "xbrand-b.test"):
        answer = await Brand(gw, issued, host=host).call(
            "POST", "/api/auth/customers.json", json={"user": {"email": "x@example.com"}}
        )
        assert answer.status == 404, (host, answer)
        assert answer.body["error"]["code"] == "unknown_business"
        assert answer.body["error"]["request_id"]
    named = await Brand(gw, issued).call(
        "GET", "/api/auth/checkins/balance", headers={"X-Loyalty-Business": "brand-c"}
    )
    assert named.status == 404
    assert named.body["error"]["code"] == "unknown_business"
    assert await admin.calls() == before
    # The gateway's own routes need no business.
    async with gw.get("/healthz") as resp:
        assert resp.status == 200
    # A wildcard host, with a port and in capitals, and the header from loopback: served.
    for brand in (
        Brand(gw, issued, host="Shop.Brand-B.test:8443"),
        Brand(gw, issued, host="127.0.0.1"),
        Brand(gw, issued, host="brand-a.test"),
    ):
        headers = {"X-Loyalty-Business": "brand-b"} if brand.host == "127.0.0.1" else None
        email = f"{uuid.uuid4().hex[:8]}@example.com"
        user = {"email": email, "password": "correct-horse-1", "first_name": "A", "last_name": "B"}
        made = await brand.call(
            "POST", "/api/auth/customers.json", json={"user": user}, headers=headers
        )
        assert made.status == 201, (brand.host, made)
    calls_a, calls_b = await _calls(admin, CLIENT_ID), await _calls(admin, B_CLIENT)
    assert calls_a["POST /api/auth/customers.json"] == 1
    assert calls_b["POST /api/auth/customers.json"] == 2


async def test_each_brand_signs_with_its_own_secret_to_its_own_server(
    serve: Serve,
) -> None:
    servers: list[TestServer] = []
    recorders = [Recorder(CLIENT_SECRET), Recorder(B_SECRET)]
    for rec in recorders:
        server = TestServer(rec.app, host="127.0.0.1")
        await server.start_server()
        servers.append(server)
        rec.url = str(server.make_url("")).rstrip("/")
    try:
        toml = brand_b(pos=False, extra=f'punchh.base_url = "{recorders[1].url}"')
        gw = await serve(toml, brands_env(recorders[0].url))
        for host in ("127.0.0.1", B_HOST):
            async with gw.post(
                "/api/auth/users/forgot_password",
                json={"user": {"email": "f@example.com"}},
                headers={"Host": host},
            ) as resp:
                assert resp.status == 200, await resp.text()
        (seen_a,), (seen_b,) = recorders[0].seen, recorders[1].seen  # one each, verified
        assert seen_a.json()["client"] == CLIENT_ID
        assert seen_b.json()["client"] == B_CLIENT
    finally:
        for server in servers:
            await server.close()


async def test_on_redis_each_brand_keeps_its_keys_under_its_own_prefix(
    sandbox: SandboxServer, serve: Serve
) -> None:
    import redis.asyncio as aioredis

    stores = redis_env()
    prefix = stores["GATEWAY_STORE_PREFIX"]
    gw = await serve(BRAND_A_POS + brand_b(), brands_env(sandbox.url, **stores))
    a = Brand(gw, lambda: _issued(sandbox))
    b = Brand(gw, lambda: _issued(sandbox), host=B_HOST, device_key=B_DEVICE)
    token_a, _ = await a.sign_up(EMAIL)
    token_b, _ = await b.sign_up(EMAIL)
    for brand, token in ((a, token_a), (b, token_b)):
        done = await brand.call(
            "POST",
            "/api/auth/checkins/online_order",
            json=order("k-1", 5.0),
            token=token,
            headers={"Idempotency-Key": "same-key"},
        )
        assert done.status == 200, done
    await a.balance(token_a)
    await b.balance(token_b)
    r = aioredis.Redis.from_url(REDIS_URL)
    try:
        keys = sorted([k.decode() async for k in r.scan_iter(match=f"{prefix}*", count=1000)])
        await r.delete(*keys)
    finally:
        await r.aclose()
    own_b = [k for k in keys if k.startswith(f"{prefix}@brand-b:")]
    own_a = [k for k in keys if not k.startswith(f"{prefix}@")]
    for kind in ("session:", "user:", "rl:", "cache:", "idem:"):
        assert any(k.startswith(f"{prefix}{kind}") for k in own_a), (kind, keys)
        assert any(k.startswith(f"{prefix}@brand-b:{kind}") for k in own_b), (kind, keys)
    assert len(own_a) + len(own_b) == len(keys)
