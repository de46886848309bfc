"""A listener that cannot bind (issue 20, finding 1): a real `python -m gateway` whose
port, admin port or sandbox port a socket of this test holds says so in one line on
stderr, naming the address and the variable that moves it, and exits 2: no traceback, no
`gateway ready` (logged only once the listener is bound)."""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import socket
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager

import aiohttp
import pytest

from tests.conftest import gateway_env
from tests.store.conftest import REDIS_URL, STORE_KEY
from tests.support.process import free_port, gateway_process


@contextmanager
def _held() -> Iterator[int]:
    """A port of 127.0.0.1 this test listens on (no SO_REUSEPORT): its number."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        yield int(s.getsockname()[1])


def _gateway(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """`python -m gateway` until it exits, over an environment without the run's
    GATEWAY_* and PUNCHH_* variables."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("PUNCHH_", "GATEWAY_"))}
    return subprocess.run(
        [sys.executable, "-m", "gateway"],
        env={**clean, "GATEWAY_HOST": "127.0.0.1", "GATEWAY_SHUTDOWN_GRACE": "0", **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def _refused(done: subprocess.CompletedProcess[str], line: str) -> None:
    output = done.stdout + done.stderr
    assert done.returncode == 2, output
    assert done.stderr.strip() == line, output  # the one line, alone on stderr
    assert "Traceback" not in output
    assert "gateway ready" not in output


SANDBOX = {"GATEWAY_SANDBOX": "1", "GATEWAY_SESSION_SECRET": "s" * 40}


def _two_workers(**extra: str) -> dict[str, str]:
    """Two workers on Redis (several workers need shared stores)."""
    return gateway_env(
        "https://punchh.example",
        GATEWAY_WORKERS="2",
        GATEWAY_STORE_URL=REDIS_URL,
        GATEWAY_STORE_KEY=STORE_KEY,
        GATEWAY_STORE_PREFIX=f"lgtest:{secrets.token_hex(4)}:",
        **extra,
    )


@pytest.mark.parametrize("variable", ["GATEWAY_PORT", "GATEWAY_ADMIN_PORT", "GATEWAY_SANDBOX_PORT"])
def test_a_port_in_use_is_one_line_and_exit_code_2(variable: str) -> None:
    with _held() as port:
        done = _gateway({**SANDBOX, "GATEWAY_PORT": str(free_port()), variable: str(port)})
    _refused(done, f"address 127.0.0.1:{port} is in use ({variable})")


def test_workers_on_a_port_another_process_holds_without_reuse_port() -> None:
    """SO_REUSEPORT shares a port only among sockets that all set it: every worker fails,
    and the parent says so once."""
    env = _two_workers()
    with _held() as port:
        done = _gateway({**env, "GATEWAY_PORT": str(port)})
    _refused(done, f"address 127.0.0.1:{port} is in use (GATEWAY_PORT)")


async def test_workers_share_the_admin_port_and_say_ready_once_bound() -> None:
    """Two workers share the admin port as they share the main one (/metrics aggregates
    them); each says `gateway ready` once its listeners are bound, after `admin listening`."""
    admin = free_port()
    env = _two_workers(GATEWAY_ADMIN_PORT=str(admin))
    async with gateway_process(env) as gp:
        for _ in range(200):  # the log file is the only signal: polled
            if gp.logs().count('"gateway ready"') == 2:
                break
            await asyncio.sleep(0.1)
        async with (
            aiohttp.ClientSession() as http,
            http.get(f"http://127.0.0.1:{admin}/metrics") as r,
        ):
            assert r.status == 200
        code = gp.stop()
    said = [json.loads(line) for line in gp.logs().splitlines()]
    messages = [line["msg"] for line in said]
    assert messages.count("admin listening") == messages.count("gateway ready") == 2, gp.logs()
    assert messages.index("admin listening") < messages.index("gateway ready")
    ready = [line for line in said if line["msg"] == "gateway ready"]
    assert {line["port"] for line in ready} == {int(gp.url.rsplit(":", 1)[1])}
    assert code == 0, gp.logs()


async def test_serve_logs_each_configuration_warning_once() -> None:
    """At WARNING, by the process that read the configuration first: not again per worker."""
    env = _two_workers(GATEWAY_PROT="8081")
    async with gateway_process(env) as gp:
        for _ in range(200):  # until both workers are up: they load the configuration too
            if gp.logs().count('"gateway ready"') == 2:
                break
            await asyncio.sleep(0.1)
        assert gp.logs().count('"gateway ready"') == 2, gp.logs()
    warned = [
        line
        for line in map(json.loads, gp.logs().splitlines())
        if line["level"] == "warning" and "GATEWAY_PROT" in line["msg"]
    ]
    assert [line["msg"] for line in warned] == [
        "configuration warning: GATEWAY_PROT: not a variable the gateway reads "
        "(did you mean GATEWAY_PORT?)"
    ], gp.logs()
