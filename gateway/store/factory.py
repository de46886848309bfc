"""The session store a configuration asks for: memory://, or redis:// / rediss://."""

from __future__ import annotations

from collections.abc import Callable

from gateway.config import GatewayConfig
from gateway.store.base import SessionStore
from gateway.store.codec import TokenCipher
from gateway.store.memory import MemorySessionStore
from gateway.store.redis import RedisClients, RedisSessionStore


def make_session_store(
    cfg: GatewayConfig, *, clock: Callable[[], float], redis: RedisClients
) -> SessionStore:
    if cfg.store.backend == "memory":
        return MemorySessionStore(
            max_sessions=cfg.session.max_sessions,
            max_per_user=cfg.session.max_per_user,
            clock=clock,
        )
    url = cfg.store.url.reveal()
    return RedisSessionStore(
        redis.client(url),
        prefix=cfg.store.prefix,
        cipher=TokenCipher(cfg.store.encryption_key.encode()),
        fast=redis.lean(url),
        max_per_user=cfg.session.max_per_user,
    )
