"""The gateway's own client (gateway/store/resp.py) on real highly-available Redis sets
(tests/support/redis_ha.py): key slots as the cluster computes them, pipelines split across
masters, a slot resharded under the client (ASK, then MOVED), and failovers of a Cluster
master and of a Sentinel-watched master followed by the same client object, which fails
fast meanwhile (ConnectionError or TimeoutError, never a hang nor a wrong answer) and never
writes to the demoted master once it is back.

The redis-py sync client is the tests' own hand on single nodes (CLUSTER SETSLOT, MIGRATE,
ROLE): one short-lived connection per command."""

from __future__ import annotations

import asyncio
import random
import signal
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import pytest
import redis
import redis.exceptions as rx

from gateway.store.resp import RedisLink, connect, key_slot
from tests.support.redis_ha import HOST, RedisClusterServers, RedisSentinelServers

TIMEOUT = 0.5  # the client's, in the failover tests: no call may take longer
SLACK = 0.25  # scheduling noise on a busy test machine
OUTAGE_LIMIT = 20.0  # seconds a failover may take before the test gives up


def call(port: int, *args: Any) -> Any:
    """One command to one node on a connection of its own (decoded replies)."""
    with redis.Redis(
        host=HOST, port=port, socket_timeout=2, socket_connect_timeout=2, decode_responses=True
    ) as node:
        return node.execute_command(*args)


def served_port(info: bytes) -> int:
    """The tcp_port of an INFO server reply: which node answered."""
    for line in info.decode().splitlines():
        if line.startswith("tcp_port:"):
            return int(line.split(":", 1)[1])
    raise AssertionError("INFO has no tcp_port")


def key_on(servers: RedisClusterServers, port: int, prefix: str) -> str:
    """A fresh key whose slot the master on `port` serves."""
    for i in range(10_000):
        key = f"{prefix}k{i}"
        if servers.master_for_key(key) == port:
            return key
    raise AssertionError(f"no key found for master {port}")


async def cleanup(client: RedisLink, keys: Sequence[str]) -> None:
    await client.pipeline([("DEL", key) for key in keys])  # one a key: any slot


# --- key slots -----------------------------------------------------------------------------


def random_key(rng: random.Random) -> str:
    """Keys as the gateway writes them and worse: braces anywhere, empty tags, non-ASCII."""
    alphabet = "abcxyz019:_-{}{}{}é∂€ "
    key = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 24)))
    if rng.random() < 0.3:
        key = f"lg:{{{key[:6]}}}:{key[6:]}"
    return key


def test_key_slot_agrees_with_cluster_keyslot(redis_cluster: RedisClusterServers) -> None:
    rng = random.Random(20240611)
    keys = [random_key(rng) for _ in range(200)]
    assert sum("{" in key for key in keys) > 50
    with redis.Redis(host=HOST, port=redis_cluster.ports[0], socket_timeout=2) as node:
        pipe = node.pipeline(transaction=False)
        for key in keys:
            pipe.execute_command("CLUSTER", "KEYSLOT", key)
        slots = pipe.execute()
    wrong = [(k, key_slot(k), s) for k, s in zip(keys, slots, strict=True) if key_slot(k) != s]
    assert wrong == []


# --- pipelines across masters ------------------------------------------------------------


@pytest.fixture
async def cluster_client(redis_cluster: RedisClusterServers) -> AsyncIterator[RedisLink]:
    client = connect(redis_cluster.url, timeout=2.0)
    yield client
    await client.aclose()


async def test_a_pipeline_across_the_masters_answers_in_order(
    redis_cluster: RedisClusterServers, cluster_client: RedisLink, prefix: str
) -> None:
    masters = redis_cluster.masters()
    assert len(masters) == 3
    a, b, c = (key_on(redis_cluster, port, prefix) for port in masters)
    await cluster_client.execute("PING")  # the slot map is read
    writes = cluster_client.writes
    replies = await cluster_client.pipeline(
        [
            ("SET", a, "va"),
            ("SET", b, "vb"),
            ("GET", c),
            ("SET", c, "vc"),
            ("GET", b),
            ("INCR", a),  # not an integer: an error in its place, the rest still answered
            ("GET", a),
            ("APPEND", c, "+"),
            ("MGET", b),
            ("GET", c),
            ("DEL", a, a),  # keys of one slot are fine in one command
        ]
    )
    assert cluster_client.writes - writes == 3  # one write to each master
    assert replies[:5] == [b"OK", b"OK", None, b"OK", b"vb"]
    assert isinstance(replies[5], rx.ResponseError)
    assert "not an integer" in str(replies[5])
    assert replies[6:] == [b"va", 3, [b"vb"], b"vc+", 1]
    for port, key, value in ((masters[1], b, "vb"), (masters[2], c, "vc+")):
        assert call(port, "GET", key) == value  # really on that master
    await cleanup(cluster_client, [a, b, c])


