"""GATEWAY_WORKERS: several processes on one port, metrics aggregated across them."""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import subprocess
import sys
import time

import aiohttp

from tests.conftest import ADMIN, ADMIN_TOKEN, gateway_env
from tests.store.conftest import REDIS_URL, STORE_KEY
from tests.support.process import GatewayProcess, gateway_process
from tests.support.recorder import Recorder, Reply

ROUTE = "POST /api/auth/users/forgot_password"


def test_check_config_refuses_workers_with_memory_stores() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PUNCHH_", "GATEWAY_"))}
    env.update(gateway_env("https://sandbox.punchh.com", GATEWAY_WORKERS="2"))
    done = subprocess.run(
        [sys.executable, "-m", "gateway.cli", "check-config"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert "store.url = memory:// with server.workers = 2: expected a redis:// URL" in done.stderr


def _worker_pids(gp: GatewayProcess) -> set[int]:
    return {
        json.loads(line).get("pid") for line in gp.logs().splitlines() if '"worker started"' in line
    }


async def _both_workers_started(gp: GatewayProcess, limit: float = 20.0) -> None:
    deadline = time.monotonic() + limit
    for _ in range(int(limit * 10)):
        if len(_worker_pids(gp)) >= 2 or time.monotonic() > deadline:
            return
        await asyncio.sleep(0.1)  # the log file is the only signal: polled


async def test_two_workers_share_the_port_and_the_metrics(recorder: Recorder) -> None:
    recorder.reply(
        "POST", "/api/auth/customers/sign_in", Reply(200, {"id": 8, "access_token": "PUNCHH-W"})
    )
    env = gateway_env(
        recorder.url,
        GATEWAY_WORKERS="2",
        GATEWAY_STORE_URL=REDIS_URL,
        GATEWAY_STORE_KEY=STORE_KEY,
        GATEWAY_STORE_PREFIX=f"lgtest:{secrets.token_hex(4)}:",
        GATEWAY_ADMIN_TOKEN=ADMIN_TOKEN,
    )
    async with gateway_process(env) as gp:
        # Ready means one worker answers; the other may still be booting on a busy machine,
        # and the kernel only spreads connections over the workers listening.
        await _both_workers_started(gp)
        async with aiohttp.ClientSession() as http:
            async with http.post(f"{gp.url}/api/auth/customers/sign_in", json={}) as resp:
                token = (await resp.json())["access_token"]

            async def one(i: int) -> int:
                # A new connection each time, so the kernel spreads them over the workers.
                async with (
                    aiohttp.ClientSession() as fresh,
                    fresh.post(f"{gp.url}/api/auth/users/forgot_password", json={"i": i}) as r,
                ):
                    return r.status

            statuses = await asyncio.gather(*(one(i) for i in range(120)))
            balance = [
                (
                    await http.get(
                        f"{gp.url}/api/auth/users", headers={"Authorization": f"Bearer {token}"}
                    )
                ).status
                for _ in range(20)
            ]
            async with http.get(f"{gp.url}/metrics", headers=ADMIN) as resp:
                text = await resp.text()
        code = gp.stop()
    assert statuses == [200] * 120
    assert balance == [200] * 20  # a session made on one worker works on every worker
    total = sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith("loyalty_gateway_requests_total{") and f'route="{ROUTE}"' in line
    )
    assert total == 120  # both workers' counts, aggregated
    pids = {
        json.loads(line).get("pid") for line in gp.logs().splitlines() if '"worker started"' in line
    }
    assert len(pids) == 2
    assert code == 0
