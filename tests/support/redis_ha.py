"""Highly-available Redis sets of the tests' own on 127.0.0.1, for failover tests: a
six-node cluster (three masters, three replicas) and a master/replica pair watched by three
sentinels. Every node is a real redis-server process to SIGKILL and start again; `stop()`
(or the atexit hook registered by `start()`) leaves none behind. Health checks use the
redis-py sync client, one short-lived connection per command, without retries."""

from __future__ import annotations

import atexit
import collections
import secrets
import signal
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from tests.support.process import free_port

REDIS_SERVER = "/usr/bin/redis-server"
REDIS_CLI = "/usr/bin/redis-cli"
HOST = "127.0.0.1"
SLOTS = 16384
POLL = 0.02  # seconds between two health checks

# Data nodes: no persistence, and a full sync starts at once instead of after 5 s.
DATA_ARGS = ["--save", "", "--appendonly", "no", "--repl-diskless-sync-delay", "0"]


def _free_ports(count: int) -> list[int]:
    """`count` distinct free ports."""
    ports: list[int] = []
    while len(ports) < count:
        port = free_port()
        if port not in ports:
            ports.append(port)
    return ports


_PASSWORDS: dict[int, str] = {}  # port → the password that node requires (sentinels)


def _call(port: int, *args: str | int) -> Any:
    """One command to one node on a connection of its own: no pool, no retry."""
    client = redis.Redis(
        host=HOST,
        port=port,
        password=_PASSWORDS.get(port),
        socket_timeout=0.5,
        socket_connect_timeout=0.5,
        decode_responses=True,
        retry=Retry(NoBackoff(), 0),
    )
    try:
        return client.execute_command(*args)  # type: ignore[no-untyped-call]
    finally:
        client.close()


def _fields(text: str) -> dict[str, str]:
    """`key:value` lines (CLUSTER INFO) as a dict."""
    return {key: value for key, _, value in (line.partition(":") for line in text.splitlines())}


def _pairs(reply: Mapping[str, Any] | Sequence[Any]) -> dict[str, Any]:
    """A map (RESP3) or flat `[key, value, ...]` (RESP2) reply, SENTINEL SENTINELS', as a dict."""
    if isinstance(reply, Mapping):
        return dict(reply)
    return {str(reply[i]): reply[i + 1] for i in range(0, len(reply), 2)}


def _reachable(flags: str) -> bool:
    """Whether a sentinel's flags for an instance say it is connected and answering."""
    return not {"disconnected", "s_down", "o_down"} & set(flags.split(","))


class _Node:
    """One redis-server process: its port, directory and arguments, to kill and start again."""

    def __init__(self, port: int, directory: Path, args: list[str]) -> None:
        self.port, self.dir, self.args = port, directory, args
        self.dir.mkdir(parents=True, exist_ok=True)
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def log(self) -> Path:
        return self.dir / "redis.log"

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def start(self, extra: Sequence[str] = ()) -> None:
        if self.alive:
            raise RuntimeError(f"redis node {self.port} is already running")
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(
                [REDIS_SERVER, *self.args, *extra],
                cwd=self.dir,
                stdout=log,
                stderr=subprocess.STDOUT,
            )

    def kill(self) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGCONT)
            self.proc.kill()
        self.proc.wait(timeout=10)

    def log_tail(self, lines: int = 15) -> str:
        try:
            text = self.log.read_text(errors="replace").splitlines()[-lines:]
        except FileNotFoundError:
            text = []
        return f"--- node {self.port} ({'up' if self.alive else 'down'}) ---\n" + "\n".join(text)


