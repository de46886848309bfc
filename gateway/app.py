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
from dataclasses import dataclass

from aiohttp import web
from aiohttp.typedefs import Handler
from prometheus_client import CollectorRegistry

from gateway.admin import add_admin_routes, admin_site
from gateway.cache.base import ResponseCache
from gateway.cache.factory import make_response_cache
from gateway.call import call_template
from gateway.config import GatewayConfig
from gateway.exchange import Exchange
from gateway.keys import (
    CACHE,
    CLOCK,
    CONFIG,
    IDEMPOTENCY,
    LIMITER,
    METRICS,
    PLANS,
    RATE_STORE,
    READINESS,
    RECENT_ERRORS,
    REFRESHER,
    ROUTE_TABLE,
    SESSION_COUNT,
    SESSIONS,
    UPSTREAM,
    UPSTREAM_URL,
)
from gateway.local import LocalHandlers
from gateway.logs import flush_access_log, flush_access_log_every
from gateway.metrics import Metrics
from gateway.plan import Plan, Stage, Wrap, compile_plan
from gateway.proxy import make_proxy_handler
from gateway.ratelimit.factory import make_rate_store
from gateway.ratelimit.guards import ConcurrencyLimiter, Holds
from gateway.ratelimit.store import RateStore
from gateway.readiness import Readiness
from gateway.recent import RecentErrors
from gateway.refresh import Refresher
from gateway.resilience.factory import make_idempotency_book
from gateway.resilience.idempotency import IdempotencyBook
from gateway.routes import RouteTable, build_route_table
from gateway.sandbox_link import embedded_sandbox
from gateway.sessions import SessionManager
from gateway.store.factory import make_session_store
from gateway.store.redis import RedisClients
from gateway.upstream import UpstreamClient
from middleware.body import make_body_stage
from middleware.cache import make_cache_stage
from middleware.client_ip import make_client_ip
from middleware.cors import make_cors
from middleware.csrf import make_csrf_stage
from middleware.errors import make_error_renderer
from middleware.front import Front, make_front
from middleware.idempotency import make_idempotency_stage
from middleware.observe import make_observer
from middleware.pos_auth import make_pos_auth_stage
from middleware.rate_limit import make_rate_limit_stage
from middleware.route import make_router
from middleware.session import make_session_stage

log = logging.getLogger("gateway")
access = logging.getLogger("gateway.access")


@dataclass(frozen=True)
class Parts:
    """Everything the pipeline and the handlers share, built once from the configuration."""

    table: RouteTable
    sessions: SessionManager
    upstream: UpstreamClient
    limiter: ConcurrencyLimiter | None
    refresher: Refresher
    rate_store: RateStore
    cache: ResponseCache
    metrics: Metrics
    recent: RecentErrors
    idempotency: IdempotencyBook


