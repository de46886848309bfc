"""A real gateway process whose configuration file and secret files a test rewrites, then
signals (SIGHUP), as an operator would; it waits for the reload's count in
gateway_config_reloads_total to learn that the process has acted on it."""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import aiohttp

from tests.support.process import GatewayProcess, gateway_process

ADMIN_TOKEN = "reload-admin-token-" + "r" * 24
ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
RELOADS = "gateway_config_reloads_total"


@dataclass
class Reloadable:
    gp: GatewayProcess
    http: aiohttp.ClientSession
    toml: Path
    files: dict[str, Path]  # secret files by variable (PUNCHH_CLIENT_SECRET...)
    env: dict[str, str]  # what the process was started with (over gateway_process's own)

    @property
    def url(self) -> str:
        return self.gp.url

    def write(self, text: str) -> None:
        self.toml.write_text(text)

    def write_secret(self, variable: str, value: str) -> None:
        self.files[variable].write_text(value + "\n")

    async def reloads(self) -> dict[str, float]:
        """gateway_config_reloads_total by result, as /metrics says."""
        async with self.http.get(self.url + "/metrics", headers=ADMIN) as resp:
            assert resp.status == 200
            text = await resp.text()
        counts: dict[str, float] = {}
        for line in text.splitlines():
            if line.startswith(RELOADS + "{"):
                result = line.split('result="', 1)[1].split('"', 1)[0]
                counts[result] = counts.get(result, 0.0) + float(line.rpartition(" ")[2])
        return counts

    async def hup(self, pid: int | None = None, *, expect: str = "ok", count: int = 1) -> None:
        """SIGHUP to the process (or `pid`), then wait until `count` more reloads with
        the result `expect` are counted."""
        before = (await self.reloads()).get(expect, 0.0)
        os.kill(pid or self.gp.proc.pid, signal.SIGHUP)
        await self.until_counted(expect, before + count)

    async def until_counted(self, result: str, total: float, limit: float = 15.0) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + limit
        while (seen := await self.reloads()).get(result, 0.0) < total:
            assert loop.time() < deadline, f"{result} reloads: {seen}, expected {total}\n" + (
                self.gp.logs()
            )
            await asyncio.sleep(0.05)
        assert seen[result] == total, seen


@asynccontextmanager
async def reloadable(
    tmp_path: Path,
    toml: str,
    env: dict[str, str],
    secrets: dict[str, str] | None = None,
) -> AsyncIterator[Reloadable]:
    """A gateway process on `toml` (GATEWAY_CONFIG) and `env`; `secrets`: variable (its
    _FILE variant is set) → the secret its file holds."""
    path = tmp_path / "gateway.toml"
    path.write_text(toml)
    files: dict[str, Path] = {}
    full = {
        **env,
        "GATEWAY_CONFIG": str(path),
        "GATEWAY_ADMIN_TOKEN": ADMIN_TOKEN,
        "GATEWAY_PID_FILE": str(tmp_path / "gateway.pid"),
    }
    for variable, value in (secrets or {}).items():
        files[variable] = tmp_path / f"{variable.lower()}.secret"
        files[variable].write_text(value + "\n")
        full[variable + "_FILE"] = str(files[variable])
    async with gateway_process(full) as gp, aiohttp.ClientSession() as http:
        yield Reloadable(gp, http, path, files, full)
