"""What the status page shows, read from the running gateway: plain data, no HTML.

Per route: requests, 4xx and 5xx (split by source), p50/p95 of the whole request and of
Punchh's part (from the histograms, interpolated within buckets as Prometheus does).
Per business: its hosts, its Punchh server, its requests and errors, its live sessions (a
memory store) and its circuit breakers. Also the upstream, sessions, cache, limiter and
the last gateway-made errors.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Sized
from dataclasses import asdict
from typing import Any
from urllib.parse import urlsplit

from aiohttp import web
from prometheus_client import Metric

from gateway.keys import LIMITER, LIVE, METRICS, READINESS, RECENT_ERRORS, UPSTREAM_URL
from gateway.metrics import RELOAD_RESULTS


def quantile(buckets: list[tuple[float, float]], q: float) -> float | None:
    """`buckets`: (upper bound, cumulative count), ascending, +Inf last."""
    if not buckets or buckets[-1][1] == 0:
        return None
    rank = q * buckets[-1][1]
    lower_bound, lower_count = 0.0, 0.0
    for bound, count in buckets:
        if count >= rank:
            if bound == float("inf"):
                return lower_bound
            share = (rank - lower_count) / (count - lower_count) if count > lower_count else 0
            return lower_bound + (bound - lower_bound) * share
        lower_bound, lower_count = bound, count
    return None


def _histograms(metric: Metric) -> dict[str, list[tuple[float, float]]]:
    """Each route's buckets, every business's counts of one bound added together."""
    out: dict[str, dict[float, float]] = defaultdict(lambda: defaultdict(float))
    for s in metric.samples:
        if s.name.endswith("_bucket"):
            out[s.labels["route"]][float(s.labels["le"])] += s.value
    return {route: sorted(b.items()) for route, b in out.items()}


def _collect(registry_metrics: Any) -> dict[str, Metric]:
    return {m.name: m for m in registry_metrics.registry.collect()}


def route_rows(app: web.Application) -> list[dict[str, Any]]:
    metrics = _collect(app[METRICS])
    counts: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    for s in metrics["loyalty_gateway_requests"].samples:
        if not s.name.endswith("_total"):
            continue
        row, status = counts[s.labels["route"]], s.labels["status"]
        row["requests"] += s.value
        if status.startswith(("4", "5")):
            row[f"{status[0]}xx_{s.labels['source']}"] += s.value
    total = _histograms(metrics["loyalty_gateway_request_duration_seconds"])
    upstream = _histograms(metrics["loyalty_gateway_upstream_duration_seconds"])
    rows = []
    table = app[LIVE].now.first.table.routes
    names = [r.name for r in table]
    names += sorted(set(counts) - set(names))
    for name in names:
        c = counts.get(name, {})
        rows.append(
            {
                "route": name,
                "route_info": next((r for r in table if r.name == name), None),
                "requests": int(c.get("requests", 0)),
                "errors_gateway": int(c.get("4xx_gateway", 0) + c.get("5xx_gateway", 0)),
                "errors_upstream": int(c.get("4xx_upstream", 0) + c.get("5xx_upstream", 0)),
                "p50_ms": _ms(quantile(total.get(name, []), 0.5)),
                "p95_ms": _ms(quantile(total.get(name, []), 0.95)),
                "upstream_p50_ms": _ms(quantile(upstream.get(name, []), 0.5)),
            }
        )
    return rows


def _ms(seconds: float | None) -> str:
    return "-" if seconds is None else f"{seconds * 1000:.1f}"


def _sum(metric: Metric, **labels: str) -> float:
    return sum(
        s.value
        for s in metric.samples
        if s.name.endswith("_total") and all(s.labels.get(k) == v for k, v in labels.items())
    )


def _origin(url: str) -> str:
    parts = urlsplit(url or "")
    return f"{parts.scheme}://{parts.hostname}:{parts.port or ''}".rstrip(":")


def business_rows(app: web.Application, metrics: dict[str, Metric]) -> list[dict[str, Any]]:
    """One row per business: hosts, Punchh server, requests and errors, sessions, circuits."""
    counts: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    for s in metrics["loyalty_gateway_requests"].samples:
        if s.name.endswith("_total"):
            row, status = counts[s.labels["business"]], s.labels["status"]
            row["requests"] += s.value
            if status.startswith(("4", "5")):
                row[f"errors_{s.labels['source']}"] += s.value
    now = app[LIVE].now
    hosts = {b.name: b.hosts for b in now.cfg.businesses}
    rows = []
    for name, p in now.businesses.items():
        c, store = counts.get(name, {}), p.sessions.store
        pos = p.cfg.pos
        rows.append(
            {
                "name": name,
                "hosts": ", ".join(hosts.get(name, ())) or "any other host",
                "upstream": _origin(p.upstream.base_url),
                "pos_devices": len(pos.devices) if pos.enabled else None,
                "requests": int(c.get("requests", 0)),
                "errors_gateway": int(c.get("errors_gateway", 0)),
                "errors_upstream": int(c.get("errors_upstream", 0)),
                "sessions": len(store) if isinstance(store, Sized) else None,
                "circuits_open": sorted(
                    f for f, b in p.upstream.breakers.items() if b.state != "closed"
                ),
            }
        )
    return rows


def snapshot(app: web.Application) -> dict[str, Any]:
    now, metrics = app[LIVE].now, _collect(app[METRICS])
    cfg = now.cfg
    cache = metrics["loyalty_gateway_cache_requests"]
    hits, misses = _sum(cache, result="hit"), _sum(cache, result="miss")
    limiter = app[LIMITER]
    stores = [p.sessions.store for p in now.businesses.values()]
    return {
        "now": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()),
        "ready": app[READINESS].ready,
        "upstream": _origin(app.get(UPSTREAM_URL, "")),
        "sandbox": cfg.sandbox.enabled,
        "config": {  # what is served: when it was loaded, its digest (no secret in it)
            "source": cfg.source,
            "loaded_at": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(now.loaded_at)),
            "digest": now.digest,
            "reloads": {
                r: int(_sum(metrics["gateway_config_reloads"], result=r)) for r in RELOAD_RESULTS
            },
        },
        "upstream_errors": {
            kind: int(_sum(metrics["loyalty_gateway_upstream_errors"], kind=kind))
            for kind in ("timeout", "connect", "reset", "protocol", "refresh")
        },
        "routes": route_rows(app),
        "businesses": business_rows(app, metrics),
        "sessions": {
            "backend": cfg.store.backend,
            # Redis: see /metrics
            "active": sum(len(s) for s in stores if isinstance(s, Sized))
            if all(isinstance(s, Sized) for s in stores)
            else None,
            "refreshes": {
                r: int(_sum(metrics["loyalty_gateway_token_refreshes"], result=r))
                for r in ("success", "rejected", "failed")
            },
            "store_errors": int(_sum(metrics["loyalty_gateway_store_errors"])),
        },
        "cache": {
            "enabled": cfg.cache.enabled,
            "hits": int(hits),
            "misses": int(misses),
            "ratio": f"{hits / (hits + misses):.0%}" if hits + misses else "-",
            "invalidations": int(_sum(metrics["loyalty_gateway_cache_invalidations"])),
            "entries": len(entries) if isinstance(entries := now.first.cache, Sized) else None,
        },
        "limiter": {
            "enabled": cfg.rate_limit.enabled,
            "in_flight": limiter.in_flight if limiter else 0,
            "max_in_flight": limiter.limit if limiter else None,
            "policies": [
                {
                    "name": p.name,
                    "key": p.key,
                    "limit": p.rate.limit,
                    "window": int(p.rate.window),
                    "counts": p.counts,
                    "fail": "closed" if p.fail_closed else "open",
                    "refused": int(_sum(metrics["loyalty_gateway_rate_limited"], policy=p.name)),
                }
                for p in cfg.rate_limit.policies
            ],
        },
        "errors": [
            {**asdict(e), "at": time.strftime("%H:%M:%S", time.gmtime(e.at))}
            for e in app[RECENT_ERRORS].newest_first()[:20]
        ],
    }
