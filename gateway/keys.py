"""Typed app state keys, all in one place. Per-request state is not kept on the request:
it lives in the exchange (gateway/exchange.py)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from aiohttp import web

from gateway.cache.base import ResponseCache
from gateway.config import GatewayConfig
from gateway.metrics import Metrics
from gateway.plan import Plan
from gateway.ratelimit.guards import ConcurrencyLimiter
from gateway.ratelimit.store import RateStore
from gateway.readiness import Readiness
from gateway.recent import RecentErrors
from gateway.refresh import Refresher
from gateway.resilience.idempotency import IdempotencyBook
from gateway.routes import RouteTable
from gateway.sessions import SessionManager
from gateway.upstream import UpstreamClient

if TYPE_CHECKING:
    from gateway.app import Parts

__all__ = ["Readiness"]

CONFIG = web.AppKey("config", GatewayConfig)
CLOCK: web.AppKey[Callable[[], float]] = web.AppKey("clock")
ROUTE_TABLE = web.AppKey("route_table", RouteTable)
PLANS = web.AppKey("plans", dict[str, Plan])  # route name → its compiled plan
SESSIONS = web.AppKey("sessions", SessionManager)
UPSTREAM = web.AppKey("upstream", UpstreamClient)
READINESS = web.AppKey("readiness", Readiness)
CACHE = web.AppKey("cache", ResponseCache)
RATE_STORE = web.AppKey("rate_store", RateStore)
METRICS = web.AppKey("metrics", Metrics)
LIMITER: web.AppKey[ConcurrencyLimiter | None] = web.AppKey("limiter")
SESSION_COUNT = web.AppKey("session_count", list[float])  # [when last counted]
RECENT_ERRORS = web.AppKey("recent_errors", RecentErrors)
UPSTREAM_URL = web.AppKey("upstream_url", str)
IDEMPOTENCY: web.AppKey[IdempotencyBook] = web.AppKey("idempotency")
REFRESHER: web.AppKey[Refresher] = web.AppKey("refresher")
# Every business's parts by name (gateway/app.py); the single keys above name the first's.
BUSINESSES: web.AppKey[dict[str, Parts]] = web.AppKey("businesses")
