"""Starts and stops a sandbox on a real socket.

``start_sandbox`` refuses (``ValueError``) a host that is not a loopback address unless
``allow_non_loopback`` is set: the sandbox has no real security and must not be exposed
by accident. Port 0 binds an ephemeral port; ``SandboxServer.url`` has the real one.
Each entry point takes one config or a sequence of them (several businesses on one port,
``sandbox.app``): host, port and ``allow_non_loopback`` come from the first.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import time
from collections.abc import Callable, Sequence

from aiohttp import web

from sandbox.app import make_sandbox_app
from sandbox.businesses import as_configs
from sandbox.config import SandboxConfig

logger = logging.getLogger(__name__)


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_host(cfg: SandboxConfig) -> None:
    if not cfg.allow_non_loopback and not is_loopback(cfg.host):
        raise ValueError(
            f"sandbox host {cfg.host!r} is not a loopback address; the sandbox is for local "
            "development only (set allow_non_loopback=True to bind it anyway)"
        )


class SandboxServer:
    """A started sandbox: its base ``url`` and ``app`` (the primary business's state via
    ``context.STATE_KEY``, every business via ``context.BUSINESSES_KEY``)."""

    def __init__(self, url: str, app: web.Application, runner: web.AppRunner) -> None:
        self.url = url
        self.app = app
        self._runner = runner

    async def close(self) -> None:
        await self._runner.cleanup()


async def start_sandbox(
    cfg: SandboxConfig | Sequence[SandboxConfig], *, clock: Callable[[], float] = time.time
) -> SandboxServer:
    primary = as_configs(cfg)[0]
    check_host(primary)
    app = make_sandbox_app(cfg, clock=clock)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    try:
        site = web.TCPSite(runner, primary.host, primary.port)
        await site.start()
    except BaseException:
        await runner.cleanup()
        raise
    host, port = runner.addresses[0][:2]
    shown = f"[{host}]" if ":" in host else host
    return SandboxServer(f"http://{shown}:{port}", app, runner)


async def serve_sandbox(
    cfg: SandboxConfig | Sequence[SandboxConfig],
    stop: asyncio.Event | None = None,
    *,
    on_start: Callable[[SandboxServer], None] | None = None,
) -> None:
    """Run until ``stop`` is set (or the task is cancelled), then close."""
    server = await start_sandbox(cfg)
    logger.info("Punchh sandbox listening on %s", server.url)
    if on_start is not None:
        on_start(server)
    try:
        await (stop or asyncio.Event()).wait()
    finally:
        await server.close()


def run_sandbox(cfg: SandboxConfig | Sequence[SandboxConfig]) -> None:
    """Blocking entry point for ``loyalty-gateway sandbox``; Ctrl-C stops it."""
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve_sandbox(cfg))
