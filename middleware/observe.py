"""Observation: Prometheus metrics and the JSON access log, one measurement of each request.

Sets the request's `Timing` (gateway/timing.py) that the upstream client adds its time
to, then records: requests by route template, method, status and source; total,
upstream and overhead durations; in-flight requests; upstream errors by kind; session
store errors. One access-log line per request: request id, route, method, status,
source, durations, cache result, rate-limit decision, client IP. Never a raw path, a
query, a body or a header value: those can hold tokens, emails and phone numbers.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware

from gateway.errors import CircuitOpen, UpstreamError, UpstreamRetryRefused, UpstreamTimeout
from gateway.keys import CLIENT_IP, ERROR, REQUEST_ID, ROUTE, SOURCE
from gateway.metrics import Metrics
from gateway.store.base import StoreUnavailable
from gateway.timing import Timing, current
from middleware.route import PROXY_ROUTE_NAME


def route_label(request: web.Request) -> str:
    """A Punchh route's template, a gateway route's path, or "unmatched": never a raw path."""
    if ROUTE in request:
        return request[ROUTE].route.name
    resource = request.match_info.route.resource
    if request.match_info.route.name != PROXY_ROUTE_NAME and resource is not None:
        return f"{request.method} {resource.canonical}"
    return "unmatched"


def make_observe_middleware(
    metrics: Metrics, logger: logging.Logger, *, clock: Callable[[], float] = time.perf_counter
) -> Middleware:
    def record(request: web.Request, status: int, elapsed: float, timing: Timing) -> None:
        route, source = route_label(request), request.get(SOURCE, "gateway")
        metrics.requests.labels(route, request.method, str(status), source).inc()
        metrics.duration.labels(route).observe(elapsed)
        overhead = max(0.0, elapsed - timing.upstream_seconds)
        metrics.overhead.labels(route).observe(overhead)
        if timing.upstream_calls:
            metrics.upstream_duration.labels(route).observe(timing.upstream_seconds)
        error = request.get(ERROR)
        if isinstance(error, UpstreamTimeout):
            metrics.upstream_errors.labels(route, "timeout").inc()
        elif isinstance(error, (UpstreamError, CircuitOpen, UpstreamRetryRefused)):
            metrics.upstream_errors.labels(route, error.kind).inc()
        elif isinstance(error, StoreUnavailable):
            metrics.store_error("sessions")
        logger.info(
            "request",
            extra={
                "request_id": request.get(REQUEST_ID, ""),
                "method": request.method,
                "route": route,
                "status": status,
                "source": source,
                "duration_ms": round(elapsed * 1000, 3),
                "upstream_ms": round(timing.upstream_seconds * 1000, 3),
                "overhead_ms": round(overhead * 1000, 3),
                "cache": timing.notes.get("cache", "-"),
                "rate_limit": timing.notes.get("rate_limit", "-"),
                "client_ip": request.get(CLIENT_IP, ""),
            },
        )

    @web.middleware
    async def observe(request: web.Request, handler: Handler) -> web.StreamResponse:
        timing = Timing()
        token = current.set(timing)
        metrics.in_flight.inc()
        started, status = clock(), 500
        try:
            response = await handler(request)
            status = response.status
            return response
        finally:
            elapsed = clock() - started
            metrics.in_flight.dec()
            current.reset(token)
            record(request, status, elapsed, timing)

    return observe
