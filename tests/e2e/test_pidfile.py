"""The pid file `loyalty-gateway reload` signals through (gateway/pidfile.py), against real
processes: a second gateway leaves the first one's file alone, a planted symbolic link
truncates nothing, and a file no gateway holds gets no process signalled."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

from tests.conftest import gateway_env
from tests.support.process import gateway_process, run_cli

UPSTREAM = "http://127.0.0.1:9"  # never called here


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    return gateway_env(UPSTREAM, GATEWAY_PID_FILE=str(tmp_path / "gateway.pid"), **extra)


async def test_a_second_gateway_leaves_the_first_ones_pid_file_alone(tmp_path: Path) -> None:
    env = _env(tmp_path)
    async with gateway_process(env) as first:
        port = first.url.rsplit(":", 1)[1]
        again = {**env, "GATEWAY_HOST": "127.0.0.1", "GATEWAY_PORT": port}
        second = await asyncio.to_thread(run_cli, "serve", env=again)
        assert second.returncode == 2  # its port is the first one's
        assert "pid file not written" in second.stdout
        assert (tmp_path / "gateway.pid").read_text() == f"{first.proc.pid}\n"
        done = await asyncio.to_thread(run_cli, "reload", env=again)
        assert done.returncode == 0, done.stderr
        assert f"pid {first.proc.pid}" in done.stdout
    assert not (tmp_path / "gateway.pid").exists()  # removed by its holder at exit


async def test_a_symbolic_link_at_the_pid_file_truncates_nothing(tmp_path: Path) -> None:
    victim = tmp_path / "important"
    victim.write_text("important content\n")
    (tmp_path / "gateway.pid").symlink_to(victim)
    async with gateway_process(_env(tmp_path)) as gp:
        assert victim.read_text() == "important content\n"
        assert "pid file not written" in gp.logs()


def test_a_pid_file_no_gateway_holds_gets_nobody_signalled(tmp_path: Path) -> None:
    bystander = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        (tmp_path / "gateway.pid").write_text(f"{bystander.pid}\n")  # left, or planted
        done = run_cli("reload", env=_env(tmp_path))
        assert done.returncode == 1
        assert "held by no running gateway" in done.stderr
        assert bystander.poll() is None  # no SIGHUP reached it
    finally:
        bystander.kill()
        bystander.wait()
