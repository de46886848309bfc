"""The Redis session store against the real Redis on 127.0.0.1."""

from __future__ import annotations

import asyncio
import socket
import time
from dataclasses import replace
from pathlib import Path

import pytest

from gateway.errors import StoreUnavailable
from gateway.sessions import PunchhTokens, Session
from gateway.store.codec import TokenCipher, dump_session
from gateway.store.redis import RedisSessionStore
from gateway.store.resp import RedisLink, connect, key_slot
from gateway.tokens import new_session_id
from tests.store.conftest import STORE_KEY
from tests.support.redis_ha import RedisClusterServers, RedisSentinelServers


def _session(sid: str, user_id: str | None = "42") -> Session:
    return Session(
        sid=sid,
        user_id=user_id,
        tokens=PunchhTokens("ACC-r", "AUTH-r", "ID-r", "REF-r"),
        created_at=1.0,
        expires_at=2.0,
        last_seen=1.0,
    )


async def test_put_get_delete(
    store: RedisSessionStore, redis_client: RedisLink, prefix: str
) -> None:
    s = _session("a")
    await store.put(s, 30)
    assert await store.get("a") == s
    ttl_ms = await redis_client.execute("PTTL", f"{prefix}session:a")
    assert 29_000 < ttl_ms <= 30_000
    raw = await redis_client.execute("GET", f"{prefix}session:a")
    for token in (b"ACC-r", b"AUTH-r", b"ID-r", b"REF-r"):
        assert token not in raw  # a dump of Redis yields no usable Punchh token
    await store.delete("a")
    assert await store.get("a") is None
    assert await redis_client.execute("SMEMBERS", store.user_key("42")) == []


async def test_expires_by_ttl(store: RedisSessionStore) -> None:
    await store.put(_session("short"), 0.05)
    assert await store.get("short") is not None
    await asyncio.sleep(0.1)  # Redis's own clock: the one place a real wait is the test
    assert await store.get("short") is None


async def test_delete_user_ends_every_session_of_that_guest(store: RedisSessionStore) -> None:
    for sid, user in (("a", "42"), ("b", "42"), ("c", "7")):
        await store.put(_session(sid, user), 60)
    assert await store.delete_user("42") == 2
    assert (await store.get("a"), await store.get("b")) == (None, None)
    assert await store.get("c") is not None
    assert await store.delete_user("42") == 0


async def test_unreadable_record_is_no_session(
    store: RedisSessionStore, redis_client: RedisLink, prefix: str
) -> None:
    other = RedisSessionStore(redis_client, prefix=prefix, cipher=TokenCipher(b"x" * 40))
    await other.put(_session("k"), 60)
    assert await store.get("k") is None


async def test_lock_excludes_across_clients(
    store: RedisSessionStore, redis_url: str, prefix: str
) -> None:
    second = RedisSessionStore(
        connect(redis_url, timeout=1.0),
        prefix=prefix,
        cipher=TokenCipher(b"y" * 40),
    )
    try:
        async with store.lock("refresh:s", ttl=5, wait=1) as got:
            assert got
            async with second.lock("refresh:s", ttl=5, wait=0.05) as other:
                assert not other
        async with second.lock("refresh:s", ttl=5, wait=0.05) as other:
            assert other
    finally:
        await second.close()


async def test_lock_waits_for_release(store: RedisSessionStore) -> None:
    order: list[str] = []

    async def holder() -> None:
        async with store.lock("x", ttl=5, wait=1) as got:
            assert got
            order.append("first in")
            await asyncio.sleep(0.05)
            order.append("first out")

    async def waiter() -> None:
        await asyncio.sleep(0.01)
        async with store.lock("x", ttl=5, wait=2) as got:
            assert got
            order.append("second in")

    await asyncio.gather(holder(), waiter())
    assert order == ["first in", "first out", "second in"]


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_unreachable_redis_is_store_unavailable_quickly(prefix: str) -> None:
    client = connect(f"redis://127.0.0.1:{_closed_port()}/0", timeout=0.2)
    dead = RedisSessionStore(client, prefix=prefix, cipher=TokenCipher(b"z" * 40))
    started = time.monotonic()
    for call in (dead.get("a"), dead.put(_session("a"), 5), dead.delete("a"), dead.ping()):
        with pytest.raises(StoreUnavailable) as info:
            await call
        assert info.value.status == 503
        assert info.value.code == "session_store_unavailable"
    assert time.monotonic() - started < 5
    await dead.close()


