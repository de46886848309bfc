"""The response cache a configuration asks for: cache.url, or else the session store's URL."""

from __future__ import annotations

from collections.abc import Callable

from gateway.cache.base import ResponseCache
from gateway.cache.memory import MemoryResponseCache
from gateway.cache.redis import RedisResponseCache
from gateway.config import GatewayConfig
from gateway.store.redis import RedisClients


def make_response_cache(
    cfg: GatewayConfig, *, clock: Callable[[], float], redis: RedisClients
) -> ResponseCache:
    url = cfg.cache.url.reveal() or cfg.store.url.reveal()
    if url == "memory://":
        return MemoryResponseCache(
            max_entries=cfg.cache.max_entries, max_bytes=cfg.cache.max_bytes, clock=clock
        )
    return RedisResponseCache(redis.link(url), prefix=cfg.store.prefix)
