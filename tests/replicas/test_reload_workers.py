"""Live reload with GATEWAY_WORKERS=N: `loyalty-gateway reload` signals the supervising
parent (its pid file), which passes SIGHUP on; every worker reloads, each counted in the
aggregated gateway_config_reloads_total, and each refuses a key that needs a restart."""

from __future__ import annotations

import asyncio
import json
import secrets
from pathlib import Path

import aiohttp

from sandbox.server import SandboxServer
from tests.conftest import CLIENT_ID, CLIENT_SECRET, SESSION_SECRET
from tests.replicas.test_workers import _both_workers_started, _worker_pids
from tests.store.conftest import REDIS_URL, STORE_KEY
from tests.support.process import run_cli
from tests.support.reloading import Reloadable, reloadable

ORIGIN = "https://order.example.com"
TWO = f'[server]\nworkers = 2\n\n[punchh]\nclient_id = "{CLIENT_ID}"\n'


def _reloaded_pids(rig: Reloadable, message: str) -> list[int]:
    return [json.loads(line)["pid"] for line in rig.gp.logs().splitlines() if f'"{message}' in line]


async def _allowed(rig: Reloadable) -> set[str | None]:
    """The Access-Control-Allow-Origin of 30 preflights, each on a new connection (the
    kernel spreads connections over the workers)."""

    async def one() -> str | None:
        async with (
            aiohttp.ClientSession() as fresh,
            fresh.options(
                rig.url + "/api/auth/users",
                headers={"Origin": ORIGIN, "Access-Control-Request-Method": "GET"},
            ) as resp,
        ):
            return resp.headers.get("Access-Control-Allow-Origin")

    return set(await asyncio.gather(*(one() for _ in range(30))))


async def test_every_worker_reloads(tmp_path: Path, sandbox: SandboxServer) -> None:
    env = {
        "PUNCHH_BASE_URL": sandbox.url,
        "PUNCHH_CLIENT_SECRET": CLIENT_SECRET,
        "GATEWAY_SESSION_SECRET": SESSION_SECRET,
        "GATEWAY_STORE_URL": REDIS_URL,
        "GATEWAY_STORE_KEY": STORE_KEY,
        "GATEWAY_STORE_PREFIX": f"lgtest:{secrets.token_hex(4)}:",
    }
    async with reloadable(tmp_path, TWO, env) as rig:
        await _both_workers_started(rig.gp)
        workers = _worker_pids(rig.gp)
        assert len(workers) == 2
        assert await _allowed(rig) == {None}
        rig.write(TWO + f'\n[session]\nallowed_origins = ["{ORIGIN}"]\n')
        done = await asyncio.to_thread(run_cli, "reload", env=rig.env)
        assert done.returncode == 0, done.stderr
        assert f"pid {rig.gp.proc.pid}" in done.stdout  # the parent, which passes it on
        await rig.until_counted("ok", 2)  # one per worker, aggregated
        assert set(_reloaded_pids(rig, "configuration reloaded")) == workers
        assert await _allowed(rig) == {ORIGIN}  # whichever worker answers
        rig.write(TWO.replace("workers = 2", "workers = 3"))
        await rig.hup(expect="restart_required", count=2)
        assert sorted(_reloaded_pids(rig, "reload refused: server.workers")) == sorted(workers)
        assert await _allowed(rig) == {ORIGIN}  # still the configuration they had
