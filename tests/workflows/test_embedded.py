"""Embedded mode (GATEWAY_SANDBOX=1): the gateway starts its own sandbox and needs no Punchh."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import aiohttp
import pytest

from gateway.keys import UPSTREAM_URL
from tests.conftest import SESSION_SECRET, GatewayFactory
from tests.support.process import free_port, gateway_process
from tests.workflows.support import (
    NAMES,
    PASSWORD,
    RECEIPT_AT,
    Frontend,
    every_sandbox_token,
    gateway_claims,
    menu_items,
)

pytestmark = pytest.mark.asyncio


async def test_embedded_sandbox_serves_the_guest_flow(make_gateway: GatewayFactory) -> None:
    client = await make_gateway("", GATEWAY_SANDBOX="1", PUNCHH_BASE_URL="")
    fe = Frontend(client, every_sandbox_token)
    sandbox_url = client.app[UPSTREAM_URL]
    assert sandbox_url.startswith("http://127.0.0.1:")

    token, body = await fe.sign_up("embedded@example.com")
    assert gateway_claims(token)["sub"] == str(body["id"])
    assert token not in every_sandbox_token()
    earned = await fe.checkin(token, "emb-1", 118.0)
    assert earned.status == 200, earned
    assert earned.body["points"] == 118
    balance = await fe.balance(token)
    assert (balance["points_balance"], balance["lifetime_points"], balance["visits"]) == (
        18,
        118,
        1,
    )
    assert [r["name"] for r in balance["rewards"]] == ["$10 Off"]

    async with aiohttp.ClientSession() as http, http.get(sandbox_url + "/__sandbox/ledger") as resp:
        ledger = (await resp.json())["checkins"]
    assert [(c["user_id"], c["external_uid"], c["points"]) for c in ledger] == [
        (body["id"], "emb-1", 118)
    ]
    answer = await fe.call("GET", "/__sandbox/ledger")
    assert answer.status == 404


async def test_embedded_sandbox_takes_the_pos_devices(
    make_gateway: GatewayFactory, pos_config_file: Path
) -> None:
    """No business key configured: the gateway makes one up and the sandbox accepts it."""
    client = await make_gateway(
        "", config_file=pos_config_file, GATEWAY_SANDBOX="1", PUNCHH_BASE_URL=""
    )
    fe = Frontend(client, every_sandbox_token)
    created = await fe.pos("POST", "/api/pos/users", json={"user": {"phone": "5550103333"}})
    assert created.status == 201, created
    order = {
        "phone": "5550103333",
        "external_uid": "emb-pos-1",
        "receipt_amount": 14.2,
        "receipt_datetime": RECEIPT_AT,
    }
    earned = await fe.pos("POST", "/api/pos/checkins", json=order)
    assert earned.status == 200, earned
    assert earned.body["points"] == 14
    assert earned.body["checkin"]["store_number"] == "store-101"  # the device's name
    found = await fe.pos("GET", "/api/pos/users/search", params={"phone": "5550103333"})
    assert found.body["balance"]["points_balance"] == 14


async def _json(
    http: aiohttp.ClientSession, method: str, url: str, token: str | None = None, **kw: Any
) -> tuple[int, Any]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with http.request(method, url, headers=headers, **kw) as resp:
        return resp.status, await resp.json()


async def test_embedded_sandbox_in_a_real_gateway_process() -> None:
    sandbox_port = free_port()
    env = {
        "GATEWAY_SANDBOX": "1",
        "GATEWAY_SESSION_SECRET": SESSION_SECRET,
        "GATEWAY_SANDBOX_PORT": str(sandbox_port),
    }
    async with gateway_process(env) as gp, aiohttp.ClientSession() as http:
        user = {"email": "proc@example.com", "password": PASSWORD, **NAMES}
        status, body = await _json(
            http, "POST", gp.url + "/api/auth/customers.json", json={"user": user}
        )
        assert status == 201, body
        token = body["access_token"]
        assert gateway_claims(token)["sub"] == str(body["id"])
        order = {
            "external_uid": "proc-1",
            "receipt_amount": 23.8,
            "receipt_datetime": RECEIPT_AT,
            "payable": "23.8",
            "menu_items": menu_items(23.8),
        }
        status, earned = await _json(
            http, "POST", gp.url + "/api/auth/checkins/online_order", token, json=order
        )
        assert (status, earned["points"]) == (200, 23)
        status, balance = await _json(http, "GET", gp.url + "/api/auth/checkins/balance", token)
        assert status == 200
        assert (balance["points_balance"], balance["visits"]) == (23, 1)
        sandbox = f"http://127.0.0.1:{sandbox_port}"
        status, ledger = await _json(http, "GET", sandbox + "/__sandbox/ledger")
        assert [c["external_uid"] for c in ledger["checkins"]] == ["proc-1"]


async def test_embedded_sandbox_follows_the_oauth_digest(
    make_gateway: GatewayFactory, tmp_path: Path
) -> None:
    config = tmp_path / "gateway.toml"
    config.write_text('[punchh.digest]\noauth = "sha256"\n')
    client = await make_gateway("", config_file=config, GATEWAY_SANDBOX="1", PUNCHH_BASE_URL="")
    fe = Frontend(client, every_sandbox_token)
    _, body = await fe.sign_up("sso-embedded@example.com")
    async with (
        aiohttp.ClientSession() as http,
        http.post(
            client.app[UPSTREAM_URL] + "/__sandbox/sso/code", json={"user_id": body["id"]}
        ) as resp,
    ):
        code = (await resp.json())["code"]
    answer = await fe.call(
        "POST", "/oauth/token", json={"grant_type": "authorization_code", "code": code}
    )
    assert answer.status == 200, answer  # today: 412 ["Invalid Signature"]
