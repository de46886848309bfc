"""Running the gateway: one process, or GATEWAY_WORKERS processes on one port.

Several workers share the port with SO_REUSEPORT (the kernel spreads connections) and
share everything else through Redis (sessions, rate limits, cache): check-config refuses
several workers with memory stores. Their Prometheus metrics are written to one
PROMETHEUS_MULTIPROC_DIR and aggregated at scrape time. The parent only supervises: it
passes SIGTERM/SIGINT on and exits with the first non-zero worker status, or 0.
uvloop runs the event loop when `server.event_loop` is "uvloop" (the default).
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import os
import shutil
import signal
import tempfile
from types import FrameType

from aiohttp import web

from gateway.config import GatewayConfig, load_config
from gateway.logs import configure_logging

log = logging.getLogger("gateway")


def _use_event_loop(kind: str) -> None:
    if kind == "uvloop":
        import uvloop

        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())


def serve_one(cfg: GatewayConfig, *, reuse_port: bool = False) -> None:
    from gateway.app import make_app

    _use_event_loop(cfg.server.event_loop)
    log.info("worker started", extra={"pid": os.getpid(), "event_loop": cfg.server.event_loop})
    web.run_app(
        make_app(cfg),
        host=cfg.server.host,
        port=cfg.server.port,
        reuse_port=reuse_port,
        access_log=None,  # our own access log writes route templates, never raw paths
        print=None,
    )


def _worker(env: dict[str, str]) -> None:
    """A worker's entry point (a fresh interpreter): configuration again from the same env."""
    os.environ.update(env)
    cfg = load_config(env.get("GATEWAY_CONFIG") or None, env)
    configure_logging(cfg.server.log_level)
    serve_one(cfg, reuse_port=True)


def serve_workers(cfg: GatewayConfig, env: dict[str, str]) -> int:
    metrics_dir = tempfile.mkdtemp(prefix="loyalty-gateway-metrics-")
    env = {**env, "PROMETHEUS_MULTIPROC_DIR": metrics_dir}
    ctx = multiprocessing.get_context("spawn")
    workers = [
        ctx.Process(target=_worker, args=(env,), name=f"gateway-worker-{i}")
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
    log.info("workers started", extra={"workers": len(workers), "port": cfg.server.port})
    try:
        for w in workers:
            w.join()
    finally:
        shutil.rmtree(metrics_dir, ignore_errors=True)
    codes = [w.exitcode or 0 for w in workers]
    return next((c for c in codes if c != 0), 0)
