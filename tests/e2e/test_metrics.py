"""Metrics read back from the injected registry after real requests through the gateway."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient, TestServer
from prometheus_client import CollectorRegistry

from gateway.app import make_app
from gateway.config import load_config
from tests.conftest import Client, gateway_env
from tests.support.clock import ManualClock
from tests.support.recorder import Recorder, Reply

ADMIN_TOKEN = "admin-token-" + "a" * 24
SIGN_IN = "/api/auth/customers/sign_in"
BALANCE = "/api/auth/checkins/balance"


@pytest.fixture
def registry() -> CollectorRegistry:
    return CollectorRegistry()


@pytest.fixture
async def mgw(
    recorder: Recorder, registry: CollectorRegistry, clock: ManualClock, tmp_path: Path
) -> AsyncIterator[Client]:
    config = tmp_path / "g.toml"
    config.write_text(
        '[rate_limit.policies.tight]\nkey = "ip"\nroutes = ["sign_up"]\nlimit = 1\nwindow = 60\n'
    )
    cfg = load_config(
        str(config),
        gateway_env(
            recorder.url,
            GATEWAY_ADMIN_TOKEN=ADMIN_TOKEN,
            PUNCHH_TOTAL_TIMEOUT="0.3",
            PUNCHH_CONNECT_TIMEOUT="0.2",
        ),
    )
    client: Client = TestClient(
        TestServer(make_app(cfg, clock=clock, registry=registry), host="127.0.0.1")
    )
    await client.start_server()
    yield client
    await client.close()


# The metrics labelled with the business (issue 18): these tests' gateway serves one, `default`.
BY_BUSINESS = (
    "loyalty_gateway_requests",
    "loyalty_gateway_request_duration_seconds",
    "loyalty_gateway_overhead_seconds",
    "loyalty_gateway_upstream_duration_seconds",
    "loyalty_gateway_upstream_errors",
    "loyalty_gateway_rate_limited",
)


def _value(registry: CollectorRegistry, name: str, **labels: str) -> float:
    if name.startswith(BY_BUSINESS):
        labels.setdefault("business", "default")
    return registry.get_sample_value(name, labels) or 0.0


async def _signed_in(gw: Client, recorder: Recorder) -> dict[str, str]:
    recorder.reply("POST", SIGN_IN, Reply(200, {"id": 3, "access_token": "PUNCHH-M"}))
    token = (await (await gw.post(SIGN_IN, json={"user": {"email": "m@x.co"}})).json())[
        "access_token"
    ]
    return {"Authorization": f"Bearer {token}"}


async def test_requests_by_route_status_and_source(
    mgw: Client, recorder: Recorder, registry: CollectorRegistry
) -> None:
    auth = await _signed_in(mgw, recorder)
    await mgw.get(BALANCE, headers=auth)  # MISS: Punchh's answer
    await mgw.get(BALANCE, headers=auth)  # HIT: the gateway's own
    await mgw.get("/api/auth/users")  # 401 session_required: the gateway's
    recorder.reply("GET", "/api/auth/users/balance", Reply(500, {"error": "boom"}))
    await mgw.get("/api/auth/users/balance", headers=auth)  # Punchh's 500
    name = "loyalty_gateway_requests_total"
    route = f"GET {BALANCE}"
    assert _value(registry, name, route=route, method="GET", status="200", source="upstream") == 1
    assert _value(registry, name, route=route, method="GET", status="200", source="gateway") == 1
    assert (
        _value(
            registry,
            name,
            route="GET /api/auth/users",
            method="GET",
            status="401",
            source="gateway",
        )
        == 1
    )
    assert (
        _value(
            registry,
            name,
            route="GET /api/auth/users/balance",
            method="GET",
            status="500",
            source="upstream",
        )
        == 1
    )
    assert _value(registry, "loyalty_gateway_cache_requests_total", route=route, result="hit") == 1
    assert _value(registry, "loyalty_gateway_cache_requests_total", route=route, result="miss") == 1


async def test_durations_split_upstream_and_overhead(
    mgw: Client, recorder: Recorder, registry: CollectorRegistry
) -> None:
    recorder.reply("POST", "/api/auth/users/forgot_password", Reply(200, {}, delay=0.05))
    await mgw.post("/api/auth/users/forgot_password", json={})
    route = "POST /api/auth/users/forgot_password"
    total = _value(registry, "loyalty_gateway_request_duration_seconds_sum", route=route)
    upstream = _value(registry, "loyalty_gateway_upstream_duration_seconds_sum", route=route)
    overhead = _value(registry, "loyalty_gateway_overhead_seconds_sum", route=route)
    assert upstream >= 0.05
    assert total >= upstream
    assert overhead == pytest.approx(total - upstream, abs=1e-6)
    # The sub-millisecond bucket exists (sub-millisecond overhead must be visible).
    assert (
        registry.get_sample_value(
            "loyalty_gateway_overhead_seconds_bucket",
            {"route": route, "le": "0.001", "business": "default"},
        )
        is not None
    )
    assert _value(registry, "loyalty_gateway_in_flight_requests") == 0


async def test_upstream_errors_by_kind(
    recorder: Recorder, mgw: Client, registry: CollectorRegistry
) -> None:
    recorder.reply("POST", "/api/auth/users/forgot_password", Reply(200, {}, delay=1.0))
    assert (await mgw.post("/api/auth/users/forgot_password", json={})).status == 504
    assert (
        _value(
            registry,
            "loyalty_gateway_upstream_errors_total",
            route="POST /api/auth/users/forgot_password",
            kind="timeout",
        )
        == 1
    )


async def test_unreachable_upstream_counts_connect_errors(clock: ManualClock) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    registry = CollectorRegistry()
    cfg = load_config(None, gateway_env(f"http://127.0.0.1:{port}"))
    async with TestClient(
        TestServer(make_app(cfg, clock=clock, registry=registry), host="127.0.0.1")
    ) as gw:
        assert (await gw.post("/api/auth/users/forgot_password", json={})).status == 502
    assert (
        _value(
            registry,
            "loyalty_gateway_upstream_errors_total",
            route="POST /api/auth/users/forgot_password",
            kind="connect",
        )
        == 1
    )


async def test_rate_limited_by_policy(
    mgw: Client, recorder: Recorder, registry: CollectorRegistry
) -> None:
    recorder.reply("POST", "/api/auth/customers.json", Reply(422, {"errors": {}}))
    await mgw.post("/api/auth/customers.json", json={})
    assert (await mgw.post("/api/auth/customers.json", json={})).status == 429
    assert _value(registry, "loyalty_gateway_rate_limited_total", policy="tight") == 1


async def test_labels_never_hold_raw_paths_or_secrets(mgw: Client, recorder: Recorder) -> None:
    auth = await _signed_in(mgw, recorder)
    await mgw.get("/nope/5550100?phone=5550100&email=g@example.com")
    await mgw.get(f"{BALANCE}?phone=5550100", headers=auth)
    resp = await mgw.get("/metrics", headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})
    assert resp.status == 200
    text = await resp.text()
    assert 'route="unmatched"' in text
    for secret in (
        "5550100",
        "g@example.com",
        "PUNCHH-M",
        auth["Authorization"][7:],
        "/nope",
        ADMIN_TOKEN,
    ):
        assert secret not in text


async def test_admin_routes_need_the_token_on_the_main_port(mgw: Client) -> None:
    assert (await mgw.get("/metrics")).status == 401
    assert (await mgw.get("/gateway/status")).status == 401
    bad = {"Authorization": "Bearer wrong-token-of-some-length-000"}
    assert (await mgw.get("/gateway/status", headers=bad)).status == 401
    good = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    page = await mgw.get("/gateway/status", headers=good)
    assert page.status == 200
    assert "loyalty-gateway" in await page.text()


async def test_without_a_token_metrics_and_the_status_page_are_admin_port_only(
    recorder: Recorder, clock: ManualClock
) -> None:
    """Issue 15, finding 9: what the gateway counts is not for strangers on the main port."""
    cfg = load_config(None, gateway_env(recorder.url))
    async with TestClient(TestServer(make_app(cfg, clock=clock), host="127.0.0.1")) as gw:
        for path in ("/metrics", "/gateway/status"):
            resp = await gw.get(path)
            assert resp.status == 403
            error = (await resp.json())["error"]
            assert error["code"] == "admin_only"
            assert "GATEWAY_ADMIN_TOKEN" in error["message"]
            assert "loyalty_gateway" not in await resp.text()


async def test_admin_port_serves_metrics_and_status_without_token(
    recorder: Recorder, clock: ManualClock
) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        admin_port = s.getsockname()[1]
    cfg = load_config(None, gateway_env(recorder.url, GATEWAY_ADMIN_PORT=str(admin_port)))
    async with TestClient(TestServer(make_app(cfg, clock=clock), host="127.0.0.1")) as gw:
        assert (await gw.get("/metrics")).status == 404  # not on the public port at all
        admin = f"http://127.0.0.1:{admin_port}"
        async with gw.session.get(f"{admin}/metrics") as resp:
            assert resp.status == 200
            assert "loyalty_gateway_requests_total" in await resp.text()
        async with gw.session.get(f"{admin}/gateway/status") as resp:
            assert resp.status == 200
            assert "Recent gateway errors" in await resp.text()


async def test_active_sessions_gauge(
    mgw: Client, recorder: Recorder, registry: CollectorRegistry
) -> None:
    await _signed_in(mgw, recorder)
    await _signed_in(mgw, recorder)
    await mgw.get("/metrics", headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})
    assert _value(registry, "loyalty_gateway_active_sessions") == 2


async def test_known_label_sets_start_at_zero(mgw: Client, registry: CollectorRegistry) -> None:
    assert (
        registry.get_sample_value("loyalty_gateway_token_refreshes_total", {"result": "rejected"})
        == 0
    )
    assert registry.get_sample_value("loyalty_gateway_store_errors_total", {"store": "cache"}) == 0
    assert (
        registry.get_sample_value(
            "loyalty_gateway_rate_limited_total", {"policy": "otp_target", "business": "default"}
        )
        == 0
    )