class _ServerSet:
    """Redis processes started and stopped together."""

    def __init__(self, directory: Path) -> None:
        self.dir = directory
        self.nodes: dict[int, _Node] = {}
        self.start_seconds = 0.0  # how long the last `start()` took

    def live(self, ports: Sequence[int]) -> list[int]:
        return [port for port in ports if self.nodes[port].alive]

    def kill(self, port: int) -> None:
        """SIGKILL the node on `port` (data node or sentinel) and reap it."""
        self.nodes[port].kill()

    def _wait_ping(self, ports: Sequence[int], timeout: float = 10) -> None:
        """Wait until the nodes on `ports` answer PING; fail at once if one has exited."""

        def answering() -> bool:
            for port in ports:
                node = self.nodes[port]
                if not node.alive:
                    raise RuntimeError(f"redis node {port} exited:\n{node.log_tail()}")
                _call(port, "PING")
            return True

        self._wait(f"nodes {list(ports)} answer PING", answering, timeout)

    def _wait(self, what: str, check: Callable[[], bool], timeout: float) -> float:
        """Poll `check` until it holds; the seconds waited. Redis errors count as not yet."""
        begin = time.monotonic()
        deadline = begin + timeout
        while True:
            try:
                if check():
                    return time.monotonic() - begin
            except redis.RedisError:
                pass
            if time.monotonic() > deadline:
                logs = "\n".join(node.log_tail() for node in self.nodes.values())
                raise TimeoutError(f"{what}: not after {timeout}s\n{logs}")
            time.sleep(POLL)

    def _run_start(self, start: Callable[[], None]) -> None:
        atexit.register(self.stop)
        begin = time.monotonic()
        try:
            start()
        except BaseException:
            self.stop()
            raise
        self.start_seconds = time.monotonic() - begin

    def stop(self) -> None:
        """Kill every process (thawing a SIGSTOPped one first) and reap it."""
        for node in self.nodes.values():
            node.kill()
        atexit.unregister(self.stop)


class RedisClusterServers(_ServerSet):
    """Six cluster-mode nodes: three masters with one replica each, created by
    `redis-cli --cluster create`. A node timeout of 1 s and a replica validity factor of 0
    make a replica take over its dead master's slots within a few seconds."""

    def __init__(self, directory: Path) -> None:
        super().__init__(directory)
        ports = _free_ports(12)  # a data port and a cluster bus port for each node
        self.ports: list[int] = ports[:6]
        for port, bus in zip(self.ports, ports[6:], strict=True):
            node_dir = directory / f"node-{port}"
            self.nodes[port] = _Node(
                port,
                node_dir,
                [
                    "--bind", HOST, "--port", str(port), "--dir", str(node_dir),
                    "--cluster-enabled", "yes",
                    "--cluster-config-file", "nodes.conf",
                    "--cluster-node-timeout", "1000",
                    "--cluster-port", str(bus),
                    "--cluster-replica-validity-factor", "0",
                    *DATA_ARGS,
                ],
            )  # fmt: skip

    @property
    def url(self) -> str:
        return f"redis+cluster://{HOST}:{self.ports[0]},{HOST}:{self.ports[1]}/"

    def start(self) -> None:
        """Start the nodes, create the cluster; return once it is whole and replicated."""
        self._run_start(self._start)

    def _start(self) -> None:
        for node in self.nodes.values():
            node.start()
        self._wait_ping(self.ports)
        create = subprocess.run(
            [
                REDIS_CLI, "--cluster", "create",
                *(f"{HOST}:{port}" for port in self.ports),
                "--cluster-replicas", "1", "--cluster-yes",
            ],
            capture_output=True,
            timeout=60,
            check=False,
        )  # fmt: skip
        if create.returncode != 0:
            out = (create.stdout + create.stderr).decode(errors="replace")
            raise RuntimeError(f"redis-cli --cluster create failed:\n{out}")
        self.wait_healthy()

    def wait_healthy(self, timeout: float = 15) -> float:
        """Wait until every node is up and sees the cluster ok, and each of the three masters
        has its replica online; the seconds waited."""
        return self._wait("cluster healthy", self._healthy, timeout)

    def _healthy(self) -> bool:
        if self.live(self.ports) != self.ports:
            return False
        for port in self.ports:
            info = _fields(_call(port, "CLUSTER", "INFO"))
            if (
                info.get("cluster_state") != "ok"
                or info.get("cluster_slots_ok") != str(SLOTS)
                or info.get("cluster_known_nodes") != str(len(self.ports))
            ):
                return False
        masters = self.masters()
        if len(masters) != 3:
            return False
        for port in masters:
            replication = _call(port, "INFO", "replication")
            replica = replication.get("slave0")
            if (
                replication.get("connected_slaves") != 1
                or not isinstance(replica, dict)
                or replica.get("state") != "online"
            ):
                return False
        return True

    def _slot_ranges(self, port: int) -> list[tuple[int, int, int]]:
        """(first slot, last slot, master port) for each range, as node `port` sees them."""
        return [(int(r[0]), int(r[1]), int(r[2][1])) for r in _call(port, "CLUSTER", "SLOTS")]

    def _any_live(self) -> int:
        for port in self.live(self.ports):
            return port
        raise RuntimeError("no cluster node is running")

    def masters(self) -> list[int]:
        """Ports of the masters serving slots, as a live node sees them."""
        return sorted({master for _, _, master in self._slot_ranges(self._any_live())})

    def master_for_key(self, key: str) -> int:
        """Port of the master serving `key`'s slot."""
        port = self._any_live()
        slot = int(_call(port, "CLUSTER", "KEYSLOT", key))
        for first, last, master in self._slot_ranges(port):
            if first <= slot <= last:
                return master
        raise RuntimeError(f"slot {slot} of {key!r} is not served")

    def wait_failover(self, dead_port: int, timeout: float = 15) -> float:
        """Wait until every live node sees the cluster ok and all slots served by live
        masters (none by `dead_port`); the seconds waited."""

        def covered() -> bool:
            live = self.live(self.ports)
            for port in live:
                if _fields(_call(port, "CLUSTER", "INFO")).get("cluster_state") != "ok":
                    return False
                ranges = self._slot_ranges(port)
                served = sum(last - first + 1 for first, last, m in ranges if m in live)
                if served != SLOTS:
                    return False
            return dead_port not in live

        return self._wait(f"failover from {dead_port}", covered, timeout)

    def restart(self, port: int) -> None:
        """Start a killed node again with its directory: nodes.conf makes it rejoin, as a
        replica if its slots have moved on. Returns once it answers PING; `wait_healthy()`
        waits for it to be in sync."""
        self.nodes[port].start()
        self._wait_ping([port])

    def flush(self) -> None:
        """FLUSHALL on every live master."""
        for port in self.live(self.masters()):
            _call(port, "FLUSHALL")


