"""The highly-available Redis sets of tests/support/redis_ha.py work for real: redis-py sync
clients read and write through them, and a killed master's data survives its failover."""

from __future__ import annotations

import secrets

import redis
from redis.cluster import RedisCluster
from redis.sentinel import Sentinel

from tests.support.redis_ha import RedisClusterServers, RedisSentinelServers

TIMEOUT = 1.0


def cluster_client(servers: RedisClusterServers) -> RedisCluster:
    return RedisCluster(
        host="127.0.0.1", port=servers.ports[0], decode_responses=True, socket_timeout=TIMEOUT
    )


def node_client(port: int) -> redis.Redis:
    return redis.Redis(host="127.0.0.1", port=port, decode_responses=True, socket_timeout=TIMEOUT)


def master_via_sentinel(servers: RedisSentinelServers) -> redis.Redis:
    """A client of the master the sentinels name, as an application would get it."""
    sentinel = Sentinel(  # type: ignore[no-untyped-call]
        [("127.0.0.1", port) for port in servers.sentinel_ports], socket_timeout=TIMEOUT
    )
    master: redis.Redis = sentinel.master_for(  # type: ignore[no-untyped-call]
        servers.service, socket_timeout=TIMEOUT, decode_responses=True
    )
    return master


def keys_on_every_master(servers: RedisClusterServers) -> dict[int, str]:
    """One fresh key served by each master, by port."""
    keys: dict[int, str] = {}
    masters = servers.masters()
    while len(keys) < len(masters):
        key = f"ha:{secrets.token_hex(4)}"
        keys.setdefault(servers.master_for_key(key), key)
    return keys


def test_cluster_serves_keys_on_every_master(redis_cluster: RedisClusterServers) -> None:
    assert len(redis_cluster.masters()) == 3
    assert redis_cluster.url == (
        f"redis+cluster://127.0.0.1:{redis_cluster.ports[0]},127.0.0.1:{redis_cluster.ports[1]}/"
    )
    keys = keys_on_every_master(redis_cluster)
    client = cluster_client(redis_cluster)
    try:
        for port, key in keys.items():
            assert client.set(key, f"value-{port}")
        for port, key in keys.items():
            assert client.get(key) == f"value-{port}"
            # Really on that master, not only somewhere in the cluster.
            with node_client(port) as node:
                assert node.get(key) == f"value-{port}"
    finally:
        client.close()
    redis_cluster.flush()
    for port in redis_cluster.masters():
        with node_client(port) as node:
            assert node.dbsize() == 0


def test_sentinel_serves_the_master(redis_sentinel: RedisSentinelServers) -> None:
    master_port = redis_sentinel.master_port()
    assert master_port in redis_sentinel.data_ports
    hosts = ",".join(f"127.0.0.1:{port}" for port in redis_sentinel.sentinel_ports)
    assert redis_sentinel.url == f"redis+sentinel://{hosts}/mymaster/0"
    master = master_via_sentinel(redis_sentinel)
    try:
        assert master.set("ha:sentinel", "hello")
        assert master.get("ha:sentinel") == "hello"
        assert master.info("server")["tcp_port"] == master_port
    finally:
        master.close()
    redis_sentinel.flush()


def test_cluster_failover_keeps_replicated_data(
    fresh_redis_cluster: RedisClusterServers,
) -> None:
    servers = fresh_redis_cluster
    print(f"\ncluster started in {servers.start_seconds:.2f}s")
    key = "ha:failover"
    old_master = servers.master_for_key(key)
    with node_client(old_master) as node:
        assert node.set(key, "kept")
        assert node.wait(1, 1000) == 1

    servers.kill(old_master)
    seconds = servers.wait_failover(old_master)
    print(f"cluster failover took {seconds:.2f}s")
    assert seconds < 15

    new_master = servers.master_for_key(key)
    assert new_master != old_master
    with node_client(new_master) as node:
        assert node.get(key) == "kept"
    client = RedisCluster(
        host="127.0.0.1",
        port=next(p for p in servers.ports if p != old_master),
        decode_responses=True,
        socket_timeout=TIMEOUT,
    )
    try:
        assert client.get(key) == "kept"
    finally:
        client.close()

    servers.restart(old_master)
    print(f"cluster whole again in {servers.wait_healthy():.2f}s after restart")
    with node_client(old_master) as node:
        assert node.role()[0] == "slave"


def test_sentinel_failover_keeps_replicated_data(
    fresh_redis_sentinel: RedisSentinelServers,
) -> None:
    servers = fresh_redis_sentinel
    print(f"\nsentinel set started in {servers.start_seconds:.2f}s")
    master = master_via_sentinel(servers)
    assert master.set("ha:failover", "kept")
    assert master.wait(1, 1000) == 1
    master.close()

    old_master = servers.kill_master()
    seconds = servers.wait_failover(old_master)
    print(f"sentinel failover took {seconds:.2f}s")
    assert seconds < 15

    new_master = servers.master_port()
    assert new_master != old_master
    with node_client(new_master) as node:
        assert node.get("ha:failover") == "kept"
    master = master_via_sentinel(servers)
    try:
        assert master.get("ha:failover") == "kept"
    finally:
        master.close()

    servers.restart(old_master)
    print(f"sentinel set whole again in {servers.wait_healthy():.2f}s after restart")
    with node_client(old_master) as node:
        assert node.role()[0] == "slave"