async def test_a_keyless_command_follows_the_command_before_it(
    redis_cluster: RedisClusterServers, cluster_client: RedisLink, prefix: str
) -> None:
    masters = redis_cluster.masters()
    keys = [key_on(redis_cluster, port, prefix) for port in masters]
    # INFO is keyless as WAIT is: the node that answers it is the one of the write before.
    commands: list[tuple[Any, ...]] = []
    for key in reversed(keys):
        commands += [("SET", key, "v"), ("INFO", "server")]
    replies = await cluster_client.pipeline(commands)
    assert [served_port(info) for info in replies[1::2]] == list(reversed(masters))
    # WAIT after a write, on that write's connection: its replica confirms it.
    for key in keys:
        assert await cluster_client.pipeline([("SET", key, "w"), ("WAIT", 1, 1000)]) == [
            b"OK",
            1,
        ]
    commands = [c for key in keys for c in (("SET", key, "x"), ("WAIT", 1, 1000))]
    assert await cluster_client.pipeline(commands) == [b"OK", 1] * 3
    await cleanup(cluster_client, keys)


# --- resharding ----------------------------------------------------------------------------

SCRIPT = "return redis.call('GET', KEYS[1])  -- test_cluster_client"


async def test_a_slot_moved_under_the_client_is_followed(
    fresh_redis_cluster: RedisClusterServers,
) -> None:
    servers = fresh_redis_cluster
    client = connect(servers.url, timeout=2.0)
    try:
        moved, stays, new, later = (f"{{reshard}}:{name}" for name in ("m", "s", "n", "l"))
        slot = key_slot(moved)
        assert await client.pipeline([("SET", moved, "m"), ("SET", stays, "s")]) == [b"OK"] * 2
        source = servers.master_for_key(moved)
        target, third = (port for port in servers.masters() if port != source)
        ids = {port: call(port, "CLUSTER", "MYID") for port in (source, target, third)}

        # The slot migrates: `moved` is on the target already, `stays` not yet.
        assert call(target, "CLUSTER", "SETSLOT", slot, "IMPORTING", ids[source]) == "OK"
        assert call(source, "CLUSTER", "SETSLOT", slot, "MIGRATING", ids[target]) == "OK"
        assert call(source, "MIGRATE", HOST, target, moved, 0, 5000) == "OK"
        writes = client.writes
        assert await client.execute("GET", moved) == b"m"  # ASK followed
        assert client.writes - writes == 2  # the source said ASK, the target answered
        writes = client.writes
        assert await client.execute("GET", stays) == b"s"  # still on the source
        assert client.writes - writes == 1
        assert await client.execute("GET", moved) == b"m"  # ASK is not remembered
        assert await client.execute("SET", new, "n") == b"OK"  # a new key: on the target
        assert await client.evalsha(SCRIPT, [moved], []) == b"m"
        assert await client.pipeline([("GET", stays), ("GET", moved), ("GET", new)]) == [
            b"s",
            b"m",
            b"n",
        ]

        # The rest of the slot, then its new owner told to every master.
        assert call(source, "MIGRATE", HOST, target, stays, 0, 5000) == "OK"
        for port in (target, source, third):
            assert call(port, "CLUSTER", "SETSLOT", slot, "NODE", ids[target]) == "OK"
        assert servers.master_for_key(moved) == target

        writes = client.writes
        assert await client.execute("GET", moved) == b"m"  # MOVED followed
        assert client.writes - writes == 2
        writes = client.writes
        assert await client.execute("GET", stays) == b"s"  # the map learned it
        assert client.writes - writes == 1
        assert await client.execute("SET", later, "l") == b"OK"
        assert await client.execute("GET", new) == b"n"
        assert await client.evalsha(SCRIPT, [stays], []) == b"s"
        assert await client.evalsha(SCRIPT, [later], []) == b"l"
        await asyncio.sleep(0.15)  # past LeanCluster.REFRESH_SECONDS: the map is read again
        writes = client.writes
        assert await client.pipeline([("GET", k) for k in (moved, stays, new, later)]) == [
            b"m",
            b"s",
            b"n",
            b"l",
        ]
        assert client.writes - writes == 1
        assert call(target, "CLUSTER", "COUNTKEYSINSLOT", slot) == 4
        assert call(source, "CLUSTER", "COUNTKEYSINSLOT", slot) == 0
    finally:
        await client.aclose()


