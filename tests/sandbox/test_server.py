"""Starting and stopping: loopback only unless allowed; ephemeral ports; serve until stopped."""

from __future__ import annotations

import asyncio

import aiohttp
import pytest

from sandbox.server import SandboxServer, check_host, is_loopback, serve_sandbox, start_sandbox
from tests.sandbox.conftest import make_config


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.168.1.10", "example.com"])
async def test_start_refuses_non_loopback_hosts(host: str) -> None:
    with pytest.raises(ValueError, match="not a loopback address"):
        await start_sandbox(make_config(host=host))


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.0.0.2", True),
        ("::1", True),
        ("localhost", True),
        ("0.0.0.0", False),
    ],
)
def test_is_loopback(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback


def test_allow_non_loopback_lifts_the_check() -> None:
    check_host(make_config(host="0.0.0.0", allow_non_loopback=True))


async def test_two_sandboxes_get_distinct_ephemeral_ports() -> None:
    first, second = await start_sandbox(make_config()), await start_sandbox(make_config())
    try:
        assert first.url.startswith("http://127.0.0.1:")
        assert first.url != second.url
    finally:
        await first.close()
        await second.close()


async def test_serve_sandbox_logs_its_url_and_runs_until_stopped(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level("INFO", logger="sandbox.server")
    stop = asyncio.Event()
    started: asyncio.Future[SandboxServer] = asyncio.get_running_loop().create_future()
    task = asyncio.create_task(serve_sandbox(make_config(), stop, on_start=started.set_result))
    url = (await asyncio.wait_for(started, timeout=5)).url
    assert f"listening on {url}" in caplog.text
    async with aiohttp.ClientSession() as session, session.get(url + "/__sandbox/calls") as resp:
        assert resp.status == 200
    stop.set()
    await asyncio.wait_for(task, timeout=5)
