"""The session store a configuration asks for: memory://, or a Redis URL (one server,
Sentinel or Cluster: gateway/store/urls.py)."""

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
    replicas = cfg.store.replicas_to_wait
    writer, waits = redis.writer(url) if replicas else (None, None)
    return RedisSessionStore(
        redis.link(url),
        prefix=cfg.store.prefix,
        cipher=TokenCipher(cfg.store.encryption_key.encode()),
        max_per_user=cfg.session.max_per_user,
        writer=writer,
        waits=waits,
        wait_replicas=replicas,
        wait_timeout=cfg.store.wait_timeout,
    )
