"""The Makefile's commands as a user runs them (GNU make, this venv's `loyalty-gateway`):

- `make run` with its ports moved: says where everything is, serves the gateway and the
  browser example's page, `make reload` reaches that gateway, and Ctrl-C (SIGINT to make's
  process group, as a terminal sends it) ends every process it started;
- `make run-punchh` against a "real Punchh" (a standalone sandbox at PUNCHH_BASE_URL): a
  sign-up works through it; without one of its variables, one line naming it, nothing run;
- `make check-config` and `make help`.

The venv is never rebuilt here (`-o` its stamp): the tests run the make targets, not pip.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import pytest

from sandbox.config import SandboxConfig
from sandbox.server import start_sandbox
from tests.support.process import free_port

ROOT = Path(__file__).resolve().parents[2]
VENV = Path(sys.prefix)
MAKE = ["make", "-s", "-o", f"{VENV}/.installed-stamp", f"VENV={VENV}"]
PUNCHH = {
    "PUNCHH_CLIENT_ID": "real-punchh-stand-in",
    "PUNCHH_CLIENT_SECRET": "real-punchh-stand-in-secret-0123456789",
}
USER = {
    "email": "make-target@example.com",
    "password": "correct-horse-9",
    "first_name": "Ada",
    "last_name": "Lovelace",
}


def _env(**given: str) -> dict[str, str]:
    """A clean environment (none of the test run's PUNCHH_* or GATEWAY_*) plus `given`."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("PUNCHH_", "GATEWAY_"))}
    return {**clean, **given}


def make(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """`make <args>` to completion."""
    return subprocess.run(
        [*MAKE, *args],
        cwd=ROOT,
        env=_env(**env),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@dataclass
class Running:
    proc: asyncio.subprocess.Process
    log: Path

    def output(self) -> str:
        return self.log.read_text()

    def group(self) -> list[int]:
        """The live processes of make's process group (zombies are gone already)."""
        alive = []
        for stat in Path("/proc").glob("[0-9]*/stat"):
            with contextlib.suppress(OSError):
                fields = stat.read_text().rpartition(")")[2].split()
                if fields[0] != "Z" and int(fields[2]) == self.proc.pid:
                    alive.append(int(stat.parent.name))
        return alive


@contextlib.asynccontextmanager
async def started(tmp_path: Path, target: str, **env: str) -> AsyncIterator[Running]:
    """`make <target>` in a process group of its own, its output in a file. On the way out
    anything of that group still running is killed (the test says whether any was)."""
    log = tmp_path / f"make-{target}.log"
    with log.open("wb") as sink:
        proc = await asyncio.create_subprocess_exec(
            *MAKE,
            target,
            cwd=ROOT,
            env=_env(**env),
            stdout=sink,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    running = Running(proc, log)
    try:
        yield running
    finally:
        if running.group():
            os.killpg(proc.pid, signal.SIGKILL)
        if proc.returncode is None:
            await proc.wait()


async def ctrl_c(running: Running) -> int:
    """SIGINT to the whole group, as Ctrl-C in a terminal: make's exit status once every
    process of the group has ended (AssertionError naming any that lingers)."""
    os.killpg(running.proc.pid, signal.SIGINT)
    async with asyncio.timeout(20):
        status = await running.proc.wait()
    await nothing_left(running)
    return status


async def nothing_left(running: Running) -> None:
    """Once make has ended: no process of its group still runs (a few seconds for one the
    recipe's trap has just killed)."""
    for _ in range(100):
        if not running.group():
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"still running after make ended: {running.group()}")


async def until_up(running: Running, url: str, limit: float = 30) -> None:
    """Until `url` answers 200 (AssertionError with make's output if make ends first)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + limit
    async with aiohttp.ClientSession() as http:
        while loop.time() < deadline:
            assert running.proc.returncode is None, running.output()
            with contextlib.suppress(aiohttp.ClientConnectionError):
                async with http.get(url) as resp:
                    if resp.status == 200:
                        return
            await asyncio.sleep(0.05)
    raise AssertionError(f"{url} not up in {limit}s:\n{running.output()}")


async def refused(url: str) -> bool:
    async with aiohttp.ClientSession() as http:
        try:
            async with http.get(url):
                return False
        except aiohttp.ClientConnectionError:
            return True


async def test_make_run_serves_the_example_reloads_and_stops_on_ctrl_c(tmp_path: Path) -> None:
    gw, admin, page = free_port(), free_port(), free_port()
    ports = {"GATEWAY_PORT": str(gw), "GATEWAY_ADMIN_PORT": str(admin), "WEB_PORT": str(page)}
    async with started(tmp_path, "run", GATEWAY_SANDBOX_PORT="0", **ports) as running:
        await until_up(running, f"http://127.0.0.1:{gw}/readyz")
        await until_up(running, f"http://127.0.0.1:{page}/")
        out = running.output()
        assert f"loyalty-gateway: http://127.0.0.1:{gw} " in out
        assert f"a second brand: http://brand-b.localhost:{gw};" in out
        assert f"http://127.0.0.1:{admin}/metrics, http://127.0.0.1:{admin}/gateway/status" in out
        assert (
            f"browser example (cookie mode): http://web.localhost:{page}/?gateway_port={gw}\n"
            in out
        )
        async with aiohttp.ClientSession() as http:
            async with http.get(f"http://127.0.0.1:{page}/") as resp:
                assert resp.content_type == "text/html"
                assert 'credentials: "include"' in await resp.text()
            async with http.get(f"http://127.0.0.1:{page}/index.html") as resp:
                assert resp.status == 404  # the page at /, nothing else

        # `make reload` finds this gateway (the pid file of its port) and it reloads.
        reload = await asyncio.to_thread(make, "reload", GATEWAY_PORT=str(gw))
        assert reload.returncode == 0, reload.stderr
        assert "reload asked of the gateway (pid " in reload.stdout
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 10
        while "configuration reloaded" not in running.output():
            assert loop.time() < deadline, running.output()
            await asyncio.sleep(0.05)

        assert await ctrl_c(running) != 0  # make says it was interrupted
    assert await refused(f"http://127.0.0.1:{gw}/readyz")
    assert await refused(f"http://127.0.0.1:{page}/")


async def test_make_run_stops_the_page_when_the_gateway_will_not_start(tmp_path: Path) -> None:
    page = free_port()
    env = {"GATEWAY_PORT": "eighty", "WEB_PORT": str(page)}
    async with started(tmp_path, "run", **env) as running:
        async with asyncio.timeout(30):
            status = await running.proc.wait()
        assert status != 0
        assert "GATEWAY_PORT" in running.output()
        await nothing_left(running)  # the page's server went with the gateway
    assert await refused(f"http://127.0.0.1:{page}/")


async def test_make_run_punchh_works_against_the_punchh_at_punchh_base_url(
    tmp_path: Path,
) -> None:
    punchh = await start_sandbox(
        SandboxConfig(
            client_id=PUNCHH["PUNCHH_CLIENT_ID"],
            client_secret=PUNCHH["PUNCHH_CLIENT_SECRET"],
            business_key="",
            location_keys={},
        )
    )
    gw, admin = free_port(), free_port()
    env = {
        **PUNCHH,
        "PUNCHH_BASE_URL": punchh.url,
        "GATEWAY_PORT": str(gw),
        "GATEWAY_ADMIN_PORT": str(admin),
        "GATEWAY_SANDBOX": "1",  # a user's leftover: run-punchh never starts the sandbox
    }
    try:
        async with started(tmp_path, "run-punchh", **env) as running:
            await until_up(running, f"http://127.0.0.1:{gw}/readyz")
            said = running.output()
            assert f"loyalty-gateway: http://127.0.0.1:{gw}; metrics and status page: " in said
            assert f"upstream: the Punchh at {punchh.url} (no sandbox)\n" in said
            async with aiohttp.ClientSession(f"http://127.0.0.1:{gw}") as http:
                async with http.post("/api/auth/customers.json", json={"user": USER}) as resp:
                    assert resp.status == 201, await resp.text()
                    token = (await resp.json())["access_token"]
                async with http.get(
                    "/api/auth/checkins/balance", headers={"Authorization": f"Bearer {token}"}
                ) as resp:
                    assert resp.status == 200, await resp.text()
                    assert (await resp.json())["points_balance"] == 0
            async with (
                aiohttp.ClientSession() as http,
                http.get(punchh.url + "/__sandbox/calls") as resp,
            ):
                calls = await resp.json()
            assert calls["POST /api/auth/customers.json"] == 1  # this Punchh's, not another's
            assert calls["GET /api/auth/checkins/balance"] == 1
            await ctrl_c(running)
    finally:
        await punchh.close()
    logs = running.output()
    assert PUNCHH["PUNCHH_CLIENT_SECRET"] not in logs
    assert f'"upstream": "{punchh.url}", "sandbox": false' in logs


@pytest.mark.parametrize("missing", ["PUNCHH_BASE_URL", "PUNCHH_CLIENT_ID", "PUNCHH_CLIENT_SECRET"])
def test_make_run_punchh_names_the_missing_variable_in_one_line(missing: str) -> None:
    env = {**PUNCHH, "PUNCHH_BASE_URL": "http://127.0.0.1:9"}
    env[missing] = ""  # set but empty is missing too
    done = make("run-punchh", **env)
    assert done.returncode != 0
    assert done.stdout == ""  # nothing started, nothing said but the reason
    lines = done.stderr.splitlines()
    assert len(lines) == 1, done.stderr
    assert f"make run-punchh: {missing} is not set" in lines[0]
    others = {"PUNCHH_BASE_URL", "PUNCHH_CLIENT_ID", "PUNCHH_CLIENT_SECRET"} - {missing}
    assert not any(f"{name} is not set" in lines[0] for name in others)


def test_make_run_punchh_takes_the_secret_from_a_file() -> None:
    env = {**PUNCHH, "PUNCHH_BASE_URL": "http://127.0.0.1:9", "PUNCHH_CLIENT_SECRET": ""}
    done = make("-n", "run-punchh", PUNCHH_CLIENT_SECRET_FILE="/run/secrets/punchh", **env)
    assert done.returncode == 0, done.stderr
    assert "config/gateway.punchh.toml" in done.stdout
    assert "GATEWAY_SANDBOX=false" in done.stdout


def test_make_check_config_checks_make_runs_configuration() -> None:
    done = make("check-config")
    assert done.returncode == 0, done.stderr
    assert "config/gateway.dev.toml" in done.stdout
    assert "web.localhost" in done.stdout  # the browser example's business
    bad = make("check-config", GATEWAY_PORT="eighty")
    assert bad.returncode != 0
    assert "GATEWAY_PORT" in bad.stderr
    assert "'eighty'" in bad.stderr


def test_make_help_lists_what_a_user_runs() -> None:
    done = make("help")
    assert done.returncode == 0, done.stderr
    listed = {line.split()[0]: line for line in done.stdout.splitlines()}
    for target in ("run", "run-punchh", "check-config", "reload", "sandbox", "test"):
        assert target in listed, done.stdout
        assert len(listed[target].split()) > 2  # a name, then what it does
