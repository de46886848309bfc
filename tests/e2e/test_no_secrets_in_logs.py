"""Secrets and guest tokens never reach a log line: a real gateway process, every line read."""

from __future__ import annotations

import json

import aiohttp
import pytest

from tests.conftest import CLIENT_SECRET, SESSION_SECRET, gateway_env
from tests.support.process import gateway_process
from tests.support.recorder import Recorder, Reply

pytestmark = pytest.mark.asyncio


async def test_logs_hold_no_secret(recorder: Recorder) -> None:
    recorder.reply(
        "POST",
        "/api/auth/customers.json",
        Reply(
            201,
            {"id": 1, "access_token": "PUNCHH-ACCESS-L", "authentication_token": "PUNCHH-AUTH-L"},
        ),
    )
    recorder.reply("GET", "/api/auth/users/balance", Reply(500, {"error": "boom"}))
    env = gateway_env(recorder.url, GATEWAY_LOG_LEVEL="DEBUG")
    async with gateway_process(env) as gp, aiohttp.ClientSession(gp.url) as http:
        async with http.post(
            "/api/auth/customers.json",
            json={"user": {"email": "guest@example.com", "password": "hunter2-pw"}},
        ) as resp:
            token = (await resp.json())["access_token"]
        auth = {"Authorization": f"Bearer {token}"}
        for method, path, kwargs in [
            ("GET", "/api/auth/users?phone=5550100", {"headers": auth}),
            ("GET", "/api/auth/users", {"headers": {"Authorization": f"Bearer {token}x"}}),
            (
                "POST",
                "/api/auth/checkins/online_order",
                {"data": b"{bad", "headers": {**auth, "Content-Type": "application/json"}},
            ),
            ("GET", f"/nope?authentication_token={token}", {}),
            ("GET", "/api/auth/users/balance", {"headers": auth}),
            ("POST", "/gateway/logout", {"headers": auth}),
        ]:
            async with http.request(method, path, **kwargs) as resp:  # type: ignore[arg-type]
                await resp.read()
    lines = gp.logs().splitlines()
    records = [json.loads(line) for line in lines]  # every line is JSON
    statuses = sorted(
        r["status"] for r in records if r.get("msg") == "request" and r["route"] != "GET /readyz"
    )
    assert statuses == [200, 201, 204, 400, 401, 404, 500]
    text = "\n".join(lines)
    for secret in (
        token,
        "PUNCHH-ACCESS-L",
        "PUNCHH-AUTH-L",
        CLIENT_SECRET,
        SESSION_SECRET,
        "hunter2-pw",
        "guest@example.com",
        "5550100",
    ):
        assert secret not in text
