"""Pytest fixtures for the highly-available Redis sets of tests/support/redis_ha.py
(a pytest plugin, listed in tests/conftest.py). `redis_cluster` and `redis_sentinel` are
started once per session: tests may write to them (and `flush()` them) but must not kill
their nodes; a test that does takes `fresh_redis_cluster` or `fresh_redis_sentinel`, a
private set started for it and stopped after.

`redis_url` runs a test on each deployment the gateway supports: one server (`make test`
starts it on 6379), the session's Sentinel set and the session's Cluster."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import TypeVar

import pytest

from tests.support.redis_ha import RedisClusterServers, RedisSentinelServers

Servers = TypeVar("Servers", RedisClusterServers, RedisSentinelServers)


def _running(servers: Servers) -> Iterator[Servers]:
    servers.start()
    try:
        yield servers
    finally:
        servers.stop()


@pytest.fixture(scope="session")
def redis_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisClusterServers]:
    """The session's six-node cluster: write to it, never kill its nodes."""
    yield from _running(RedisClusterServers(tmp_path_factory.mktemp("redis-cluster")))


@pytest.fixture(scope="session")
def redis_sentinel(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisSentinelServers]:
    """The session's master, replica and three sentinels: write to them, never kill them."""
    yield from _running(RedisSentinelServers(tmp_path_factory.mktemp("redis-sentinel")))


@pytest.fixture
def fresh_redis_cluster(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[RedisClusterServers]:
    """A cluster of this test's own, stopped after it: for tests that kill nodes."""
    yield from _running(RedisClusterServers(tmp_path_factory.mktemp("fresh-redis-cluster")))


@pytest.fixture
def fresh_redis_sentinel(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[RedisSentinelServers]:
    """A sentinel set of this test's own, stopped after it: for tests that kill nodes."""
    yield from _running(RedisSentinelServers(tmp_path_factory.mktemp("fresh-redis-sentinel")))


REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
DEPLOYMENTS = ("single", "sentinel", "cluster")


@pytest.fixture(params=DEPLOYMENTS)
def redis_url(request: pytest.FixtureRequest) -> str:
    """The URL of one server, of the Sentinels, or of Cluster seed nodes."""
    if request.param == "single":
        return REDIS_URL
    return str(request.getfixturevalue(f"redis_{request.param}").url)