async def test_replace_never_recreates_an_ended_session(store: RedisSessionStore) -> None:
    s = _session("r")
    assert not await store.replace(s, 30)
    assert await store.get("r") is None
    await store.put(s, 30)
    assert await store.replace(s, 30)
    await store.delete("r")
    assert not await store.replace(s, 30)
    assert await store.get("r") is None


async def test_count_live_sessions(store: RedisSessionStore) -> None:
    for sid in ("c1", "c2", "c3"):
        await store.put(_session(sid), 30)
    await store.delete("c2")
    assert await store.count() == 2


def test_every_store_on_one_redis_url_shares_one_pool() -> None:
    """Sessions, rate limits, the cache and the idempotency book on the same Redis: one
    client, so one connection pool (a URL of their own gets a pool of its own)."""
    from prometheus_client import CollectorRegistry

    from gateway.config import load_config
    from gateway.parts import build_parts
    from tests.conftest import gateway_env
    from tests.store.conftest import REDIS_URL, STORE_KEY

    env = gateway_env(
        "http://127.0.0.1:9", GATEWAY_STORE_URL=REDIS_URL, GATEWAY_STORE_KEY=STORE_KEY
    )
    parts = build_parts(load_config(None, env), time.time, CollectorRegistry())
    clients = {
        id(parts.sessions.store._redis),  # type: ignore[attr-defined]
        id(parts.rate_store._redis),  # type: ignore[attr-defined]
        id(parts.cache._redis),  # type: ignore[attr-defined]
        id(parts.idempotency._r),  # type: ignore[attr-defined]
    }
    assert len(clients) == 1
    own = gateway_env(
        "http://127.0.0.1:9",
        GATEWAY_STORE_URL=REDIS_URL,
        GATEWAY_STORE_KEY=STORE_KEY,
        GATEWAY_CACHE_URL="redis://127.0.0.1:6379/1",
    )
    parts = build_parts(load_config(None, own), time.time, CollectorRegistry())
    assert parts.cache._redis is not parts.rate_store._redis  # type: ignore[attr-defined]


async def test_a_guest_holds_at_most_max_per_user_sessions(
    redis_client: RedisLink, prefix: str
) -> None:
    """Issue 15, finding 5, on Redis: a sign-in beyond `max_per_user` ends the guest's
    oldest session (by sign-in time, not by id); other guests are untouched; an id whose
    record already expired leaves the guest's set."""
    store = RedisSessionStore(
        redis_client, prefix=prefix, cipher=TokenCipher(b"m" * 40), max_per_user=3
    )
    await store.put(_session("other", "7"), 60)
    await store.put(_session("gone", "42"), 0.05)
    await asyncio.sleep(0.1)
    for i, sid in enumerate(("z", "y", "x", "w", "v")):  # created in this order
        await store.put(replace(_session(sid), created_at=10.0 + i), 60)
    live = [sid for sid in ("z", "y", "x", "w", "v") if await store.get(sid, fresh=True)]
    assert live == ["x", "w", "v"]
    members = await redis_client.execute("SMEMBERS", store.user_key("42"))
    assert set(members) == {b"x", b"w", b"v"}
    assert await store.get("other", fresh=True) is not None