def build_parts(
    cfg: GatewayConfig,
    clock: Callable[[], float],
    registry: CollectorRegistry,
    monotonic: Callable[[], float] = time.monotonic,
) -> Parts:
    """`clock` is wall time (sessions, tokens, cache, budgets); `monotonic` times the calls
    to Punchh (deadlines, the circuit breakers, the retry budget). Tests move both."""
    redis = RedisClients(  # one client per Redis URL
        timeout=cfg.store.timeout, sentinel_password=cfg.store.sentinel_password.reveal() or None
    )
    sessions = SessionManager(
        make_session_store(cfg, clock=clock, redis=redis),
        secret=cfg.session.secret.encode(),
        previous_secrets=tuple(s.encode() for s in cfg.session.previous_secrets),
        ttl=cfg.session.ttl,
        idle_timeout=cfg.session.idle_timeout,
        clock=clock,
    )
    limits = cfg.rate_limit
    limiter = (
        ConcurrencyLimiter(
            limits.max_concurrent_upstream, queue=limits.queue, timeout=limits.queue_timeout
        )
        if limits.enabled
        else None
    )
    metrics = Metrics(registry)
    metrics.prime(p.name for p in cfg.rate_limit.policies if cfg.rate_limit.enabled)
    upstream = UpstreamClient(
        connect_timeout=cfg.punchh.connect_timeout,
        total_timeout=cfg.punchh.total_timeout,
        pool_size=cfg.punchh.pool_size,
        limiter=limiter,
        http_client=cfg.punchh.http_client,
        retry=cfg.resilience.retry,
        circuit=cfg.resilience.circuit,
        metrics=metrics,
        clock=monotonic,
    )
    return Parts(
        table=build_route_table(pos_enabled=cfg.pos.enabled),
        sessions=sessions,
        upstream=upstream,
        limiter=limiter,
        refresher=Refresher(sessions, upstream, cfg, clock=clock, metrics=metrics),
        rate_store=make_rate_store(cfg, clock=clock, redis=redis),
        cache=make_response_cache(cfg, clock=clock, redis=redis),
        metrics=metrics,
        recent=RecentErrors(),
        idempotency=make_idempotency_book(cfg, clock=clock, metrics=metrics, redis=redis),
    )


def make_stages(cfg: GatewayConfig, clock: Callable[[], float], p: Parts) -> list[Stage]:
    """The stages a route's plan may hold, outermost first; each binds only where it applies."""
    cookie, limits = cfg.session.cookie, cfg.rate_limit
    return [
        # cookie mode, unsafe methods, not POS: an allowed Origin or 403
        make_csrf_stage(cookie_mode=cookie.enabled, allowed_origins=cookie.allowed_origins),
        make_body_stage(cfg.server.max_body_bytes),  # read, parse once: 400 / 413 / 415
        make_pos_auth_stage(cfg.pos),  # POS routes: device key → location key: 401 / 403
        make_session_stage(  # guest routes: gateway token → Punchh tokens: 401 / 503
            p.sessions, cookie_name=cookie.name if cookie.enabled else None
        ),
        *(  # GCRA budgets per IP, session, OTP target, account; Punchh's pauses: 429 / 503
            [
                make_rate_limit_stage(
                    limits.policies, p.rate_store, holds=Holds(), clock=clock, metrics=p.metrics
                )
            ]
            if limits.enabled
            else []
        ),
        # guest and POS writes: Idempotency-Key, one run per key, the same answer again: 422
        make_idempotency_stage(p.idempotency, p.metrics),
        *(  # reads: per-guest look-up cache, single-flight; writes invalidate; sign-ins teach
            [make_cache_stage(p.cache, clock=clock, metrics=p.metrics)] if cfg.cache.enabled else []
        ),
    ]


def compile_plans(
    cfg: GatewayConfig, p: Parts, stages: list[Stage], wrap: Wrap | None = None
) -> dict[str, Plan]:
    """One plan per Punchh route of the allowlist, its handler bound to its call template."""
    plans: dict[str, Plan] = {}
    for route in p.table.routes:
        template = call_template(route, cfg)
        plan = Plan(
            route.name,
            route.method,
            route=route,
            access=route.access,
            templated="{" in route.path,
            call=template,
        )
        handler = make_proxy_handler(
            route,
            template,
            cookie=cfg.session.cookie,
            upstream=p.upstream,
            manager=p.sessions,
            refresher=p.refresher,
        )
        plans[route.name] = compile_plan(plan, stages, handler, wrap=wrap)
    return plans


