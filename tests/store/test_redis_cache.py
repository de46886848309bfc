"""The Redis response cache against the real Redis: the same semantics as memory, shared."""

from __future__ import annotations

import asyncio

import pytest

from gateway.cache.base import CacheUnavailable
from gateway.cache.policy import Entry, user_tag
from gateway.cache.redis import RedisResponseCache
from gateway.store.resp import RedisLink, connect
from tests.store.test_redis_store import _closed_port

ENTRY = Entry(200, (("Content-Type", "application/json"), ("ETag", "x")), b'{"points":1}\n2', 5.0)


@pytest.fixture
def cache(redis_client: RedisLink, prefix: str) -> RedisResponseCache:
    return RedisResponseCache(redis_client, prefix=prefix)


async def test_round_trip_and_invalidation(cache: RedisResponseCache) -> None:
    gens = await cache.generations([user_tag("1"), "ident:phone:555"])
    await cache.put("k", ENTRY, 30, gens)
    assert await cache.get("k") == ENTRY
    await cache.invalidate(["ident:phone:555"])
    assert await cache.get("k") is None


async def test_shared_between_clients(
    cache: RedisResponseCache, redis_url: str, prefix: str
) -> None:
    other = RedisResponseCache(connect(redis_url, timeout=1.0), prefix=prefix)
    try:
        await cache.put("k", ENTRY, 30, await cache.generations([user_tag("1")]))
        assert await other.get("k") == ENTRY
        await other.invalidate([user_tag("1")])  # a write through another replica
        assert await cache.get("k") is None
    finally:
        await other.close()


async def test_a_fetch_racing_a_write_is_not_kept(cache: RedisResponseCache) -> None:
    gens = await cache.generations([user_tag("1")])
    await cache.invalidate([user_tag("1")])
    await cache.put("k", ENTRY, 30, gens)
    assert await cache.get("k") is None


async def test_generations_never_repeat(
    cache: RedisResponseCache, redis_client: RedisLink, prefix: str
) -> None:
    first = (await cache.generations([user_tag("1")]))[user_tag("1")]
    await cache.put("k", ENTRY, 30, {user_tag("1"): first})
    await redis_client.execute("DEL", f"{prefix}cache:g:{user_tag('1')}")  # as if it had expired
    assert await cache.get("k") is None
    again = (await cache.generations([user_tag("1")]))[user_tag("1")]
    assert again != first
    assert await cache.get("k") is None


async def test_expires_by_ttl(cache: RedisResponseCache) -> None:
    await cache.put("k", ENTRY, 0.05, {})
    assert await cache.get("k") == ENTRY
    await asyncio.sleep(0.1)  # Redis's own clock
    assert await cache.get("k") is None


async def test_learn_and_users_for(cache: RedisResponseCache) -> None:
    await cache.learn(["ident:phone:555", "ident:email:a@b.co"], "42", 60)
    assert await cache.users_for(["ident:email:a@b.co", "ident:phone:999"]) == {"42"}
    assert await cache.users_for([]) == set()


async def test_unreachable_is_cache_unavailable(prefix: str) -> None:
    dead = RedisResponseCache(
        connect(f"redis://127.0.0.1:{_closed_port()}/0", timeout=0.2), prefix=prefix
    )
    for call in (
        dead.get("k"),
        dead.generations(["t"]),
        dead.put("k", ENTRY, 1, {}),
        dead.invalidate(["t"]),
        dead.users_for(["i"]),
    ):
        with pytest.raises(CacheUnavailable):
            await call
    await dead.close()
