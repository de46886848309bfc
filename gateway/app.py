"""Builds the gateway: the middleware pipeline, the routes, and the resources' lifecycle.

The pipeline in `make_app` is the whole request path, outermost first.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

from aiohttp import web
from prometheus_client import CollectorRegistry

from gateway.admin import add_admin_routes, admin_site
from gateway.cache.base import ResponseCache
from gateway.cache.factory import make_response_cache
from gateway.config import GatewayConfig
from gateway.keys import (
    CACHE,
    CLOCK,
    CONFIG,
    IDEMPOTENCY,
    LIMITER,
    METRICS,
    RATE_STORE,
    READINESS,
    RECENT_ERRORS,
    ROUTE_TABLE,
    SESSION_COUNT,
    SESSIONS,
    UPSTREAM,
    UPSTREAM_URL,
    Readiness,
)
from gateway.local import add_local_routes
from gateway.metrics import Metrics
from gateway.proxy import make_proxy_handler
from gateway.ratelimit.factory import make_rate_store
from gateway.ratelimit.guards import ConcurrencyLimiter, Holds
from gateway.ratelimit.store import RateStore
from gateway.recent import RecentErrors
from gateway.refresh import Refresher
from gateway.resilience.factory import make_idempotency_book
from gateway.resilience.idempotency import IdempotencyBook
from gateway.routes import RouteTable, build_route_table
from gateway.sandbox_link import embedded_sandbox
from gateway.sessions import SessionManager
from gateway.store.factory import make_session_store
from gateway.upstream import UpstreamClient
from middleware.body import make_body_middleware
from middleware.cache import make_cache_middleware
from middleware.client_ip import make_client_ip_middleware
from middleware.cors import make_cors_middleware
from middleware.csrf import make_csrf_middleware
from middleware.errors import make_error_middleware
from middleware.idempotency import make_idempotency_middleware
from middleware.observe import make_observe_middleware
from middleware.pos_auth import make_pos_auth_middleware
from middleware.rate_limit import make_rate_limit_middleware
from middleware.request_id import make_request_id_middleware
from middleware.route import PROXY_ROUTE_NAME, make_route_middleware
from middleware.session import make_session_middleware

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
    cfg: GatewayConfig, clock: Callable[[], float], registry: CollectorRegistry
) -> Parts:
    sessions = SessionManager(
        make_session_store(cfg, clock=clock),
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
    )
    return Parts(
        table=build_route_table(pos_enabled=cfg.pos.enabled),
        sessions=sessions,
        upstream=upstream,
        limiter=limiter,
        refresher=Refresher(sessions, upstream, cfg, clock=clock, metrics=metrics),
        rate_store=make_rate_store(cfg, clock=clock),
        cache=make_response_cache(cfg, clock=clock),
        metrics=metrics,
        recent=RecentErrors(),
        idempotency=make_idempotency_book(cfg, clock=clock, metrics=metrics),
    )


def make_app(
    cfg: GatewayConfig,
    *,
    clock: Callable[[], float] = time.time,
    registry: CollectorRegistry | None = None,
) -> web.Application:
    p = build_parts(cfg, clock, registry or CollectorRegistry())
    cookie, limits = cfg.session.cookie, cfg.rate_limit
    readiness = Readiness()
    app = web.Application(
        middlewares=[
            make_request_id_middleware(readiness),  # X-Request-ID; draining: Connection: close
            make_observe_middleware(p.metrics, access),  # metrics and the JSON access log
            make_cors_middleware(cookie.allowed_origins),  # preflights; CORS headers, errors too
            make_error_middleware(log, p.recent),  # GatewayError, the unexpected → one JSON shape
            make_client_ip_middleware(cfg.server.trusted_proxies),  # true client IP
            make_route_middleware(p.table),  # normalise path, allowlist: 400 / 404 / 405
            make_csrf_middleware(  # cookie mode: unsafe methods need an allowed Origin: 403
                cookie_mode=cookie.enabled, allowed_origins=cookie.allowed_origins
            ),
            make_body_middleware(cfg.server.max_body_bytes),  # read, parse once: 400 / 413 / 415
            make_pos_auth_middleware(cfg.pos),  # POS device key → location key: 401 / 403
            make_session_middleware(  # gateway token → Punchh tokens: 401 / 503
                p.sessions, cookie_name=cookie.name if cookie.enabled else None
            ),
            *(  # GCRA budgets per IP, session, OTP target, account; Punchh's pauses: 429 / 503
                [
                    make_rate_limit_middleware(
                        limits.policies, p.rate_store, holds=Holds(), clock=clock, metrics=p.metrics
                    )
                ]
                if limits.enabled
                else []
            ),
            # Idempotency-Key on writes: one run per key, the same answer to repeats: 422
            make_idempotency_middleware(p.idempotency, p.metrics),
            *(  # per-guest look-up cache, single-flight; writes invalidate
                [make_cache_middleware(p.cache, clock=clock, metrics=p.metrics)]
                if cfg.cache.enabled
                else []
            ),
        ],
        client_max_size=cfg.server.max_body_bytes,
    )
    _keep(app, cfg, clock, p)
    app[READINESS] = readiness
    add_local_routes(app)
    if not cfg.admin.port:  # no admin port: /metrics and the status page live here
        add_admin_routes(app, guarded=True)
    app.router.add_route(
        "*",
        "/{tail:.*}",
        make_proxy_handler(cfg, p.upstream, p.sessions, p.refresher),
        name=PROXY_ROUTE_NAME,
    )
    app.cleanup_ctx.append(_upstream_ctx)
    if cfg.admin.port:
        app.cleanup_ctx.append(admin_site)
    return app


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
            await app[UPSTREAM].close()
            await app[SESSIONS].store.close()
            await app[CACHE].close()
            await app[RATE_STORE].close()
            await app[IDEMPOTENCY].close()
