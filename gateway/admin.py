"""Admin routes: `GET /metrics` (Prometheus text) and `GET /gateway/status` (the status page).

On the main port (admin.port = 0) both need `Authorization: Bearer <GATEWAY_ADMIN_TOKEN>`;
with no token configured they are not served there (403 admin_only): what the gateway
counts (routes, policies, errors) is not for strangers. On a separate admin port
(admin.port set, bound to admin.host, loopback by default) they need nothing: reaching
that port is the privilege.
"""

from __future__ import annotations

import hmac
import logging
import time
from collections.abc import AsyncIterator, Callable

import aiohttp_jinja2
import jinja2
from aiohttp import web
from aiohttp.typedefs import Handler

from gateway.errors import Forbidden, StoreUnavailable, Unauthorized
from gateway.keys import LIVE, METRICS, SESSION_COUNT
from gateway.listen import ListenError, start_site
from gateway.metrics import render
from gateway.protocol import GatewayRunner
from gateway.status import snapshot

log = logging.getLogger("gateway")
MAIN_APP = web.AppKey("main_app", web.Application)


def _main(request: web.Request) -> web.Application:
    return request.app.get(MAIN_APP, request.app)


def _check_token(request: web.Request) -> None:
    token = _main(request)[LIVE].now.cfg.admin.token
    if not token:
        raise Forbidden(
            "served on the admin port, or here with GATEWAY_ADMIN_TOKEN", code="admin_only"
        )
    given = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
    if not hmac.compare_digest(given.encode(), token.encode()):
        raise Unauthorized("an admin token is required", code="admin_token_required")


def make_metrics_handler(guarded: bool) -> Handler:
    async def metrics(request: web.Request) -> web.Response:
        if guarded:
            _check_token(request)
        main = _main(request)
        await _count_sessions(main)
        body, content_type = render(main[METRICS])
        response = web.Response(body=body)
        response.headers["Content-Type"] = content_type
        return response

    return metrics


def make_status_handler(guarded: bool) -> Handler:
    async def status(request: web.Request) -> web.Response:
        if guarded:
            _check_token(request)
        return aiohttp_jinja2.render_template("status.html", request, snapshot(_main(request)))

    return status


async def _count_sessions(app: web.Application) -> None:
    """The active-sessions gauge, counted at most every 15 s (a Redis count is a SCAN)."""
    counted = app[SESSION_COUNT]
    now = time.monotonic()
    if now - counted[0] < 15.0:
        return
    try:
        counts = [await p.sessions.store.count() for p in app[LIVE].now.businesses.values()]
        app[METRICS].sessions.set(sum(counts))
    except StoreUnavailable:
        app[METRICS].store_error("sessions")
    counted[0] = now


Wrap = Callable[[str, str, Handler], Handler]


def add_admin_routes(app: web.Application, *, guarded: bool, wrap: Wrap | None = None) -> None:
    """`wrap` puts each handler behind the main app's front (request id, errors, metrics)."""
    aiohttp_jinja2.setup(
        app,
        loader=jinja2.PackageLoader("gateway", "templates"),
        autoescape=jinja2.select_autoescape(["html"]),
    )
    for path, handler, name in (
        ("/metrics", make_metrics_handler(guarded), "metrics"),
        ("/gateway/status", make_status_handler(guarded), "gateway-status"),
    ):
        app.router.add_get(path, wrap("GET", path, handler) if wrap else handler, name=name)


async def admin_site(app: web.Application) -> AsyncIterator[None]:
    """The separate admin listener (admin.host:admin.port), sharing the main app's state."""
    cfg = app[LIVE].now.cfg
    admin = web.Application()
    admin[MAIN_APP] = app
    add_admin_routes(admin, guarded=False)
    # The main listener's connection policy (its own count): deadlines, cap, JSON refusals.
    runner = GatewayRunner.serving(admin, cfg.server, access_log=None)
    await runner.setup()
    host, port = cfg.admin.host, cfg.admin.port
    # Workers share the admin port as they share the main one; /metrics aggregates them all.
    site = web.TCPSite(runner, host, port, reuse_port=cfg.server.workers > 1)
    try:
        await start_site(site, host, port, ("GATEWAY_ADMIN_HOST", "GATEWAY_ADMIN_PORT"))
    except ListenError:
        await runner.cleanup()
        raise
    log.info("admin listening", extra={"host": host, "port": port})
    try:
        yield
    finally:
        await runner.cleanup()
