"""A real gateway process (`python -m gateway`) on 127.0.0.1, for tests that need one."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import aiohttp


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class GatewayProcess:
    url: str
    proc: subprocess.Popen[bytes]
    log_path: Path

    def logs(self) -> str:
        return self.log_path.read_text()

    def stop(self) -> int:
        self.proc.terminate()
        try:
            return self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait()


def _spawn(env: dict[str, str], port: int) -> GatewayProcess:
    with tempfile.NamedTemporaryFile(prefix="gateway-", suffix=".log", delete=False) as log:
        log_path = Path(log.name)
    with log_path.open("wb") as sink:
        proc = subprocess.Popen(
            [sys.executable, "-m", "gateway"], env=env, stdout=sink, stderr=subprocess.STDOUT
        )
    return GatewayProcess(f"http://127.0.0.1:{port}", proc, log_path)


@asynccontextmanager
async def gateway_process(
    env: dict[str, str], *, ready_timeout: float = 20.0
) -> AsyncIterator[GatewayProcess]:
    port = free_port()
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("PUNCHH_", "GATEWAY_"))}
    full_env = {
        **clean,
        "GATEWAY_HOST": "127.0.0.1",
        "GATEWAY_PORT": str(port),
        "GATEWAY_SHUTDOWN_GRACE": "0",  # no load balancer to warn; the shutdown test sets it
        **env,
    }
    gp = _spawn(full_env, port)
    try:
        await _wait_ready(gp, ready_timeout)
        yield gp
    finally:
        gp.stop()


async def _wait_ready(gp: GatewayProcess, limit: float) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + limit
    async with aiohttp.ClientSession() as http:
        while loop.time() < deadline:
            if gp.proc.poll() is not None:
                raise RuntimeError(f"gateway exited {gp.proc.returncode}:\n{gp.logs()}")
            try:
                async with http.get(gp.url + "/readyz") as resp:
                    if resp.status == 200:
                        return
            except aiohttp.ClientConnectionError:
                pass
            await asyncio.sleep(0.05)
    raise RuntimeError(f"gateway not ready in {limit}s:\n{gp.logs()}")


def run_cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """`loyalty-gateway <args>` in a process of its own, with `env` over a clean
    environment (no PUNCHH_* or GATEWAY_* of the test run's)."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("PUNCHH_", "GATEWAY_"))}
    return subprocess.run(
        [sys.executable, "-m", "gateway.cli", *args],
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