# --- failovers ----------------------------------------------------------------------------


@dataclass
class Outage:
    """What a client answered while a master was down, attempt by attempt."""

    began: float = field(default_factory=time.monotonic)
    errors: list[tuple[float, str, BaseException]] = field(default_factory=list)
    served: int = 0  # answers of the other slots during the outage
    slowest: float = 0.0  # the longest single call, in seconds
    recovered: float = 0.0  # seconds from the kill to the first right answer

    @property
    def failing_seconds(self) -> float:
        return self.recovered - self.errors[0][0] if self.errors else 0.0

    def kinds(self, what: str) -> set[str]:
        """The kinds of error `what` ("target", "other") met: class, and a Redis error's code."""
        return {_kind(error) for _, who, error in self.errors if who == what}


def _kind(error: BaseException) -> str:
    code = f" {str(error).split()[0]}" if isinstance(error, rx.ResponseError) else ""
    return type(error).__name__ + code


async def _attempt(
    outage: Outage, what: str, command: Callable[[], Awaitable[Any]], expected: Any
) -> bool:
    """One call: True if answered right; its error kept; a wrong answer or a hang fails."""
    start = time.monotonic()
    try:
        reply = await asyncio.wait_for(command(), timeout=TIMEOUT * 6)
    except TimeoutError:  # asyncio's: the client did not give up by itself
        pytest.fail(f"{what}: the call hung for {TIMEOUT * 6}s")
    except rx.RedisError as exc:
        outage.errors.append((start - outage.began, what, exc))
        return False
    finally:
        outage.slowest = max(outage.slowest, time.monotonic() - start)
    assert reply == expected, f"{what}: a wrong answer {reply!r} during the failover"
    return True


async def ride_out(
    command: Callable[[], Awaitable[Any]],
    expected: Any,
    others: Sequence[tuple[Callable[[], Awaitable[Any]], Any]] = (),
) -> Outage:
    """Call `command` (and the `others`, which should be unaffected) every 50 ms from the
    kill until `command` is answered right again."""
    outage = Outage()
    while time.monotonic() - outage.began < OUTAGE_LIMIT:
        served = await _attempt(outage, "target", command, expected)
        for other, other_expected in others:
            outage.served += await _attempt(outage, "other", other, other_expected)
        if served:
            outage.recovered = time.monotonic() - outage.began
            return outage
        await asyncio.sleep(0.05)
    pytest.fail(f"not served again {OUTAGE_LIMIT}s after the kill: {outage.kinds('target')}")


def slot_master(port: int, key: str) -> int:
    """The port of the master serving `key`'s slot, as the node on `port` sees it."""
    slot = key_slot(key)
    for first, last, master, *_ in call(port, "CLUSTER", "SLOTS"):
        if first <= slot <= last:
            return int(master[1])
    raise AssertionError(f"slot {slot} is not served")


def replica_get(port: int, key: str) -> Any:
    """GET on a Cluster replica (READONLY on the same connection: no MOVED)."""
    with redis.Redis(host=HOST, port=port, socket_timeout=2, decode_responses=True) as node:
        pipe = node.pipeline(transaction=False)
        pipe.execute_command("READONLY")
        pipe.get(key)
        return pipe.execute()[1]


async def eventually(check: Callable[[], bool], what: str) -> float:
    """Poll `check` (Redis errors count as not yet); the seconds it took."""
    begin = time.monotonic()
    while True:
        try:
            if check():
                return time.monotonic() - begin
        except redis.RedisError:
            pass
        assert time.monotonic() - begin < OUTAGE_LIMIT, f"{what}: not after {OUTAGE_LIMIT}s"
        await asyncio.sleep(0.05)


