"""Typed state keys, all in one place: what the app holds, and what each stage sets on a request."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from aiohttp import web

from gateway.body import ParsedBody
from gateway.cache.base import ResponseCache
from gateway.config import GatewayConfig, PosDevice
from gateway.errors import GatewayError
from gateway.metrics import Metrics
from gateway.ratelimit.guards import ConcurrencyLimiter
from gateway.ratelimit.store import RateStore
from gateway.recent import RecentErrors
from gateway.resilience.idempotency import IdempotencyBook
from gateway.routes import RouteMatch, RouteTable
from gateway.sessions import Resolved, SessionManager
from gateway.upstream import UpstreamClient


@dataclass
class Readiness:
    """Flipped by the app's lifecycle: ready once the upstream client is up; draining from
    SIGTERM on (/readyz 503, answers close their connections)."""

    ready: bool = False
    draining: bool = False
    in_flight: int = 0  # requests being handled (counted by the outermost stage)


# App state
CONFIG = web.AppKey("config", GatewayConfig)
CLOCK: web.AppKey[Callable[[], float]] = web.AppKey("clock")
ROUTE_TABLE = web.AppKey("route_table", RouteTable)
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

# Request state, in the order the stages set it
REQUEST_ID = web.RequestKey("request_id", str)
CLIENT_IP = web.RequestKey("client_ip", str)
ROUTE = web.RequestKey("route", RouteMatch)
BODY = web.RequestKey("body", ParsedBody)
POS_DEVICE = web.RequestKey("pos_device", PosDevice)
SESSION = web.RequestKey("session", Resolved)
SOURCE = web.RequestKey("source", str)  # "upstream" when the answer is Punchh's
ERROR = web.RequestKey("error", GatewayError)  # the error the gateway answered with
