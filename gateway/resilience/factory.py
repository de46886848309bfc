"""The idempotency book a configuration asks for: idempotency.url, or else the store's URL."""

from __future__ import annotations

from collections.abc import Callable

from gateway.config import GatewayConfig
from gateway.metrics import Metrics
from gateway.resilience.idempotency import (
    IdempotencyBook,
    MemoryIdempotencyBook,
    RedisIdempotencyBook,
)
from gateway.store.redis import RedisClients


def make_idempotency_book(
    cfg: GatewayConfig, *, clock: Callable[[], float], metrics: Metrics, redis: RedisClients
) -> IdempotencyBook:
    r = cfg.resilience
    url = r.idempotency_url.reveal() or cfg.store.url.reveal()
    if url == "memory://":
        return MemoryIdempotencyBook(
            ttl=r.idempotency_ttl, max_entries=r.idempotency_max_entries, clock=clock
        )
    # A replica waits for another's request with the same key at most as long as the
    # slowest route class may take, plus a margin: then the pending record expires.
    lease = max(t.total for t in r.timeouts.values()) + 5.0
    return RedisIdempotencyBook(
        redis.link(url),
        prefix=cfg.store.prefix,
        ttl=r.idempotency_ttl,
        lease=lease,
        on_error=lambda: metrics.store_error("idempotency"),
    )