async def confirmed_write(url: str, commands: list[tuple[Any, ...]]) -> None:
    """Writes each confirmed by a replica (WAIT 1 1000) before the test goes on, on a
    client of its own with a timeout longer than the WAIT's."""
    writer = connect(url, timeout=2.0)
    try:
        for command in commands:
            begin = time.monotonic()
            assert await writer.pipeline([command, ("WAIT", 1, 1000)]) == [b"OK", 1]
            if time.monotonic() - begin > TIMEOUT:
                print(f"\nWAIT 1 1000 took {time.monotonic() - begin:.2f}s")
    finally:
        await writer.aclose()


def take_down(servers: RedisClusterServers | RedisSentinelServers, port: int, how: str) -> None:
    """Take the node on `port` out: `how` "kill" is SIGKILL (connections refused at once),
    "freeze" SIGSTOP (connections accepted by the kernel, nothing answered: only the
    client's timeout ends a call)."""
    if how == "kill":
        servers.kill(port)
    else:
        process = servers.nodes[port].proc
        assert process is not None
        process.send_signal(signal.SIGSTOP)


def bring_back(servers: RedisClusterServers | RedisSentinelServers, port: int, how: str) -> None:
    """A killed node is started again (a replica of the new master: Cluster's nodes.conf,
    or --replicaof as an operator would); a frozen one resumes believing it is the master,
    until the Cluster or the Sentinels demote it."""
    if how == "kill":
        servers.restart(port)
    else:
        process = servers.nodes[port].proc
        assert process is not None
        process.send_signal(signal.SIGCONT)


async def write_until_demoted(client: RedisLink, key: str, old: int, new: int) -> int:
    """Write through the client until the old master says it is a replica; each write must
    be taken by the new master (the node that ran it answers ROLE and INFO on the same
    connection). The number of writes."""
    deadline = time.monotonic() + OUTAGE_LIMIT
    writes = 0
    while True:
        replies = await client.pipeline([("SET", key, f"w{writes}"), ("ROLE",), ("INFO", "server")])
        assert replies[0] == b"OK"
        assert replies[1][0] == b"master"
        assert served_port(replies[2]) == new, "a write went to the old master"
        writes += 1
        if call(old, "ROLE")[0] == "slave":
            return writes
        assert time.monotonic() < deadline, f"{old} was not demoted in {OUTAGE_LIMIT}s"
        await asyncio.sleep(0.05)


@pytest.mark.parametrize(
    ("how", "full_coverage"),
    [("kill", False), ("kill", True), ("freeze", False)],
    ids=["killed", "killed-full-coverage", "frozen"],
)
async def test_a_cluster_master_failover_is_followed_by_the_same_client(
    fresh_redis_cluster: RedisClusterServers, how: str, full_coverage: bool
) -> None:
    """Errors on the dead master's slots, the replica's answers on the same client once it
    took over; and the old master, back as a replica, gets no writes.

    With cluster-require-full-coverage no, the other masters serve their slots all along;
    with yes (Redis's default) they answer CLUSTERDOWN from the moment the dead master is
    marked failed until its replica takes over: Redis's refusal, passed on as it is."""
    servers = fresh_redis_cluster
    coverage = "yes" if full_coverage else "no"
    for port in servers.ports:
        call(port, "CONFIG", "SET", "cluster-require-full-coverage", coverage)
    old, other_master = servers.masters()[:2]
    key, other = key_on(servers, old, "fo:"), key_on(servers, other_master, "fo:")
    await confirmed_write(servers.url, [("SET", key, "kept"), ("SET", other, "other")])
    client = connect(servers.url, timeout=TIMEOUT)
    try:
        assert await client.pipeline([("GET", key), ("GET", other)]) == [b"kept", b"other"]

        take_down(servers, old, how)
        outage = await ride_out(
            lambda: client.execute("GET", key),
            b"kept",
            [(lambda: client.execute("GET", other), b"other")],
        )
        other_errors = [e for _, w, e in outage.errors if w == "other"]
        print(
            f"\ncluster, master {how}, full coverage {coverage}: its slot failed for "
            f"{outage.failing_seconds:.2f}s ({outage.kinds('target')}), served again "
            f"{outage.recovered:.2f}s after; other slots failed {len(other_errors)} time(s) "
            f"{outage.kinds('other')}, served {outage.served}; slowest call "
            f"{outage.slowest:.3f}s"
        )
        target_errors = [e for _, w, e in outage.errors if w == "target"]
        assert target_errors, "the outage was not noticed"
        assert outage.slowest <= TIMEOUT + SLACK
        for error in target_errors:
            assert isinstance(error, rx.ConnectionError | rx.TimeoutError) or (
                full_coverage and str(error).startswith("CLUSTERDOWN")
            ), repr(error)
        if full_coverage:
            assert all(str(e).startswith("CLUSTERDOWN") for e in other_errors), other_errors
            assert all(isinstance(e, rx.ResponseError) for e in other_errors)
        else:
            assert other_errors == []
        assert outage.served > 0

        # The replica took over: writes go to it, through the same client.
        # Asked of a node that answers (not a frozen one), which may learn of the promotion
        # a moment after the client was served by the new master (gossip).
        await eventually(lambda: slot_master(other_master, key) != old, "the new master known")
        new = slot_master(other_master, key)
        assert new != old
        assert await client.execute("SET", key, "after") == b"OK"
        assert call(new, "GET", key) == "after"

        # The old master comes back and is demoted: nothing is written to it.
        begin = time.monotonic()
        bring_back(servers, old, how)
        writes = await write_until_demoted(client, key, old, new)
        print(
            f"old master demoted {time.monotonic() - begin:.2f}s after coming back, {writes} writes"
        )
        replies = await client.pipeline([("SET", key, "last"), ("GET", other)])
        assert replies == [b"OK", b"other"]
        synced = await eventually(lambda: replica_get(old, key) == "last", "old master in sync")
        print(f"old master in sync with the new one {synced:.2f}s later")
        assert call(old, "ROLE")[0] == "slave"
    finally:
        await client.aclose()


