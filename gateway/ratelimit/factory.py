"""The rate-limit store a configuration asks for: rate_limit.url, or else the session store's."""

from __future__ import annotations

from collections.abc import Callable

from gateway.config import GatewayConfig
from gateway.ratelimit.store import MemoryRateStore, RateStore, RedisRateStore
from gateway.store.redis import RedisClients


def make_rate_store(
    cfg: GatewayConfig, *, clock: Callable[[], float], redis: RedisClients
) -> RateStore:
    url = cfg.rate_limit.url.reveal() or cfg.store.url.reveal()
    if url == "memory://":
        return MemoryRateStore(clock=clock)
    return RedisRateStore(redis.link(url), prefix=cfg.store.prefix)
