"""Typed state keys, all in one place: what the app holds, and what each stage sets on a request."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from aiohttp import web

from gateway.body import ParsedBody
from gateway.cache.base import ResponseCache
from gateway.cache.policy import CacheStats
from gateway.config import GatewayConfig, PosDevice
from gateway.ratelimit.stats import RateLimitStats
from gateway.ratelimit.store import RateStore
from gateway.routes import RouteMatch, RouteTable
from gateway.sessions import Resolved, SessionManager
from gateway.upstream import UpstreamClient


@dataclass
class Readiness:
    """Flipped by the app's lifecycle: ready once the upstream client is up, not while draining."""

    ready: bool = False


# App state
CONFIG = web.AppKey("config", GatewayConfig)
CLOCK: web.AppKey[Callable[[], float]] = web.AppKey("clock")
ROUTE_TABLE = web.AppKey("route_table", RouteTable)
SESSIONS = web.AppKey("sessions", SessionManager)
UPSTREAM = web.AppKey("upstream", UpstreamClient)
READINESS = web.AppKey("readiness", Readiness)
CACHE = web.AppKey("cache", ResponseCache)
CACHE_STATS = web.AppKey("cache_stats", CacheStats)
RATE_STORE = web.AppKey("rate_store", RateStore)
RATE_STATS = web.AppKey("rate_stats", RateLimitStats)
UPSTREAM_URL = web.AppKey("upstream_url", str)

# Request state, in the order the stages set it
REQUEST_ID = web.RequestKey("request_id", str)
CLIENT_IP = web.RequestKey("client_ip", str)
ROUTE = web.RequestKey("route", RouteMatch)
BODY = web.RequestKey("body", ParsedBody)
POS_DEVICE = web.RequestKey("pos_device", PosDevice)
SESSION = web.RequestKey("session", Resolved)