async def _connection_id(client: RedisLink) -> int:
    return int(await client.execute("CLIENT", "ID"))


@pytest.mark.parametrize("how", ["kill", "freeze"], ids=["killed", "frozen"])
async def test_a_sentinel_failover_is_followed_by_the_same_client(
    fresh_redis_sentinel: RedisSentinelServers, how: str
) -> None:
    """Errors while the master is down, the new master's answers on the same client after
    the promotion; and once the old master is back and demoted, the client writes to the
    new master only, also after connecting again (Sentinel closes the clients of every node
    it reconfigures)."""
    servers = fresh_redis_sentinel
    await confirmed_write(servers.url, [("SET", "fo:kept", "kept")])
    client = connect(servers.url, timeout=TIMEOUT)
    try:
        assert await client.execute("GET", "fo:kept") == b"kept"
        old = servers.master_port()
        take_down(servers, old, how)
        outage = await ride_out(lambda: client.execute("GET", "fo:kept"), b"kept")
        print(
            f"\nsentinel, master {how}: failed for {outage.failing_seconds:.2f}s "
            f"({outage.kinds('target')}), served again {outage.recovered:.2f}s after; "
            f"slowest call {outage.slowest:.3f}s"
        )
        assert outage.errors, "the outage was not noticed"
        assert outage.slowest <= TIMEOUT + SLACK
        for _, _, error in outage.errors:
            assert isinstance(error, rx.ConnectionError | rx.TimeoutError), repr(error)

        servers.wait_failover(old)
        new = servers.master_port()
        assert new != old
        replies = await client.pipeline([("SET", "fo:after", "1"), ("INFO", "server")])
        assert replies[0] == b"OK"
        assert served_port(replies[1]) == new

        # The old master is back, and demoted.
        begin = time.monotonic()
        bring_back(servers, old, how)
        writes = await write_until_demoted(client, "fo:demoted", old, new)
        print(
            f"old master demoted {time.monotonic() - begin:.2f}s after coming back, {writes} writes"
        )
        synced = await eventually(lambda: call(old, "GET", "fo:after") == "1", "in sync")
        print(f"old master in sync with the new one {synced:.2f}s later")
        for attempt in range(3):
            assert call(new, "CLIENT", "KILL", "ID", await _connection_id(client)) == 1
            await asyncio.sleep(0.05)  # the close is seen
            key = f"fo:again{attempt}"
            replies = await client.pipeline([("SET", key, "new"), ("ROLE",), ("INFO", "server")])
            assert replies[0] == b"OK"
            assert replies[1][0] == b"master"
            assert served_port(replies[2]) == new
            assert call(new, "GET", key) == "new"
            assert call(old, "ROLE")[0] == "slave"
        second = connect(servers.url, timeout=TIMEOUT)  # as another gateway process
        try:
            assert served_port(await second.execute("INFO", "server")) == new
        finally:
            await second.aclose()
    finally:
        await client.aclose()
