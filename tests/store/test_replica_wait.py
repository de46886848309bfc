"""Session writes wait for a replica (store.wait_replicas): on a real Sentinel set, the
WAITs of concurrent writes are grouped, and a replica that does not answer costs one
wait of store.wait_timeout, after which waits pause, never a failed write."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import time

import pytest
import redis
from redis.exceptions import ConnectionError

from gateway.errors import StoreUnavailable
from gateway.session_record import Session
from gateway.sessions import PunchhTokens
from gateway.store.codec import TokenCipher
from gateway.store.redis import WAIT_PAUSE_SECONDS, RedisSessionStore
from gateway.store.resp import connect
from gateway.tokens import new_session_id
from tests.support.redis_ha import RedisSentinelServers


def _session(user: str) -> Session:
    now = time.time()
    return Session(
        sid=new_session_id(user),
        user_id=user,
        tokens=PunchhTokens("ACC", "AUTH", "ID", "REF"),
        created_at=now,
        expires_at=now + 600,
        last_seen=now,
    )


def _store(url: str, timeout: float = 0.5) -> RedisSessionStore:
    return RedisSessionStore(
        connect(url, timeout=timeout),
        prefix="lgtest:wait:",
        cipher=TokenCipher(b"w" * 40),
        writer=connect(url, timeout=timeout),
        wait_replicas=1,
        wait_timeout=0.1,
    )


def _waits(port: int) -> int:
    client = redis.Redis(port=port)
    try:
        stats = client.info("commandstats")
        return int(stats.get("cmdstat_wait", {}).get("calls", 0))
    finally:
        client.close()


async def test_concurrent_writes_share_their_waits_and_are_replicated(
    redis_sentinel: RedisSentinelServers,
) -> None:
    store = _store(redis_sentinel.url)
    master = redis_sentinel.master_port()
    replica = next(p for p in redis_sentinel.data_ports if p != master)
    try:
        await store.put(_session("warm"), 60)
        before = _waits(master)
        sessions = [_session(f"g{i}") for i in range(50)]
        await asyncio.gather(*(store.put(s, 60) for s in sessions))
        sent = _waits(master) - before
        assert 1 <= sent < 25, sent  # grouped: far fewer WAITs than writes
        on_replica = redis.Redis(port=replica)
        try:  # every acknowledged write is on the replica already
            keys = [store.session_key(s.sid) for s in sessions]
            assert on_replica.exists(*keys) == 50
        finally:
            on_replica.close()
    finally:
        await store.close()


async def test_a_silent_replica_costs_one_wait_then_waits_pause(
    fresh_redis_sentinel: RedisSentinelServers, caplog: pytest.LogCaptureFixture
) -> None:
    servers = fresh_redis_sentinel
    store = _store(servers.url, timeout=0.3)
    master = servers.master_port()
    replica = next(p for p in servers.data_ports if p != master)
    proc = servers.nodes[replica].proc
    assert proc is not None
    await store.put(_session("warm"), 60)
    os.kill(proc.pid, signal.SIGSTOP)
    try:
        with caplog.at_level(logging.WARNING, logger="gateway.store"):
            started = time.monotonic()
            sessions = [_session(f"s{i}") for i in range(40)]
            await asyncio.gather(*(store.put(s, 60) for s in sessions))  # none fails
            burst = time.monotonic() - started
            started = time.monotonic()
            for s in sessions[:10]:
                assert await store.replace(s, 60)
            paused = time.monotonic() - started
    finally:
        os.kill(proc.pid, signal.SIGCONT)
        await store.close()
    # The burst waited about twice store.wait_timeout (a WAIT in flight, then one for
    # everyone behind it), not 40 times; then no write waits for WAIT_PAUSE_SECONDS.
    assert burst < 1.0, burst
    assert paused < 0.5, paused
    warnings = [r for r in caplog.records if "not confirmed by replicas" in r.getMessage()]
    assert len(warnings) == 1
    assert WAIT_PAUSE_SECONDS == 5.0
    reader = _store(servers.url)
    try:
        for s in sessions:
            assert await reader.get(s.sid) is not None
    finally:
        await reader.close()


async def test_a_write_whose_wait_fails_is_not_acknowledged(
    fresh_redis_sentinel: RedisSentinelServers,
) -> None:
    """The master dies after the write and before its replica confirmed it: the sign-in
    is the store's 503, not a session the guest is told about and the failover loses
    (the review's reproduction: it was acknowledged)."""
    servers = fresh_redis_sentinel
    master = servers.master_port()
    replica = next(p for p in servers.data_ports if p != master)
    proc = servers.nodes[replica].proc
    assert proc is not None
    store = RedisSessionStore(
        connect(servers.url, timeout=3.0),
        prefix="lgtest:lost:",
        cipher=TokenCipher(b"w" * 40),
        writer=connect(servers.url, timeout=3.0),
        wait_replicas=1,
        wait_timeout=2.0,
    )
    await store.put(_session("warm"), 60)
    os.kill(proc.pid, signal.SIGSTOP)  # replication stalls
    asyncio.get_running_loop().call_later(0.3, servers.kill, master)  # while WAIT waits
    try:
        with pytest.raises(StoreUnavailable):
            await store.put(_session("guest"), 60)
    finally:
        os.kill(proc.pid, signal.SIGCONT)
        await store.close()


async def test_a_wait_is_never_sent_on_another_connection_than_the_write(
    redis_sentinel: RedisSentinelServers,
) -> None:
    """WAIT counts the replicas of its own connection's writes: after the writer's
    connection is lost between the write and the wait, the write is unconfirmed (503),
    never 'confirmed' by a WAIT on a fresh connection that wrote nothing."""
    store = _store(redis_sentinel.url)
    try:
        await store.put(_session("warm"), 60)
        writer = store._writer
        connection = writer.connection_of(store.session_key(new_session_id("x")))
        assert connection is not None
        node, epoch = connection
        node.drop()
        await writer.execute("PING")  # a new connection: a new epoch
        with pytest.raises(ConnectionError):
            await writer.wait_on(connection, 1, 100)
        assert writer.connection_of(store.session_key(new_session_id("x"))) == (node, epoch + 1)
    finally:
        await store.close()
