"""Running the gateway: one process, or GATEWAY_WORKERS processes on one port.

Several workers share the port with SO_REUSEPORT (the kernel spreads connections) and
share everything else through Redis (sessions, rate limits, cache): check-config refuses
several workers with memory stores. Their Prometheus metrics are written to one
PROMETHEUS_MULTIPROC_DIR and aggregated at scrape time. The parent only supervises: it
passes SIGTERM/SIGINT on and exits with the first non-zero worker status, or 0; a worker
that cannot bind (a port another process holds without SO_REUSEPORT) stops them all, and
the parent raises its ListenError: `serve` says it in one line, exit code 2.
A listener is bound before `gateway ready` is logged (issue 20).
uvloop runs the event loop when `server.event_loop` is "uvloop" (the default).
Each worker holds its connections to the header, body and keep-alive timeouts and to
`server.max_connections` (gateway/connections.py, gateway/protocol.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import multiprocessing
import os
import shutil
import signal
import sys
import tempfile
from collections.abc import Callable, Sequence
from multiprocessing.connection import wait
from multiprocessing.process import BaseProcess
from multiprocessing.queues import SimpleQueue
from types import FrameType
from typing import TYPE_CHECKING, cast

from aiohttp import web

from gateway.config import GatewayConfig, load_config
from gateway.listen import ListenError, start_site
from gateway.logs import configure_logging
from gateway.tracing import shutdown_tracing, start_tracing

if TYPE_CHECKING:
    from gateway.keys import Readiness
    from gateway.protocol import GatewayRunner

log = logging.getLogger("gateway")
_CANCEL_WAIT = 0.1  # seconds
_CANNOT_LISTEN = 2  # a worker's exit status: its ListenError's line is in the queue


def _use_event_loop(kind: str) -> None:
    if kind == "uvloop":
        import uvloop

        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())


def serve_one(cfg: GatewayConfig, *, reuse_port: bool = False) -> None:
    from gateway.app import make_app

    _use_event_loop(cfg.server.event_loop)
    log.info("worker started", extra={"pid": os.getpid(), "event_loop": cfg.server.event_loop})
    # Off, importing nothing of OpenTelemetry, without OTEL_EXPORTER_OTLP_ENDPOINT; each
    # worker process exports its own spans.
    start_tracing(os.environ)
    try:
        asyncio.run(serve(make_app(cfg), cfg, reuse_port=reuse_port))
    finally:
        shutdown_tracing()  # the last spans sent, 2 s at most


async def serve(app: web.Application, cfg: GatewayConfig, *, reuse_port: bool = False) -> None:
    """Serve until SIGTERM or SIGINT, then shut down gracefully:

    1. /readyz answers 503 `draining` at once, and every answer closes its connection;
    2. for `server.shutdown_grace` seconds new connections are still accepted and served
       (a load balancer needs a moment to see /readyz and stop sending);
    3. the listener closes (new connections are refused), idle keep-alive connections are
       closed, and requests in flight get up to `server.drain_timeout` seconds to finish;
    4. whatever is still running is cancelled (within about half a second), the upstream
       client and the stores are closed, and the process exits 0.
    A second signal skips what is left of the grace period.
    """
    # Imported here, not at the top: a spawned worker imports this module before it sets
    # PROMETHEUS_MULTIPROC_DIR, and prometheus_client (imported through gateway.keys)
    # chooses between in-process and multiprocess values once, at its own import.
    from gateway.keys import LIVE, READINESS, RELOADER

    readiness = app[READINESS]
    runner = await _listening(app, cfg, reuse_port)
    signals = asyncio.Queue[int]()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, signals.put_nowait, signum)
    # SIGHUP: a live reload (gateway/reload.py), run on the loop between requests' steps.
    loop.add_signal_handler(signal.SIGHUP, app[RELOADER].reload)
    try:
        received = await signals.get()
        # The grace and the drain timeout are live settings: the ones served now.
        await _shut_down(runner, readiness, app[LIVE].now.cfg, received, signals)
    finally:
        for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            loop.remove_signal_handler(signum)
        await runner.cleanup()
    log.info("stopped", extra={"pid": os.getpid()})


async def _shut_down(
    runner: GatewayRunner,
    readiness: Readiness,
    cfg: GatewayConfig,
    received: int,
    signals: asyncio.Queue[int],
) -> None:
    """Steps 1 to 3 of `serve`'s shutdown: draining, the grace (cut short by a second
    signal), the listener closed, requests in flight given the drain timeout."""
    readiness.draining = True
    log.info(
        "draining",
        extra={
            "signal": signal.Signals(received).name,
            "grace_seconds": cfg.server.shutdown_grace,
            "drain_timeout": cfg.server.drain_timeout,
        },
    )
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(signals.get(), cfg.server.shutdown_grace)
    for listener in list(runner.sites):
        await listener.stop()  # the listener closes: new connections are refused
    if runner.server is not None:
        runner.server.pre_shutdown()  # idle keep-alive connections close
    log.info(
        "listener closed; finishing requests in flight",
        extra={"in_flight": readiness.in_flight},
    )
    if not await _drained(readiness, cfg.server.drain_timeout):
        log.warning(
            "drain timeout: cancelling requests in flight",
            extra={"in_flight": readiness.in_flight},
        )


async def _listening(app: web.Application, cfg: GatewayConfig, reuse_port: bool) -> GatewayRunner:
    """The app started (its upstream, stores, embedded sandbox and admin listener) and its
    listener bound, then `gateway ready`; a listener that cannot bind is a ListenError
    (gateway/listen.py), with whatever had started closed."""
    from gateway.keys import LIVE, UPSTREAM_URL
    from gateway.protocol import GatewayRunner

    # Slow clients, the connection cap, keep-alive idle time (gateway/connections.py).
    runner = GatewayRunner.serving(
        app,
        cfg.server,
        access_log=None,  # our own access log writes route templates, never raw paths
        handle_signals=False,
        # What is still running after the drain is cancelled: aiohttp waits this long
        # (twice: for the handler, then for its task) before it cancels.
        shutdown_timeout=_CANCEL_WAIT,
    )
    host, port = cfg.server.host, cfg.server.port
    try:
        await runner.setup()
        site = web.TCPSite(runner, host, port, reuse_port=reuse_port)
        await start_site(site, host, port, ("GATEWAY_HOST", "GATEWAY_PORT"))
    except BaseException:
        await runner.cleanup()
        raise
    log.info(
        "gateway ready",
        extra={
            "host": host,
            "port": port,
            "upstream": app[UPSTREAM_URL],
            "sandbox": cfg.sandbox.enabled,
            "businesses": list(app[LIVE].now.businesses),
        },
    )
    return runner


def hold_reloads() -> None:
    """SIGHUP ignored until the event loop handles it (its default would end the process):
    a reload asked for while starting is no loss, the configuration is read after this."""
    signal.signal(signal.SIGHUP, signal.SIG_IGN)


async def _drained(readiness: Readiness, limit: float) -> bool:
    """Wait until no request is in flight, for `limit` seconds at most."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + limit
    while readiness.in_flight > 0:
        if loop.time() >= deadline:
            return False
        await asyncio.sleep(min(0.05, max(0.0, deadline - loop.time())))
    return True


