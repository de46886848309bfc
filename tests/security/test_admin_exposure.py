"""Issue 15, finding 9: what the gateway tells strangers. /metrics (routes, policies,
error counts) and the status page are served on the admin listener, or on the main port
with GATEWAY_ADMIN_TOKEN; on the main port without a token both are 403 admin_only.
`make run` serves them on its admin port and says where. Real gateway processes."""

from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path

import aiohttp

from sandbox.server import SandboxServer
from tests.conftest import ADMIN, ADMIN_TOKEN, gateway_env
from tests.support.process import free_port, gateway_process

ROOT = Path(__file__).resolve().parents[2]


async def test_metrics_and_status_are_not_on_the_main_port_by_default(
    sandbox: SandboxServer,
) -> None:
    async with gateway_process(gateway_env(sandbox.url)) as gw, aiohttp.ClientSession() as http:
        answers = []
        for path in ("/metrics", "/gateway/status"):
            async with http.get(gw.url + path) as resp:
                answers.append((resp.status, resp.content_type, await resp.text()))
        logs = gw.logs()
    for status, content_type, text in answers:
        assert status == 403
        assert content_type == "application/json"
        assert json.loads(text)["error"]["code"] == "admin_only"
        assert "loyalty_gateway_" not in text
    assert "metrics and status page not served: set GATEWAY_ADMIN_PORT" in logs


async def test_with_the_token_or_on_the_admin_port_they_are_served(
    sandbox: SandboxServer,
) -> None:
    env = gateway_env(sandbox.url, GATEWAY_ADMIN_TOKEN=ADMIN_TOKEN)
    async with gateway_process(env) as gw, aiohttp.ClientSession() as http:
        async with http.get(gw.url + "/metrics", headers=ADMIN) as resp:
            assert resp.status == 200
            assert "loyalty_gateway_requests_total" in await resp.text()
        async with http.get(gw.url + "/metrics") as resp:
            assert resp.status == 401
        assert ADMIN_TOKEN not in gw.logs()
    admin_port = free_port()
    env = gateway_env(sandbox.url, GATEWAY_ADMIN_PORT=str(admin_port))
    async with gateway_process(env) as gw, aiohttp.ClientSession() as http:
        async with http.get(f"http://127.0.0.1:{admin_port}/metrics") as resp:
            assert resp.status == 200
            assert "loyalty_gateway_requests_total" in await resp.text()
            assert resp.headers["Server"] == "loyalty-gateway"  # no versions there either
        async with http.get(gw.url + "/metrics") as resp:
            assert resp.status == 404
        base = f"http://127.0.0.1:{admin_port}"
        assert f"metrics and status page on the admin port: {base}/metrics" in gw.logs()


def test_make_run_serves_them_on_its_admin_port_and_says_where() -> None:
    dev = tomllib.loads((ROOT / "config" / "gateway.dev.toml").read_text())
    port = dev["admin"]["port"]
    assert dev["admin"].get("host", "127.0.0.1") == "127.0.0.1"
    run = re.search(r"^run:.*?(?=^\S)", (ROOT / "Makefile").read_text(), re.M | re.S)
    assert run is not None
    assert f"http://127.0.0.1:{port}/metrics" in run.group()
    assert f"http://127.0.0.1:{port}/gateway/status" in run.group()
    scrape = (ROOT / "grafana" / "prometheus.yml").read_text()
    assert f"- 127.0.0.1:{port}\n" in scrape  # the shipped scrape target is that port
