"""Typed app state keys, all in one place. Per-request state is not kept on the request:
it lives in the exchange (gateway/exchange.py)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web

from gateway.metrics import Metrics
from gateway.ratelimit.guards import ConcurrencyLimiter
from gateway.readiness import Readiness
from gateway.recent import RecentErrors

if TYPE_CHECKING:
    from gateway.live import Live
    from gateway.reload import Reloader

__all__ = ["Readiness"]

READINESS = web.AppKey("readiness", Readiness)
METRICS = web.AppKey("metrics", Metrics)
LIMITER: web.AppKey[ConcurrencyLimiter | None] = web.AppKey("limiter")
SESSION_COUNT = web.AppKey("session_count", list[float])  # [when last counted]
RECENT_ERRORS = web.AppKey("recent_errors", RecentErrors)
UPSTREAM_URL = web.AppKey("upstream_url", str)
# What a live reload replaces: the configuration and every business's parts and plans
# (gateway/live.py); app[LIVE].now is the generation new requests are served on.
LIVE: web.AppKey[Live] = web.AppKey("live")
RELOADER: web.AppKey[Reloader] = web.AppKey("reloader")
