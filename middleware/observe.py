"""Observation: Prometheus metrics and the JSON access log, one measurement of each request.

Records, from the exchange: requests by route template, method, status and source;
total, upstream and overhead durations (through the plan's bound metric children);
upstream errors by kind; session store errors. One access-log line per request, built
only when the `gateway.access` logger is on at INFO: request id, route, method, status,
source, business, durations, cache result, rate-limit decision, client IP, and the trace
id while tracing is on (gateway/tracing.py). Never a raw path, a
query, a body or a header value: those can hold tokens, emails and phone numbers.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from gateway.errors import (
    CircuitOpen,
    StoreUnavailable,
    UpstreamError,
    UpstreamRetryRefused,
    UpstreamTimeout,
)
from gateway.exchange import Exchange
from gateway.metrics import Metrics

Record = Callable[[Exchange, int, float], None]


def make_observer(metrics: Metrics, logger: logging.Logger) -> Record:
    def errors(ex: Exchange, error: Exception) -> None:
        label, business = ex.plan.label, ex.plan.business
        if isinstance(error, UpstreamTimeout):
            metrics.upstream_errors.labels(label, "timeout", business).inc()
        elif isinstance(error, (UpstreamError, CircuitOpen, UpstreamRetryRefused)):
            metrics.upstream_errors.labels(label, error.kind, business).inc()
        elif isinstance(error, StoreUnavailable):
            metrics.store_error("sessions")

    def access(ex: Exchange, status: int, elapsed: float, overhead: float) -> None:
        fields = {
            "request_id": ex.request_id,
            "method": ex.request.method,
            "route": ex.plan.label,
            "business": ex.plan.business or "-",
            "status": status,
            "source": ex.source,
            "duration_ms": round(elapsed * 1000, 3),
            "upstream_ms": round(ex.upstream_seconds * 1000, 3),
            "overhead_ms": round(overhead * 1000, 3),
            "cache": ex.cache_note,
            "rate_limit": ex.limit_note,
            "client_ip": ex.client_ip,
        }
        if ex.trace is not None:  # tracing on: from a guest's report to the trace
            fields["trace_id"] = ex.trace.trace_id
        logger.info("request", extra=fields)

    def record(ex: Exchange, status: int, elapsed: float) -> None:
        plan = ex.plan
        plan.count(metrics, status, ex.source)
        duration, overhead_h, upstream_h = plan.timers(metrics)
        duration.observe(elapsed)
        overhead = max(0.0, elapsed - ex.upstream_seconds)
        overhead_h.observe(overhead)
        if ex.upstream_calls:
            upstream_h.observe(ex.upstream_seconds)
        if ex.error is not None:
            errors(ex, ex.error)
        if logger.isEnabledFor(logging.INFO):
            access(ex, status, elapsed, overhead)

    return record
