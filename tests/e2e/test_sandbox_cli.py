"""`loyalty-gateway sandbox` alone emulates every business a gateway configuration names
(issue 18): `make run`'s two brands, from config/gateway.dev.toml."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

import aiohttp

from tests.support.process import free_port

ROOT = Path(__file__).resolve().parents[2]


async def test_the_standalone_sandbox_emulates_every_business_of_the_configuration() -> None:
    port = free_port()
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("PUNCHH_", "GATEWAY_"))}
    env = {**clean, "GATEWAY_CONFIG": str(ROOT / "config" / "gateway.dev.toml")}
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "gateway.cli",
        "sandbox",
        "--port",
        str(port),
        env=env,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        async with aiohttp.ClientSession() as http:
            for _ in range(200):
                try:
                    async with http.get(url + "/__sandbox/calls") as resp:
                        if resp.status == 200:
                            break
                except aiohttp.ClientConnectionError:
                    await asyncio.sleep(0.05)
            for client, status in (("dev-client", 200), ("dev-brand-b", 200), ("nobody", 404)):
                async with http.get(f"{url}/__sandbox/calls?client={client}") as resp:
                    assert resp.status == status, (client, await resp.text())
    finally:
        proc.terminate()
        _, err = await asyncio.wait_for(proc.communicate(), 10)
    for secret in (b"dev-client-secret-known", b"dev-brand-b-secret-known"):
        assert secret not in err