async def test_a_guests_sessions_and_index_share_one_slot_and_guests_spread(
    store: RedisSessionStore, redis_client: RedisLink
) -> None:
    """The key layout (docs/operations.md, "Key layout"): a session id carries its guest's
    hash tag, so the record and the guest's index are one atomic script even on a Cluster, and
    guests land on many slots (not one tag for everything)."""
    sids = [new_session_id("42") for _ in range(3)]
    for sid in sids:
        await store.put(_session(sid), 60)
    index = store.user_key("42")
    assert {key_slot(store.session_key(sid)) for sid in sids} == {key_slot(index)}
    members = await redis_client.execute("SMEMBERS", index)
    assert set(members) == {sid.encode() for sid in sids}
    assert await store.delete_user("42") == 3
    assert [await store.get(sid, fresh=True) for sid in sids] == [None, None, None]
    slots = {key_slot(store.user_key(str(user))) for user in range(200)}
    assert len(slots) > 150
    anonymous = {key_slot(store.session_key(new_session_id(None))) for _ in range(50)}
    assert len(anonymous) > 40


async def test_sessions_made_before_hash_tags_keep_working(
    store: RedisSessionStore, redis_client: RedisLink, prefix: str
) -> None:
    """An id without a tag (made by an earlier version) keeps its keys: it opens, is
    refreshed, and a revoke-all finds it in the guest's earlier index."""
    old = _session("oldstyleid")
    raw = dump_session(old, TokenCipher(STORE_KEY.encode()))
    await redis_client.execute("SET", f"{prefix}session:oldstyleid", raw, "PX", 60_000)
    await redis_client.execute("SADD", f"{prefix}user:42", "oldstyleid")
    new = _session(new_session_id("42"))
    await store.put(new, 60)
    assert await store.get("oldstyleid") == old
    assert await store.replace(replace(old, last_seen=1.5), 60)
    assert await store.delete_user("42") == 2
    assert await store.get("oldstyleid", fresh=True) is None
    assert await store.get(new.sid, fresh=True) is None
    assert await redis_client.execute("EXISTS", f"{prefix}user:42") == 0


async def test_the_sign_in_check_needs_every_cluster_shard(
    fresh_redis_cluster: RedisClusterServers,
) -> None:
    """Readiness asks for any master (the other shards still serve); the check before a
    sign-in asks for every one: the new session may land on any shard, and Punchh must
    not grant a session the gateway then cannot keep (the review found it passing with
    the guest's shard down)."""
    servers = fresh_redis_cluster
    store = RedisSessionStore(
        connect(servers.url, timeout=0.3), prefix="lgtest:ping:", cipher=TokenCipher(b"p" * 40)
    )
    try:
        await store.ping(every=True)
        servers.kill(servers.masters()[0])
        await store.ping()  # another master answers
        with pytest.raises(StoreUnavailable):
            await store.ping(every=True)
    finally:
        await store.close()


async def test_sentinels_that_require_a_password(tmp_path: Path) -> None:
    """store.sentinel_password: Sentinels with their own requirepass (as Helm charts set
    them up) are asked with it; without it they refuse, and that is the store's 503."""
    servers = RedisSentinelServers(tmp_path, sentinel_password="sentinel-secret")
    servers.start()
    prefix, cipher = "lgtest:spw:", TokenCipher(b"s" * 40)
    refused = RedisSessionStore(connect(servers.url, timeout=0.5), prefix=prefix, cipher=cipher)
    allowed = RedisSessionStore(
        connect(servers.url, timeout=0.5, sentinel_password="sentinel-secret"),
        prefix=prefix,
        cipher=cipher,
    )
    try:
        with pytest.raises(StoreUnavailable):
            await refused.ping()
        session = _session(new_session_id("42"))
        await allowed.put(session, 60)
        assert await allowed.get(session.sid, fresh=True) == session
        assert "sentinel-secret" not in repr(allowed._redis)
    finally:
        await refused.close()
        await allowed.close()
        servers.stop()
