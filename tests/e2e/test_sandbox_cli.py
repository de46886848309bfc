"""`loyalty-gateway sandbox` alone emulates every business a gateway configuration names
(issue 18): `make run`'s two brands, from config/gateway.dev.toml; a port or host it
cannot listen on is one line and exit code 2 (issue 20)."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import sys
from pathlib import Path

import aiohttp

from tests.support.process import free_port, run_cli

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
        stdout=asyncio.subprocess.PIPE,
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
        out, err = await asyncio.wait_for(proc.communicate(), 10)
    # Its log is JSON lines on stdout (issue 20, finding 5), and holds no secret.
    said = [json.loads(line)["msg"] for line in out.decode().splitlines()]
    assert f"Punchh sandbox listening on {url}" in said
    for secret in (b"dev-client-secret-known", b"dev-brand-b-secret-known"):
        assert secret not in out + err


def test_a_port_in_use_is_one_line_and_exit_code_2() -> None:
    """Issue 20, finding 1: `--port` taken is said in one line naming it; no traceback."""
    env = {"PUNCHH_CLIENT_ID": "c", "PUNCHH_CLIENT_SECRET": "s"}
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        held.listen()
        port = held.getsockname()[1]
        done = run_cli("sandbox", "--port", str(port), env=env)
    assert done.returncode == 2, done.stdout + done.stderr
    assert done.stderr.strip() == f"address 127.0.0.1:{port} is in use (--port)"
    assert "Traceback" not in done.stdout + done.stderr


def test_a_host_that_is_not_loopback_is_one_line_and_exit_code_2() -> None:
    done = run_cli(
        "sandbox", "--host", "10.9.9.9", env={"PUNCHH_CLIENT_ID": "c", "PUNCHH_CLIENT_SECRET": "s"}
    )
    assert done.returncode == 2, done.stdout + done.stderr
    assert done.stderr.strip() == (
        "sandbox: --host '10.9.9.9' is not a loopback address; the sandbox is for local "
        "development only (--allow-non-loopback binds it anyway)"
    )
