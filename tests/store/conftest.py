"""A real Redis on 127.0.0.1 (`make test` starts one), each test under its own key prefix."""

from __future__ import annotations

import os
import secrets
from collections.abc import AsyncIterator
from typing import Any

import pytest

from gateway.store.codec import TokenCipher
from gateway.store.redis import RedisSessionStore, make_redis_client

REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
STORE_KEY = "store-key-" + "k" * 32


@pytest.fixture
def prefix() -> str:
    return f"lgtest:{secrets.token_hex(4)}:"


@pytest.fixture
async def redis_client(prefix: str) -> AsyncIterator[Any]:
    client = make_redis_client(REDIS_URL, timeout=1.0)
    yield client
    keys = [k async for k in client.scan_iter(match=prefix + "*")]
    if keys:
        await client.delete(*keys)
    await client.aclose()


@pytest.fixture
def store(redis_client: Any, prefix: str) -> RedisSessionStore:
    return RedisSessionStore(redis_client, prefix=prefix, cipher=TokenCipher(STORE_KEY.encode()))
