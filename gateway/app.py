"""Builds the gateway: the request path, the routes, and the resources' lifecycle.

The request path, outermost first, is visible in `make_app`: the front that every
request goes through (middleware/front.py), then the stages a route's plan may hold.
Each Punchh route (and each of the gateway's own) is registered in aiohttp's router
with its plan, compiled once here: a stage that does not apply to a route is not in its
plan at all (gateway/plan.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable

from aiohttp import web
from aiohttp.typedefs import Handler
from prometheus_client import CollectorRegistry

from gateway.admin import add_admin_routes, admin_site
from gateway.config import GatewayConfig
from gateway.exchange import Exchange
from gateway.keys import (
    LIMITER,
    LIVE,
    METRICS,
    READINESS,
    RECENT_ERRORS,
    RELOADER,
    SESSION_COUNT,
    UPSTREAM_URL,
)
from gateway.live import Builder, Live
from gateway.local import LocalHandlers
from gateway.logs import flush_access_log, flush_access_log_every
from gateway.parts import Parts, Shared, build_shared
from gateway.plan import Plan, Wrap, compile_plan
from gateway.readiness import Readiness
from gateway.reload import Reloader, load_again
from gateway.sandbox_link import embedded_sandbox
from middleware.client_ip import make_client_ip
from middleware.errors import make_error_renderer
from middleware.front import Front, make_front
from middleware.observe import make_observer

log = logging.getLogger("gateway")
access = logging.getLogger("gateway.access")


def make_app(
    cfg: GatewayConfig,
    *,
    clock: Callable[[], float] = time.time,
    monotonic: Callable[[], float] = time.monotonic,
    registry: CollectorRegistry | None = None,
    wrap: Wrap | None = None,
) -> web.Application:
    """`wrap` sees every step of every Punchh route's plan (the bench's stage table)."""
    readiness = Readiness()
    builder = Builder(
        build_shared(cfg, registry or CollectorRegistry()), readiness, clock, monotonic, wrap
    )
    live = Live(builder.build(cfg))
    shared, first = builder.shared, live.now.first
    front = make_front(
        readiness=readiness,  # requests in flight; draining: Connection: close
        record=make_observer(shared.metrics, access),  # metrics and the JSON access log
        cors=live.cors,  # the gateway's own routes; each business its own
        render_error=make_error_renderer(log, shared.recent),  # GatewayError etc. → JSON
        client_ip=make_client_ip(cfg.server.trusted_proxies),  # true client IP
        select=live.select,  # Host or X-Loyalty-Business → the business: 404
        unmatched=Plan("unmatched", "*", read_body=False),
        in_flight=shared.metrics.track_in_flight(lambda: readiness.in_flight),
    )
    app = web.Application(client_max_size=cfg.server.max_body_bytes)
    _keep(app, shared)
    app[LIVE] = live
    app[RELOADER] = Reloader(live, builder, shared.metrics, load_again(cfg))
    app[READINESS] = readiness
    routes: dict[str, str] = {}  # the union of the businesses' routes (POS may differ)
    for p in live.now.businesses.values():
        routes.update((key, plan.method) for key, plan in p.plans.items() if key not in routes)
    for key, method in routes.items():
        app.router.add_route(method, key.partition(" ")[2], _routed(front, key))
    local = LocalHandlers(first.cfg, first.sessions, first.upstream, first.cache, readiness)
    # The routes no business owns are GETs with no body, no session, no Punchh call: no
    # stage applies to them (each would return the next step), so their plans hold none.
    for method, path, handler, needs in local.routes():
        if needs != "guest":  # /healthz, /readyz: no business needed
            plan = Plan(f"{method} {path}", method, access=needs, read_body=False)
            app.router.add_route(method, path, _serve(front, compile_plan(plan, (), handler)))
    if not cfg.admin.port:  # no admin port: /metrics and the status page live here

        def through_front(method: str, path: str, handler: Handler) -> Handler:
            async def terminal(ex: Exchange) -> web.StreamResponse:
                return await handler(ex.request)

            plan = Plan(f"{method} {path}", method, read_body=False)
            return _serve(front, compile_plan(plan, (), terminal))

        add_admin_routes(app, guarded=True, wrap=through_front)
    app.router.add_route("*", "/{tail:.*}", _routed(front, None))  # the rest: the router's step
    app.cleanup_ctx.append(_upstream_ctx)
    app.cleanup_ctx.append(_access_log_ctx)
    if cfg.admin.port:
        app.cleanup_ctx.append(admin_site)
    return app


def _serve(front: Front, plan: Plan) -> Handler:
    """A route of the gateway's own that no business owns (/healthz, /metrics...)."""

    async def serve(request: web.Request) -> web.StreamResponse:
        return await front(request, plan, None)

    return serve


def _routed(front: Front, key: str | None) -> Handler:
    """A business's route, by its key in every business's plans (None: the catch-all)."""

    async def serve(request: web.Request) -> web.StreamResponse:
        return await front(request, None, key)

    return serve


def _keep(app: web.Application, shared: Shared) -> None:
    """The app keys of what no reload replaces (gateway/keys.py); what a reload does is
    app[LIVE]'s current generation."""
    app[LIMITER] = shared.limiter
    app[METRICS] = shared.metrics
    app[RECENT_ERRORS] = shared.recent
    app[SESSION_COUNT] = [float("-inf")]


async def _upstream_ctx(app: web.Application) -> AsyncIterator[None]:
    """The upstream (the embedded sandbox when configured), one pooled client per
    business, the stores."""
    cfg = app[LIVE].now.cfg
    businesses = list(app[LIVE].now.businesses.values())
    async with embedded_sandbox(cfg) as sandbox_url:
        started: list[Parts] = []
        try:
            for p in businesses:
                await p.upstream.start(sandbox_url or p.cfg.punchh.base_url)
                started.append(p)
            app[UPSTREAM_URL] = businesses[0].upstream.base_url
            # Ready (/readyz 200); `gateway ready` is logged by serve (gateway/workers.py)
            # once the listener is bound, not here, before it (issue 20).
            app[READINESS].ready = True
            yield
        finally:
            app[READINESS].ready = False
            businesses = list(app[LIVE].now.businesses.values())  # a reload's, over the same
            for p in businesses:
                await p.refresher.close()  # its pending saves of refreshed tokens
            for p in started:
                await p.upstream.close()
            for p in businesses:
                await p.sessions.store.close()
                await p.cache.close()
                await p.rate_store.close()
                await p.idempotency.close()


async def _access_log_ctx(app: web.Application) -> AsyncIterator[None]:
    """The access log's flush beat (gateway/logs.py), and a last flush at shutdown."""
    beat = asyncio.ensure_future(flush_access_log_every())
    try:
        yield
    finally:
        beat.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await beat
        flush_access_log()
