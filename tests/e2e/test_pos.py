"""POS routes: off by default; devices with their own key; never a browser."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import Client, GatewayFactory
from tests.support.recorder import Recorder

pytestmark = pytest.mark.asyncio

DEVICE_KEY = "store-101-kiosk-device-key"
POS_TOML = f"""
[pos]
enabled = true

[[pos.devices]]
name = "store-101"
key = "{DEVICE_KEY}"
location_key = "LOCATION-101"

[[pos.devices]]
name = "store-202"
key = "store-202-kiosk-device-key"
location_key = "LOCATION-202"
"""


@pytest.fixture
async def pos_gw(recorder: Recorder, make_gateway: GatewayFactory, tmp_path: Path) -> Client:
    config = tmp_path / "gateway.toml"
    config.write_text(POS_TOML)
    return await make_gateway(recorder.url, config_file=config, PUNCHH_BUSINESS_KEY="BIZ-KEY")


async def test_device_key_becomes_location_and_business_key(
    pos_gw: Client, recorder: Recorder
) -> None:
    resp = await pos_gw.get(
        "/api/pos/users/search?phone=5550100",
        headers={"Authorization": f"Token token={DEVICE_KEY}"},
    )
    assert resp.status == 200, await resp.text()
    seen = recorder.last
    assert seen.headers["Authorization"] == "Token token=LOCATION-101, btoken=BIZ-KEY"
    assert seen.headers["User-Agent"] == "LoyaltyGateway/POS/0.1"
    assert "x-pch-digest" not in seen.headers
    assert seen.query == "phone=5550100"  # POS calls carry no client id


async def test_pos_body_has_no_client(pos_gw: Client, recorder: Recorder) -> None:
    await pos_gw.post(
        "/api/pos/checkins",
        json={"phone": "5550100", "receipt_amount": 10},
        headers={"Authorization": "Token token=store-202-kiosk-device-key, btoken=whatever"},
    )
    assert recorder.last.json() == {"phone": "5550100", "receipt_amount": 10}
    assert recorder.last.headers["Authorization"] == "Token token=LOCATION-202, btoken=BIZ-KEY"


@pytest.mark.parametrize(
    ("headers", "status", "code"),
    [
        ({}, 401, "invalid_device_key"),
        ({"Authorization": "Token token=wrong-device-key-000"}, 401, "invalid_device_key"),
        ({"Authorization": "Token token=LOCATION-101, btoken=BIZ-KEY"}, 401, "invalid_device_key"),
        (
            {"Authorization": f"Token token={DEVICE_KEY}", "Origin": "https://shop.example"},
            403,
            "browser_forbidden",
        ),
        (
            {"Authorization": f"Token token={DEVICE_KEY}", "Sec-Fetch-Mode": "cors"},
            403,
            "browser_forbidden",
        ),
        ({"Authorization": f"Token token={DEVICE_KEY}", "Cookie": "a=b"}, 403, "browser_forbidden"),
    ],
)
async def test_rejected_callers(
    pos_gw: Client, recorder: Recorder, headers: dict[str, str], status: int, code: str
) -> None:
    resp = await pos_gw.get("/api/pos/users/search?phone=5550100", headers=headers)
    assert resp.status == status
    assert (await resp.json())["error"]["code"] == code
    assert recorder.seen == []


async def test_pos_off_by_default(gw: Client, recorder: Recorder) -> None:
    resp = await gw.get(
        "/api/pos/users/search?phone=1", headers={"Authorization": f"Token token={DEVICE_KEY}"}
    )
    assert resp.status == 404
    assert recorder.seen == []
