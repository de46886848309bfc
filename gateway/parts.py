"""One business's parts (its sessions, Punchh client, stores, compiled plans) and what the
businesses share, built from the configuration at start and again at each live reload
(gateway/live.py): a reload's parts reuse the stores, the Punchh connections and the
refresher of the parts they replace, so no session, budget or cached answer is lost.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property

from prometheus_client import CollectorRegistry

from gateway.cache.base import ResponseCache
from gateway.cache.factory import make_response_cache
from gateway.call import call_template
from gateway.config import DEFAULT_BUSINESS, GatewayConfig
from gateway.metrics import Metrics
from gateway.plan import Plan, Stage, Wrap, compile_plan
from gateway.proxy import make_proxy_handler
from gateway.ratelimit.factory import make_rate_store
from gateway.ratelimit.guards import ConcurrencyLimiter, Holds
from gateway.ratelimit.store import RateStore
from gateway.recent import RecentErrors
from gateway.refresh import Refresher
from gateway.resilience.factory import make_idempotency_book
from gateway.resilience.idempotency import IdempotencyBook
from gateway.routes import RouteTable, build_route_table
from gateway.sessions import SessionManager
from gateway.store.base import SessionStore
from gateway.store.factory import make_session_store
from gateway.store.redis import RedisClients
from gateway.upstream import UpstreamClient
from middleware.body import make_body_stage
from middleware.cache import make_cache_stage
from middleware.cors import Cors, make_cors
from middleware.csrf import make_csrf_stage
from middleware.idempotency import make_idempotency_stage
from middleware.pos_auth import make_pos_auth_stage
from middleware.rate_limit import make_rate_limit_stage
from middleware.route import Resolve, make_router
from middleware.session import make_session_stage


@dataclass(frozen=True)
class Shared:
    """What every business shares: one process's metrics, error list, upstream concurrency
    cap and Redis connections."""

    metrics: Metrics
    recent: RecentErrors
    limiter: ConcurrencyLimiter | None
    redis: RedisClients


@dataclass(frozen=True)
class _Stores:
    """A business's stores: its sessions, rate-limit buckets, cached answers and
    idempotency keys (under its own key prefix, or memory of its own)."""

    sessions: SessionStore
    rate: RateStore
    cache: ResponseCache
    idempotency: IdempotencyBook

    @classmethod
    def made(cls, cfg: GatewayConfig, clock: Callable[[], float], s: Shared) -> _Stores:
        redis = s.redis
        return cls(
            sessions=make_session_store(cfg, clock=clock, redis=redis),
            rate=make_rate_store(cfg, clock=clock, redis=redis),
            cache=make_response_cache(cfg, clock=clock, redis=redis),
            idempotency=make_idempotency_book(cfg, clock=clock, metrics=s.metrics, redis=redis),
        )


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
    stores: _Stores  # made once, kept by every reload's parts
    metrics: Metrics
    recent: RecentErrors
    holds: Holds  # Punchh's pauses (Retry-After) by route: kept across reloads
    cache_used: bool  # the cache was on at some time in this process: it holds answers
    plans: dict[str, Plan] = field(default_factory=dict)  # route name → its compiled plan

    @property
    def rate_store(self) -> RateStore:
        return self.stores.rate

    @property
    def cache(self) -> ResponseCache:
        return self.stores.cache

    @property
    def idempotency(self) -> IdempotencyBook:
        return self.stores.idempotency

    def activate(self) -> None:
        """Once swapped in by a reload (gateway/live.py): what these parts share with the
        ones they replace takes their settings (the refresher), and the circuit gauge says
        their breakers' states. Until then a refused or failed reload has changed nothing."""
        self.refresher.reconfigure(self.sessions, self.upstream, self.cfg)
        self.upstream.announce()

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
    previous: Parts | None = None,
    retired: tuple[bytes, ...] = (),
) -> Parts:
    """One business's parts from its configuration (a single-business `cfg` as loaded is
    the `default` business's). `clock` is wall time (sessions, tokens, cache, budgets);
    `monotonic` times the calls to Punchh (deadlines, the circuit breakers, the retry
    budget). Tests move both. `previous`: the parts a live reload replaces, whose stores,
    connections, refresher and pauses these keep; `retired`: session secrets a reload
    replaced, still accepted (gateway/live.py)."""
    s = shared or build_shared(cfg, registry)
    stores = previous.stores if previous else _Stores.made(cfg, clock, s)
    sessions = SessionManager(
        stores.sessions,
        secret=cfg.session.secret.encode(),
        previous_secrets=(*retired, *(x.encode() for x in cfg.session.previous_secrets)),
        ttl=cfg.session.ttl,
        idle_timeout=cfg.session.idle_timeout,
        clock=clock,
        business=name,
    )
    # At zero once: a reload's priming must not say a breaker it keeps open is closed.
    s.metrics.prime(
        (p.name for p in cfg.rate_limit.policies if cfg.rate_limit.enabled),
        name,
        circuits=previous is None,
    )
    upstream = _upstream(cfg, s, name, monotonic, previous)
    return Parts(
        name=name,
        cfg=cfg,
        table=build_route_table(pos_enabled=cfg.pos.enabled, cache_ttls=cfg.cache.ttls),
        sessions=sessions,
        upstream=upstream,
        limiter=s.limiter,
        # A reload's parts keep the refresher (its refreshes in flight, its unsaved
        # tokens), reconfigured once they are swapped in (`Parts.activate`), not before.
        refresher=previous.refresher
        if previous
        else Refresher(sessions, upstream, cfg, clock=clock, metrics=s.metrics),
        stores=stores,
        metrics=s.metrics,
        recent=s.recent,
        holds=previous.holds if previous else Holds(),
        cache_used=cfg.cache.enabled or (previous is not None and previous.cache_used),
    )


def _upstream(
    cfg: GatewayConfig,
    s: Shared,
    name: str,
    monotonic: Callable[[], float],
    previous: Parts | None,
) -> UpstreamClient:
    """The business's Punchh client; after a reload, the previous one's connections with
    the new timeouts, retry and circuit settings."""
    if previous is not None:
        return previous.upstream.reconfigured(
            connect_timeout=cfg.punchh.connect_timeout,
            total_timeout=cfg.punchh.total_timeout,
            retry=cfg.resilience.retry,
            circuit=cfg.resilience.circuit,
        )
    return UpstreamClient(
        connect_timeout=cfg.punchh.connect_timeout,
        total_timeout=cfg.punchh.total_timeout,
        pool_size=cfg.punchh.pool_size,
        limiter=s.limiter,
        http_client=cfg.punchh.http_client,
        retry=cfg.resilience.retry,
        circuit=cfg.resilience.circuit,
        metrics=s.metrics,
        business=name,
        clock=monotonic,
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
                    holds=p.holds,
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
            # (turned off by a reload: no reads, the rest still, for when it is on again)
            [make_cache_stage(p.cache, clock=clock, metrics=p.metrics, reads=cfg.cache.enabled)]
            if p.cache_used
            else []
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