def _worker(env: dict[str, str], problems: SimpleQueue[str]) -> None:
    """A worker's entry point (a fresh interpreter): configuration again from the same env.
    A port it cannot bind goes to the parent, which says it once (`problems`)."""
    hold_reloads()
    os.environ.update(env)
    cfg = load_config(env.get("GATEWAY_CONFIG") or None, env)
    configure_logging(cfg.server.log_level)
    try:
        serve_one(cfg, reuse_port=True)
    except ListenError as exc:
        problems.put(str(exc))
        sys.exit(_CANNOT_LISTEN)


def serve_workers(cfg: GatewayConfig, env: dict[str, str]) -> int:
    """The workers' first non-zero exit status, or 0; a ListenError when one could not bind
    (a port another process holds without SO_REUSEPORT): the others are stopped."""
    metrics_dir = tempfile.mkdtemp(prefix="loyalty-gateway-metrics-")
    env = {**env, "PROMETHEUS_MULTIPROC_DIR": metrics_dir}
    ctx = multiprocessing.get_context("spawn")
    problems: SimpleQueue[str] = ctx.SimpleQueue()
    workers = [
        ctx.Process(target=_worker, args=(env, problems), name=f"gateway-worker-{i}")
        for i in range(cfg.server.workers)
    ]
    for w in workers:
        w.start()

    def forward(signum: int, _frame: FrameType | None) -> None:
        for w in workers:
            if w.is_alive() and w.pid is not None:
                os.kill(w.pid, signum)

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    signal.signal(signal.SIGHUP, forward)  # every worker reloads
    log.info("workers started", extra={"workers": len(workers), "port": cfg.server.port})
    try:
        _supervise(workers, lambda: forward(signal.SIGTERM, None))
    finally:
        shutil.rmtree(metrics_dir, ignore_errors=True)
    codes = [w.exitcode or 0 for w in workers]
    if _CANNOT_LISTEN in codes and not problems.empty():
        raise ListenError(problems.get())
    return next((c for c in codes if c != 0), 0)


def _supervise(workers: Sequence[BaseProcess], stop_all: Callable[[], None]) -> None:
    """Until every worker has exited; the first that could not listen stops the others."""
    running = {w.sentinel: w for w in workers}
    while running:
        for sentinel in wait(list(running)):
            gone = running.pop(cast(int, sentinel))
            gone.join()
            if gone.exitcode == _CANNOT_LISTEN:
                stop_all()