class RedisSentinelServers(_ServerSet):
    """A master and its replica watched by three sentinels (quorum 2, down after 1 s)."""

    service = "mymaster"

    def __init__(self, directory: Path, *, sentinel_password: str | None = None) -> None:
        super().__init__(directory)
        ports = _free_ports(5)
        self.data_ports: list[int] = ports[:2]
        self.sentinel_ports: list[int] = ports[2:]
        self.sentinel_password = sentinel_password  # the sentinels' requirepass, if any
        if sentinel_password:
            _PASSWORDS.update(dict.fromkeys(self.sentinel_ports, sentinel_password))
        for port in self.data_ports:
            node_dir = directory / f"data-{port}"
            args = ["--bind", HOST, "--port", str(port), "--dir", str(node_dir), *DATA_ARGS]
            self.nodes[port] = _Node(port, node_dir, args)
        self._ids = {port: secrets.token_hex(20) for port in self.sentinel_ports}
        for port in self.sentinel_ports:
            node_dir = directory / f"sentinel-{port}"
            self.nodes[port] = _Node(
                port, node_dir, [str(node_dir / "sentinel.conf"), "--sentinel"]
            )

    @property
    def url(self) -> str:
        hosts = ",".join(f"{HOST}:{port}" for port in self.sentinel_ports)
        return f"redis+sentinel://{hosts}/{self.service}/0"

    def start(self) -> None:
        """Start master and replica, then the sentinels; return once the replica is in sync
        and every sentinel knows the master, the replica and the two other sentinels."""
        self._run_start(self._start)

    def _start(self) -> None:
        master, replica = self.data_ports
        self.nodes[master].start()
        self.nodes[replica].start(["--replicaof", HOST, str(master)])
        self._wait_ping(self.data_ports)
        self._wait("replica in sync", lambda: self._replica_online(master), 10)
        for port in self.sentinel_ports:
            self._write_sentinel_conf(port, master, replica)
            self.nodes[port].start()
        self._wait_ping(self.sentinel_ports)
        self.wait_healthy()

    def _write_sentinel_conf(self, port: int, master: int, replica: int) -> None:
        """A writable config (sentinel rewrites it) that already names the other sentinels
        and the replica, as sentinel itself would save them: no 2 s wait for hello messages
        or 10 s for the master's next INFO."""
        name = self.service
        lines = [
            f"port {port}",
            f"bind {HOST}",
            f"dir {self.nodes[port].dir}",
            "sentinel resolve-hostnames no",
            f"sentinel myid {self._ids[port]}",
            f"sentinel monitor {name} {HOST} {master} 2",
            f"sentinel down-after-milliseconds {name} 1000",
            f"sentinel failover-timeout {name} 5000",
            f"sentinel parallel-syncs {name} 1",
            f"sentinel known-replica {name} {HOST} {replica}",
            *(
                (
                    f"requirepass {self.sentinel_password}",
                    f"sentinel sentinel-pass {self.sentinel_password}",
                )
                if self.sentinel_password
                else ()
            ),
            *(
                f"sentinel known-sentinel {name} {HOST} {other} {self._ids[other]}"
                for other in self.sentinel_ports
                if other != port
            ),
        ]
        (self.nodes[port].dir / "sentinel.conf").write_text("\n".join(lines) + "\n")

    def wait_healthy(self, timeout: float = 15) -> float:
        """Wait until the master named by the sentinels has a replica online and every
        sentinel sees it, that replica and the two other sentinels, all reachable; the
        seconds waited."""
        return self._wait("sentinel set healthy", self._healthy, timeout)

    def _healthy(self) -> bool:
        if self.live(self.sentinel_ports) != self.sentinel_ports:
            return False
        master = self.master_port()
        if not self._replica_online(master):
            return False
        for port in self.sentinel_ports:
            if self._master_addr(port) != master:
                return False
            sentinels = [_pairs(s) for s in _call(port, "SENTINEL", "SENTINELS", self.service)]
            replicas = [_pairs(r) for r in _call(port, "SENTINEL", "REPLICAS", self.service)]
            if len(sentinels) != 2 or len(replicas) != 1:
                return False
            if not all(_reachable(s["flags"]) for s in sentinels):
                return False
            if not _reachable(replicas[0]["flags"]) or replicas[0]["master-link-status"] != "ok":
                return False
        return True

    def _replica_online(self, master: int) -> bool:
        replication = _call(master, "INFO", "replication")
        replica = replication.get("slave0")
        return (
            replication.get("role") == "master"
            and replication.get("connected_slaves") == 1
            and isinstance(replica, dict)
            and replica.get("state") == "online"
        )

    def _master_addr(self, sentinel: int) -> int:
        _host, port = _call(sentinel, "SENTINEL", "GET-MASTER-ADDR-BY-NAME", self.service)
        return int(port)

    def master_port(self) -> int:
        """The master's port, as most live sentinels name it."""
        votes: collections.Counter[int] = collections.Counter()
        for sentinel in self.live(self.sentinel_ports):
            try:
                votes[self._master_addr(sentinel)] += 1
            except redis.RedisError:
                continue
        if not votes:
            raise redis.ConnectionError("no sentinel names a master")
        return votes.most_common(1)[0][0]

    def kill_master(self) -> int:
        """SIGKILL the current master; its port."""
        port = self.master_port()
        self.kill(port)
        return port

    def wait_failover(self, old_port: int, timeout: float = 20) -> float:
        """Wait until a majority of sentinels name one other master and that node says it
        is one; the seconds waited."""
        majority = len(self.sentinel_ports) // 2 + 1

        def promoted() -> bool:
            votes: collections.Counter[int] = collections.Counter()
            for sentinel in self.live(self.sentinel_ports):
                votes[self._master_addr(sentinel)] += 1
            if not votes:
                return False
            port, count = votes.most_common(1)[0]
            return port != old_port and count >= majority and _call(port, "ROLE")[0] == "master"

        return self._wait(f"failover from {old_port}", promoted, timeout)

    def restart(self, port: int) -> None:
        """Start a killed data node again on its port. A node that is no longer the master
        starts as a replica of the current one, as an operator would restart it: left to
        sentinel, it would be a second master for some 8 s before being demoted. Returns
        once it answers PING; `wait_healthy()` waits for it to be in sync."""
        master = self.master_port()
        self.nodes[port].start([] if port == master else ["--replicaof", HOST, str(master)])
        self._wait_ping([port])

    def flush(self) -> None:
        """FLUSHALL on the master."""
        _call(self.master_port(), "FLUSHALL")
