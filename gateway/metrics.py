"""Prometheus metrics, as one object over an injected `CollectorRegistry`.

Labels are route templates ("GET /api/auth/users"), methods, status codes, sources
(`gateway` for answers the gateway made itself, `upstream` for Punchh's), error kinds,
policy names and, on the request, upstream and rate-limit metrics, the business (a
configured name; empty for the gateway's own routes and requests no business claims):
never raw paths, host names, user ids or tokens. Unmatched paths share the label
"unmatched". With several worker processes (PROMETHEUS_MULTIPROC_DIR set), values are
written to shared files and aggregated at scrape time (`render`).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client.multiprocess import MultiProcessCollector

# Fine enough to see sub-millisecond gateway overhead, wide enough for a slow Punchh.
LATENCY_BUCKETS = (
    0.0001,
    0.00025,
    0.0005,
    0.00075,
    0.001,
    0.0025,
    0.005,
    0.0075,
    0.01,
    0.025,
    0.05,
    0.075,
    0.1,
    0.25,
    0.5,
    0.75,
    1.0,
    2.5,
    5.0,
    10.0,
    30.0,
)
PREFIX = "loyalty_gateway"
FAMILIES = ("auth", "oauth", "mobile", "password_less", "pos")
RELOAD_RESULTS = ("ok", "invalid", "restart_required", "error")


class Metrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry
        r = registry
        self.requests = Counter(
            f"{PREFIX}_requests",
            "Requests answered, by route, method, status and source (gateway or upstream).",
            ["route", "method", "status", "source", "business"],
            registry=r,
        )
        self.duration = Histogram(
            f"{PREFIX}_request_duration_seconds",
            "Whole request time at the gateway.",
            ["route", "business"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.upstream_duration = Histogram(
            f"{PREFIX}_upstream_duration_seconds",
            "Time spent waiting for Punchh, per request.",
            ["route", "business"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.overhead = Histogram(
            f"{PREFIX}_overhead_seconds",
            "Request time not spent waiting for Punchh.",
            ["route", "business"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.in_flight = Gauge(
            f"{PREFIX}_in_flight_requests",
            "Requests being handled.",
            registry=r,
            multiprocess_mode="livesum",
        )
        self.upstream_errors = Counter(
            f"{PREFIX}_upstream_errors",
            "Calls to Punchh that failed, by kind (timeout, connect, reset, protocol, refresh).",
            ["route", "kind", "business"],
            registry=r,
        )
        self.cache = Counter(
            f"{PREFIX}_cache_requests",
            "Cached-route reads by result (hit, miss, bypass).",
            ["route", "result"],
            registry=r,
        )
        self.cache_invalidations = Counter(
            f"{PREFIX}_cache_invalidations",
            "Writes that made a guest's cached answers stale.",
            registry=r,
        )
        self.rate_limited = Counter(
            f"{PREFIX}_rate_limited",
            "Requests refused by a rate-limit policy.",
            ["policy", "business"],
            registry=r,
        )
        self.refreshes = Counter(
            f"{PREFIX}_token_refreshes",
            "Punchh token refreshes by result (success, rejected, failed).",
            ["result"],
            registry=r,
        )
        self.sessions = Gauge(
            f"{PREFIX}_active_sessions",
            "Live guest sessions in the store.",
            registry=r,
            multiprocess_mode="max",
        )
        self.store_errors = Counter(
            f"{PREFIX}_store_errors",
            "Store (Redis) calls that failed, by store (sessions, cache, rate_limit, idempotency).",
            ["store"],
            registry=r,
        )

        self.retries = Counter(
            f"{PREFIX}_upstream_retries",
            "Calls to Punchh sent again, by route and reason (connect, connect_timeout, reset, "
            "protocol, first_byte, total, status_500/502/503/504).",
            ["route", "reason", "business"],
            registry=r,
        )
        self.retries_refused = Counter(
            f"{PREFIX}_upstream_retries_refused",
            "Retries not made, by reason (budget: the retry budget was spent; circuit_open).",
            ["reason", "business"],
            registry=r,
        )
        self.circuit_state = Gauge(
            f"{PREFIX}_circuit_state",
            "Circuit breaker state per upstream family: 0 closed, 1 half-open, 2 open.",
            ["family", "business"],
            registry=r,
            multiprocess_mode="max",
        )
        self.circuit_transitions = Counter(
            f"{PREFIX}_circuit_transitions",
            "Circuit breaker state changes, by family and the state entered.",
            ["family", "state", "business"],
            registry=r,
        )
        self.idempotency = Counter(
            f"{PREFIX}_idempotency_requests",
            "Writes with an Idempotency-Key, by result (new, joined: waited for the same "
            "request in flight, replayed: answered from the kept answer, mismatch: 422).",
            ["result"],
            registry=r,
        )

        self.config_reloads = Counter(
            "gateway_config_reloads",  # the name: gateway_config_reloads_total
            "Live reloads of the configuration (SIGHUP), by result: ok (swapped in), "
            "invalid (refused: problems logged), restart_required (refused: a key that "
            "needs a restart changed), error (refused: the new configuration could not "
            "be built).",
            ["result"],
            registry=r,
        )
        for result in RELOAD_RESULTS:
            self.config_reloads.labels(result)

    def prime(
        self, policies: Iterable[str], business: str = "default", *, circuits: bool = True
    ) -> None:
        """Create the known label sets at zero, so that `rate()` sees even the first event
        after a start (a counter that appears at 1 has no earlier sample to rise from);
        once per business, with its policies."""
        for result in ("success", "rejected", "failed"):
            self.refreshes.labels(result)
        for store in ("sessions", "cache", "rate_limit", "idempotency"):
            self.store_errors.labels(store)
        for policy in policies:
            self.rate_limited.labels(policy, business)
        for family in FAMILIES:
            if circuits:  # not at a reload: the breakers it keeps keep their state
                self.circuit_state.labels(family, business).set(0)
            for state in ("open", "half_open", "closed"):
                self.circuit_transitions.labels(family, state, business)
        for reason in ("budget", "circuit_open"):
            self.retries_refused.labels(reason, business)
        for result in ("new", "joined", "replayed", "mismatch"):
            self.idempotency.labels(result)

    def track_in_flight(self, count: Callable[[], float]) -> Gauge | None:
        """The in-flight gauge read from `count` at scrape time, in one process; with several
        workers (PROMETHEUS_MULTIPROC_DIR) each process's value lives in its file, so the
        gauge itself is returned, to be moved per request."""
        if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
            return self.in_flight
        self.in_flight.set_function(count)
        return None

    def store_error(self, store: str) -> None:
        self.store_errors.labels(store).inc()


def render(metrics: Metrics) -> tuple[bytes, str]:
    """The exposition text: this process's registry, or every worker's when several share
    PROMETHEUS_MULTIPROC_DIR."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(metrics.registry), CONTENT_TYPE_LATEST