def make_app(
    cfg: GatewayConfig,
    *,
    clock: Callable[[], float] = time.time,
    monotonic: Callable[[], float] = time.monotonic,
    registry: CollectorRegistry | None = None,
    wrap: Wrap | None = None,
) -> web.Application:
    """`wrap` sees every step of every Punchh route's plan (the bench's stage table)."""
    p = build_parts(cfg, clock, registry or CollectorRegistry(), monotonic)
    readiness = Readiness()
    stages = make_stages(cfg, clock, p)
    plans = compile_plans(cfg, p, stages, wrap)
    front = make_front(
        readiness=readiness,  # requests in flight; draining: Connection: close
        record=make_observer(p.metrics, access),  # metrics and the JSON access log
        cors=make_cors(cfg.session.cookie.allowed_origins),  # preflights; CORS headers
        render_error=make_error_renderer(log, p.recent),  # GatewayError etc. → one JSON shape
        client_ip=make_client_ip(cfg.server.trusted_proxies),  # true client IP
        resolve=make_router(p.table, plans),  # odd paths: normalise, allowlist: 400/404/405
        unmatched=Plan("unmatched", "*", read_body=False),
        in_flight=p.metrics.track_in_flight(lambda: readiness.in_flight),
    )
    app = web.Application(client_max_size=cfg.server.max_body_bytes)
    _keep(app, cfg, clock, p)
    app[READINESS] = readiness
    app[PLANS] = plans
    for plan in plans.values():
        assert plan.route is not None
        app.router.add_route(plan.method, plan.route.path, _serve(front, plan))
    local = LocalHandlers(cfg, p.sessions, p.upstream, p.cache, readiness)
    for method, path, handler, needs in local.routes():
        plan = Plan(f"{method} {path}", method, access=needs, read_body=needs == "guest")
        app.router.add_route(method, path, _serve(front, compile_plan(plan, stages, handler)))
    if not cfg.admin.port:  # no admin port: /metrics and the status page live here

        def through_front(method: str, path: str, handler: Handler) -> Handler:
            async def terminal(ex: Exchange) -> web.StreamResponse:
                return await handler(ex.request)

            plan = Plan(f"{method} {path}", method, read_body=False)
            return _serve(front, compile_plan(plan, stages, terminal))

        add_admin_routes(app, guarded=True, wrap=through_front)
    app.router.add_route("*", "/{tail:.*}", _serve(front, None))  # the rest: the router's step
    app.cleanup_ctx.append(_upstream_ctx)
    app.cleanup_ctx.append(_access_log_ctx)
    if cfg.admin.port:
        app.cleanup_ctx.append(admin_site)
    return app


def _serve(front: Front, plan: Plan | None) -> Handler:
    async def serve(request: web.Request) -> web.StreamResponse:
        return await front(request, plan)

    return serve


def _keep(app: web.Application, cfg: GatewayConfig, clock: Callable[[], float], p: Parts) -> None:
    app[CONFIG] = cfg
    app[CLOCK] = clock
    app[ROUTE_TABLE] = p.table
    app[SESSIONS] = p.sessions
    app[UPSTREAM] = p.upstream
    app[LIMITER] = p.limiter
    app[CACHE] = p.cache
    app[RATE_STORE] = p.rate_store
    app[METRICS] = p.metrics
    app[RECENT_ERRORS] = p.recent
    app[IDEMPOTENCY] = p.idempotency
    app[REFRESHER] = p.refresher
    app[SESSION_COUNT] = [float("-inf")]


async def _upstream_ctx(app: web.Application) -> AsyncIterator[None]:
    """The upstream (the embedded sandbox when configured), one pooled client, the stores."""
    cfg = app[CONFIG]
    async with embedded_sandbox(cfg) as sandbox_url:
        base_url = sandbox_url or cfg.punchh.base_url
        app[UPSTREAM_URL] = base_url
        await app[UPSTREAM].start(base_url)
        app[READINESS].ready = True
        log.info("gateway ready", extra={"upstream": base_url, "sandbox": bool(sandbox_url)})
        try:
            yield
        finally:
            app[READINESS].ready = False
            await app[REFRESHER].close()  # its pending saves of refreshed tokens
            await app[UPSTREAM].close()
            await app[SESSIONS].store.close()
            await app[CACHE].close()
            await app[RATE_STORE].close()
            await app[IDEMPOTENCY].close()


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
