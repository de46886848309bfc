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
from dataclasses import dataclass, field
from functools import cached_property

from aiohttp import web
from aiohttp.typedefs import Handler
from prometheus_client import CollectorRegistry

from gateway.admin import add_admin_routes, admin_site
from gateway.cache.base import ResponseCache
from gateway.cache.factory import make_response_cache
from gateway.call import call_template
from gateway.config import DEFAULT_BUSINESS, GatewayConfig
from gateway.exchange import Exchange
from gateway.keys import (
    BUSINESSES,
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
from middleware.cors import Cors, make_cors
from middleware.csrf import make_csrf_stage
from middleware.errors import make_error_renderer
from middleware.front import Front, make_front
from middleware.idempotency import make_idempotency_stage
from middleware.observe import make_observer
from middleware.pos_auth import make_pos_auth_stage
from middleware.rate_limit import make_rate_limit_stage
from middleware.route import Resolve, make_router
from middleware.select import make_selector
from middleware.session import make_session_stage

log = logging.getLogger("gateway")
access = logging.getLogger("gateway.access")


@dataclass(frozen=True)
class Shared:
    """What every business shares: one process's metrics, error list, upstream concurrency
    cap and Redis connections."""

    metrics: Metrics
    recent: RecentErrors
    limiter: ConcurrencyLimiter | None
    redis: RedisClients


@dataclass(frozen=True)
class Parts:
    """One business's own parts, built once from its configuration (`cfg`: the business's
    effective one): its sessions, Punchh client, stores (keys under its own prefix, or
    memory of its own) and compiled plans. Nothing here is another business's."""

    name: str
    cfg: GatewayConfig
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
    plans: dict[str, Plan] = field(default_factory=dict)  # route name → its compiled plan

    @cached_property
    def cors(self) -> Cors | None:
        """CORS with this business's own allowed origins (None: none configured)."""
        return make_cors(self.cfg.session.cookie.allowed_origins)

    @cached_property
    def unmatched(self) -> Plan:
        """What this business's requests on no route are counted as (404, 405, 400)."""
        return Plan("unmatched", "*", read_body=False, business=self.name)

    @cached_property
    def resolve(self) -> Resolve:
        """An odd path normalised and matched against this business's table."""
        return make_router(self.table, self.plans)


def build_shared(cfg: GatewayConfig, registry: CollectorRegistry) -> Shared:
    limits = cfg.rate_limit
    return Shared(
        metrics=Metrics(registry),
        recent=RecentErrors(),
        limiter=ConcurrencyLimiter(
            limits.max_concurrent_upstream, queue=limits.queue, timeout=limits.queue_timeout
        )
        if limits.enabled
        else None,
        redis=RedisClients(  # one client per Redis URL
            timeout=cfg.store.timeout,
            sentinel_password=cfg.store.sentinel_password.reveal() or None,
        ),
    )


def build_parts(
    cfg: GatewayConfig,
    clock: Callable[[], float],
    registry: CollectorRegistry,
    monotonic: Callable[[], float] = time.monotonic,
    *,
    shared: Shared | None = None,
    name: str = DEFAULT_BUSINESS,
) -> Parts:
    """One business's parts from its configuration (a single-business `cfg` as loaded is
    the `default` business's). `clock` is wall time (sessions, tokens, cache, budgets);
    `monotonic` times the calls to Punchh (deadlines, the circuit breakers, the retry
    budget). Tests move both."""
    s = shared or build_shared(cfg, registry)
    redis, metrics = s.redis, s.metrics
    sessions = SessionManager(
        make_session_store(cfg, clock=clock, redis=redis),
        secret=cfg.session.secret.encode(),
        previous_secrets=tuple(x.encode() for x in cfg.session.previous_secrets),
        ttl=cfg.session.ttl,
        idle_timeout=cfg.session.idle_timeout,
        clock=clock,
        business=name,
    )
    metrics.prime((p.name for p in cfg.rate_limit.policies if cfg.rate_limit.enabled), name)
    upstream = UpstreamClient(
        connect_timeout=cfg.punchh.connect_timeout,
        total_timeout=cfg.punchh.total_timeout,
        pool_size=cfg.punchh.pool_size,
        limiter=s.limiter,
        http_client=cfg.punchh.http_client,
        retry=cfg.resilience.retry,
        circuit=cfg.resilience.circuit,
        metrics=metrics,
        business=name,
        clock=monotonic,
    )
    return Parts(
        name=name,
        cfg=cfg,
        table=build_route_table(pos_enabled=cfg.pos.enabled),
        sessions=sessions,
        upstream=upstream,
        limiter=s.limiter,
        refresher=Refresher(sessions, upstream, cfg, clock=clock, metrics=metrics),
        rate_store=make_rate_store(cfg, clock=clock, redis=redis),
        cache=make_response_cache(cfg, clock=clock, redis=redis),
        metrics=metrics,
        recent=s.recent,
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
                    limits.policies,
                    p.rate_store,
                    holds=Holds(),
                    clock=clock,
                    metrics=p.metrics,
                    business=p.name,
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
            business=p.name,
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


def _business_parts(
    cfg: GatewayConfig,
    clock: Callable[[], float],
    monotonic: Callable[[], float],
    registry: CollectorRegistry,
    wrap: Wrap | None,
    readiness: Readiness,
) -> tuple[Shared, list[Parts]]:
    """Every business's parts and plans, its own routes' plans among them."""
    shared = build_shared(cfg, registry)
    out: list[Parts] = []
    for business in cfg.businesses:
        own = business.config
        p = build_parts(own, clock, registry, monotonic, shared=shared, name=business.name)
        stages = make_stages(own, clock, p)
        p.plans.update(compile_plans(own, p, stages, wrap))
        local = LocalHandlers(own, p.sessions, p.upstream, p.cache, readiness)
        for method, path, handler, needs in local.routes():
            if needs == "guest":  # a business's own: /gateway/logout, /gateway/logout/all
                label = f"{method} {path}"
                plan = Plan(label, method, access=needs, business=business.name)
                p.plans[label] = compile_plan(plan, stages, handler)
        out.append(p)
    return shared, out


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
    shared, businesses = _business_parts(
        cfg, clock, monotonic, registry or CollectorRegistry(), wrap, readiness
    )
    first = businesses[0]
    front = make_front(
        readiness=readiness,  # requests in flight; draining: Connection: close
        record=make_observer(shared.metrics, access),  # metrics and the JSON access log
        cors=make_cors(_origins(businesses)),  # the gateway's own routes; each business its own
        render_error=make_error_renderer(log, shared.recent),  # GatewayError etc. → JSON
        client_ip=make_client_ip(cfg.server.trusted_proxies),  # true client IP
        select=make_selector(  # Host or X-Loyalty-Business → the business: 404
            [(b.name, b.hosts, p) for b, p in zip(cfg.businesses, businesses, strict=True)],
            trusted=cfg.server.trusted_proxies,
        ),
        unmatched=Plan("unmatched", "*", read_body=False),
        in_flight=shared.metrics.track_in_flight(lambda: readiness.in_flight),
    )
    app = web.Application(client_max_size=cfg.server.max_body_bytes)
    _keep(app, cfg, clock, first, businesses)
    app[READINESS] = readiness
    routes: dict[str, str] = {}  # the union of the businesses' routes (POS may differ)
    for p in businesses:
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


def _origins(businesses: list[Parts]) -> tuple[str, ...]:
    """Every business's allowed origins: CORS on the gateway's own routes (/healthz...),
    which hold no guest's data; a business's routes answer its own origins only."""
    return tuple(dict.fromkeys(o for p in businesses for o in p.cfg.session.cookie.allowed_origins))


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


def _keep(
    app: web.Application,
    cfg: GatewayConfig,
    clock: Callable[[], float],
    p: Parts,
    businesses: list[Parts],
) -> None:
    """The app keys; the single-business ones name the first business (`default`)."""
    app[CONFIG] = cfg
    app[CLOCK] = clock
    app[BUSINESSES] = {b.name: b for b in businesses}
    app[ROUTE_TABLE] = p.table
    app[PLANS] = p.plans
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
    """The upstream (the embedded sandbox when configured), one pooled client per
    business, the stores."""
    cfg = app[CONFIG]
    businesses = list(app[BUSINESSES].values())
    async with embedded_sandbox(cfg) as sandbox_url:
        started: list[Parts] = []
        try:
            for p in businesses:
                await p.upstream.start(sandbox_url or p.cfg.punchh.base_url)
                started.append(p)
            app[UPSTREAM_URL] = businesses[0].upstream.base_url
            app[READINESS].ready = True
            log.info(
                "gateway ready",
                extra={
                    "upstream": app[UPSTREAM_URL],
                    "sandbox": bool(sandbox_url),
                    "businesses": [p.name for p in businesses],
                },
            )
            yield
        finally:
            app[READINESS].ready = False
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
