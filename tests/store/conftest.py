"""Real Redis on 127.0.0.1, each test under its own key prefix, in the three deployments
the gateway runs on: one server (`make test` starts it on 6379), a Sentinel-watched master
with a replica, and a Cluster of three masters and three replicas (started by the tests:
tests/support/redis_ha.py). Tests that take `redis_url` (or a fixture built on it) run on
each."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator

import pytest

from gateway.store.codec import TokenCipher
from gateway.store.redis import RedisSessionStore
from gateway.store.resp import RedisLink, connect
from tests.support.redis_ha_fixtures import REDIS_URL

STORE_KEY = "store-key-" + "k" * 32
__all__ = ["REDIS_URL", "STORE_KEY"]


@pytest.fixture
def prefix() -> str:
    return f"lgtest:{secrets.token_hex(4)}:"


async def drop_keys(link: RedisLink, prefix: str) -> None:
    keys = await link.scan(prefix + "*")
    await link.pipeline([("DEL", key) for key in keys])  # one a key: any slot


@pytest.fixture
async def redis_client(redis_url: str, prefix: str) -> AsyncIterator[RedisLink]:
    """The gateway's own client for the deployment under test (the stores take it)."""
    client = connect(redis_url, timeout=2.0)
    yield client
    await client.aclose()
    cleaner = connect(redis_url, timeout=2.0)
    try:
        await drop_keys(cleaner, prefix)
    finally:
        await cleaner.aclose()


@pytest.fixture
async def other_client(redis_url: str) -> AsyncIterator[RedisLink]:
    """A second process's client (another replica of the gateway)."""
    client = connect(redis_url, timeout=2.0)
    yield client
    await client.aclose()


@pytest.fixture
def store(redis_client: RedisLink, prefix: str) -> RedisSessionStore:
    return RedisSessionStore(redis_client, prefix=prefix, cipher=TokenCipher(STORE_KEY.encode()))
