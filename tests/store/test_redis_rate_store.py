"""The Redis GCRA script against the real Redis: the same decisions as the pure function,
exact under concurrency."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from gateway.ratelimit.gcra import Rate
from gateway.ratelimit.store import RateStoreUnavailable, RedisRateStore
from gateway.store.resp import connect
from tests.store.test_redis_store import _closed_port
from tests.support.redis_ha import RedisClusterServers


async def test_burst_then_refused(redis_client: Any, prefix: str) -> None:
    store = RedisRateStore(redis_client, prefix=prefix)
    rate = Rate(5, 60)
    decisions = [await store.take("k", rate) for _ in range(7)]
    assert [d.allowed for d in decisions] == [True] * 5 + [False] * 2
    assert [d.remaining for d in decisions[:5]] == [4, 3, 2, 1, 0]
    assert 11.5 < decisions[5].retry_after <= 12.0  # one unit per 12 s
    peek = await store.take("k", rate, take=False)
    assert not peek.allowed
    other = await store.take("other", rate)
    assert other.allowed


async def test_exact_under_concurrency(redis_client: Any, redis_url: str, prefix: str) -> None:
    stores = [RedisRateStore(connect(redis_url, timeout=2.0), prefix=prefix) for _ in range(4)]
    try:
        rate = Rate(25, 3600)
        results = await asyncio.gather(*(stores[i % 4].take("shared", rate) for i in range(200)))
        assert sum(d.allowed for d in results) == 25
    finally:
        for s in stores:
            await s.close()


async def test_peek_does_not_consume(redis_client: Any, prefix: str) -> None:
    store = RedisRateStore(redis_client, prefix=prefix)
    rate = Rate(2, 60)
    for _ in range(5):
        assert (await store.take("p", rate, take=False)).allowed
    assert (await store.take("p", rate)).allowed
    assert (await store.take("p", rate)).allowed
    assert not (await store.take("p", rate, take=False)).allowed


async def test_unreachable(prefix: str) -> None:
    store = RedisRateStore(
        connect(f"redis://127.0.0.1:{_closed_port()}/0", timeout=0.2), prefix=prefix
    )
    with pytest.raises(RateStoreUnavailable):
        await store.take("k", Rate(1, 1))
    await store.close()


async def test_refund_gives_one_unit_back(redis_client: Any, prefix: str) -> None:
    store = RedisRateStore(redis_client, prefix=prefix)
    rate = Rate(2, 60)
    assert (await store.take("r", rate)).allowed
    assert (await store.take("r", rate)).allowed
    assert not (await store.take("r", rate)).allowed
    await store.refund("r", rate)
    assert (await store.take("r", rate)).allowed
    assert not (await store.take("r", rate)).allowed


async def test_burst_is_exact_for_intervals_that_are_not_binary_fractions(
    redis_client: Any, prefix: str
) -> None:
    store = RedisRateStore(redis_client, prefix=prefix)
    results = [await store.take("fifths", Rate(5, 1)) for _ in range(6)]
    assert [d.allowed for d in results] == [True] * 5 + [False]


@pytest.mark.parametrize("backend", ["redis", "memory"])
async def test_take_many_draws_in_order_and_stops_at_the_first_refusal(
    backend: str, redis_client: Any, prefix: str
) -> None:
    """Every policy of a request in one call (one script in Redis): the same decisions as
    one take each, and nothing drawn after a refusal."""
    import time

    from gateway.ratelimit.store import MemoryRateStore, RateStore

    store: RateStore = MemoryRateStore(clock=time.time)
    if backend == "redis":  # the gateway's client, on each deployment
        store = RedisRateStore(redis_client, prefix=prefix)
    await _take_many_rules(store)


async def _take_many_rules(store: Any) -> None:
    wide, narrow = Rate(10, 60), Rate(2, 60)
    for expected_remaining in (9, 8):
        first, second = await store.take_many([("a", wide), ("b", narrow)])
        assert first.allowed
        assert second.allowed
        assert first.remaining == expected_remaining
    refused = await store.take_many([("b", narrow), ("a", wide)])
    assert [d.allowed for d in refused] == [False]  # "a" was not drawn after "b" refused
    assert 29 < refused[0].retry_after <= 30.0
    after = await store.take("a", wide, take=False)
    assert after.remaining == 8  # still two taken, not three
    assert await store.take_many([]) == []


async def test_a_draw_cut_by_a_lost_shard_says_what_it_took(
    fresh_redis_cluster: RedisClusterServers,
) -> None:
    """On a Cluster a request's buckets are drawn shard by shard: when a later shard is
    lost, the error carries the draws already made, so the caller can give back units
    of an attempt that is then refused (the failover test found guests locked out)."""
    from gateway.ratelimit.store import bucket_key

    servers = fresh_redis_cluster
    store = RedisRateStore(connect(servers.url, timeout=0.3), prefix="lgtest:cut:")
    first = "sign_in_account_ip:a@example.com|127.0.0.1"
    second = next(
        f"sign_in_ip:10.0.0.{i}"
        for i in range(256)
        if servers.master_for_key(bucket_key("lgtest:cut:", f"sign_in_ip:10.0.0.{i}"))
        != servers.master_for_key(bucket_key("lgtest:cut:", first))
    )
    rate = Rate(5, 900)
    try:
        assert [d.allowed for d in await store.take_many([(first, rate), (second, rate)])] == [
            True,
            True,
        ]
        servers.kill(servers.master_for_key(bucket_key("lgtest:cut:", second)))
        with pytest.raises(RateStoreUnavailable) as info:
            await store.take_many([(first, rate), (second, rate)])
        assert [d.allowed for d in info.value.taken] == [True]
        assert info.value.taken[0].remaining == 3  # the unit it took: the caller's to give
    finally:
        await store.close()
