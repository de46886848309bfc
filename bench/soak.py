"""`make soak`: sustained mixed traffic through a real gateway in front of a real sandbox,
with faults switched on and off in the sandbox; memory, descriptors and errors at the start
and at the end, and an exactly-once audit of every check-in against the sandbox's ledger.

What runs (started here, stopped at the end, logs in one temporary directory):

- the Punchh sandbox alone (`python -m gateway.cli sandbox`), memory state;
- the gateway (`python -m gateway`) in front of it: memory stores, GATEWAY_LOG_LEVEL=WARNING,
  every built-in rate-limit policy raised out of reach (the limiter runs, never refuses),
  first-byte timeouts lowered so that injected latency trips them (read 0.5 s, write and
  auth 1 s; PUNCHH_TIMEOUT_*_FIRST_BYTE), the idempotency book capped at --idempotency-entries
  (500) so that it is full before the START sample (a bounded cache filling up is not a
  leak: with the default 10000 it would still be filling at the END). Retries, circuit
  breaker and everything else at their defaults.

The run, in order:

1. Warm-up (--warmup, 10 s): a pool of guests signs up, then the mixed traffic below runs
   with only a handful of faults (PRIMER: one of most kinds, too few to open the circuit
   breaker), so that one-time costs of the failure paths are paid before START. The clients
   pause, things settle for a moment, and the START sample is taken: the gateway's RSS
   (summed over its process tree, from /proc), its open file descriptors (/proc/<pid>/fd)
   and threads, its live sessions and its /metrics counters.
2. Traffic (--duration, 120 s), --concurrency (16) clients each looping over: balance reads
   (a cached route), user look-ups, check-ins (no external_uid in the body; a fresh
   `Idempotency-Key` each, which the gateway makes the external_uid), repeats of an earlier
   check-in with the same key and body (must be answered with the same check-in, not
   applied again), double submits (the same check-in twice at once), visits (sign in on
   another device, read the balance, POST /gateway/logout) and, now and then, sign-ups
   (the new guest joins the pool); with a short random pause between requests (--think-ms)
   to keep the load generator light. Meanwhile a fault cycler switches sandbox faults on
   for a phase (--phase-seconds, 4 s), then off for a quiet period 1.5 times as long, in
   turn (FAULTS; --faults picks some): check-ins dropped after they were applied, latency
   beyond the first-byte timeouts, connections dropped before Punchh reads them, bursts of
   500, of 503, of 429 with Retry-After, and a mix: a check-in applied then dropped, the
   next call (the gateway's retry, often) answered 429. Each phase is printed with what the
   clients saw in it. RSS, descriptors and threads are also sampled along the way.
3. The clients behave: a check-in answered with an error whose outcome is "unknown", or a
   5xx without an outcome (Punchh's own), or a broken connection, is sent again later with
   the SAME key and body (backoff, Retry-After honoured, at most --max-attempts); a
   "not_applied" answer after an earlier "unknown" does not settle it either. Every
   check-in ends applied (a 2xx, or outcome "applied"), not_applied (outcome "not_applied",
   or a Punchh 4xx, with no unknown before it) or unknown (the client gave up).
4. After the traffic: faults cleared, pending retries drained, a settle (--settle, 5 s), the
   END sample. Once a fresh balance read through the gateway answers 200 (one at a time,
   30 s at most: a circuit breaker the last fault left open is closed by its half-open
   probe, not met by the audit's concurrent reads), the audit against the sandbox's ledger
   (/__sandbox/ledger): every applied key there exactly once and for the right guest, no
   not_applied key there, no key twice, points as answered; every guest's lifetime points
   equal the sum of their ledger check-ins (/__sandbox/users/<id>), and their balance read
   through the gateway (with `Cache-Control: no-cache`) equals the sandbox's. Repeats and
   double submits that came back with a different check-in count as violations too.
5. SIGTERM to the gateway (GATEWAY_SHUTDOWN_GRACE=0): its exit code and how long it took.

Stores (--store): `memory` (the default: the gateway's in-process stores, as above);
`redis`, `sentinel` or `cluster`: the soak starts its own Redis on 127.0.0.1 in the
temporary directory (tests/support/redis_server.py, tests/support/redis_ha.py: one server;
a master and a replica watched by three sentinels; a six-node cluster, three masters with a
replica each) and points the gateway at it (GATEWAY_STORE_URL redis://, redis+sentinel://,
redis+cluster://; GATEWAY_STORE_KEY; GATEWAY_STORE_PREFIX soak-<run>:), sessions, cache,
rate limits and Idempotency-Key records alike. With `sentinel` and `cluster` the fault cycle
gains FAILOVERs (--failovers, 2: at 1/3 and 2/3 of the traffic): SIGKILL of the master
(sentinel: the one the sentinels name; cluster: the master serving one fixed slot, so that
the second failover kills the replica promoted by the first and promotes the node restarted
after it), then the seconds until the set promoted a replica (wait_failover), then the
killed node started again and the seconds until it is back in sync as a replica
(wait_healthy). The report gives, for each failover, what the clients saw from the kill to
the next one: the 503 `session_store_unavailable` answers (how many, the first and the last
in seconds after the kill, the window between them), 503 `rate_limiter_unavailable`, 401
`invalid_session` (a session lost), the other errors meanwhile, 2xx answers per second
around the kill, and whether the gateway recovered (no store 503 in the last 3 s of the
window, 2xx answers after the last one). The Redis processes are stopped at the end
whatever happened.

Reading the report: the memory table gives START and END (and the growth, absolute and in
%) of the gateway's RSS, its descriptors and its live sessions; sessions grow with every
sign-up (visits log out; about 1.2 kB a session in the memory store, plus the new guest's
cache entries), so some RSS growth follows them. The timeline shows whether RSS is still
climbing at the end or flat. The sandbox's RSS is shown for context only (it keeps every
check-in). "gateway
/metrics" are the gateway's own counters over the traffic (END minus START): answers by
status, retries by reason, retries refused, circuit openings, idempotency results. The
check-in line gives the final states; "exactly-once" is the audit's verdict.

Exit status: 1 when the audit finds a violation or the gateway's exit code after SIGTERM is
not 0 (or a server died), or, with a Redis store, when a failover did not complete (no
replica promoted, the killed node not back as a replica) or the gateway did not recover
after one; memory growth is reported, not judged, with a WARNING above 20 % RSS or 10
descriptors. Every error answer counts in "errors by code" (store 503s too); a 500
`internal_error` or a code the gateway does not document is also listed on its own line.
Writes --out (bench/soak.json); on failure the servers' logs are kept.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import heapq
import itertools
import json
import os
import random
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Coroutine, Mapping
from contextlib import suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import aiohttp
from common import UNREACHABLE_LIMIT, UNREACHABLE_WINDOW, terminable, unreachable_policies

from gateway.described import ERRORS as DOCUMENTED_ERRORS

if TYPE_CHECKING:
    from tests.support.redis_ha import RedisClusterServers, RedisSentinelServers
    from tests.support.redis_server import RedisServer

ROOT = Path(__file__).resolve().parents[1]
HOST = "127.0.0.1"
CLIENT_ID, CLIENT_SECRET = "soak-client", "soak-client-secret-value"
SESSION_SECRET = "soak-session-secret-" + "s" * 32
ADMIN_TOKEN = "soak-admin-token-" + "a" * 24  # /metrics on the main port needs it
PASSWORD = "correct-horse-9"  # noqa: S105 (a sandbox guest's)

SIGN_UP = "/api/auth/customers.json"
SIGN_IN = "/api/auth/customers/sign_in"
CHECKIN = "/api/auth/checkins/online_order"
BALANCE = "/api/auth/checkins/balance"
USER = "/api/auth/users"
LOGOUT = "/gateway/logout"
LEDGER = "/__sandbox/ledger"
FAULTS_PATH = "/__sandbox/faults"

READ_FIRST_BYTE, WRITE_FIRST_BYTE, AUTH_FIRST_BYTE = 0.5, 1.0, 1.0
LATENCY_MS = 1500  # beyond every first-byte timeout above
PASS_THROUGH = ("PUNCHH_HTTP_CLIENT", "GATEWAY_EVENT_LOOP")
OUTCOMES = ("applied", "not_applied", "unknown")
SKIPPED_ROUTES = ("GET /metrics", "GET /readyz", "GET /healthz")

# --store: where the gateway keeps sessions, cache, rate limits and Idempotency-Key records.
STORES = ("memory", "redis", "sentinel", "cluster")
STORE_KEY = "soak-store-key-" + "k" * 32  # GATEWAY_STORE_KEY, 32+ characters
STORE_503, RATE_503 = "session_store_unavailable", "rate_limiter_unavailable"
LOST_SESSION = "invalid_session"
FAILOVER_SLOT_KEY = "soak"  # cluster: the failovers kill the master serving this key's slot
FAILOVER_TIMEOUT = 30.0  # seconds for a replica to be promoted, then for the node to rejoin
FAILOVER_MIN_LEFT = 8.0  # seconds of traffic a failover needs after its kill to be started
RECOVERY_MARGIN = 3.0  # no store 503 in the last seconds of a failover's window: recovered

# What the clients do, by weight (check-in retries that are due go first).
MIX: tuple[tuple[str, int], ...] = (
    ("balance", 34),
    ("user", 14),
    ("checkin", 30),
    ("repeat", 8),
    ("sign_in", 3),
    ("sign_up", 1),
)
DOUBLE_SUBMIT_SHARE = 0.1  # of fresh check-ins, sent twice at once


@dataclass(frozen=True)
class Fault:
    name: str
    what: str
    rules: tuple[dict[str, Any], ...]
    rearm: float | None = None  # seconds: the rules are set again this often (times-limited)


FAULTS: tuple[Fault, ...] = (
    Fault(
        "reset_after",
        "3 check-ins every 0.25 s applied, then the connection dropped (answer lost)",
        ({"path": CHECKIN, "reset": "after", "times": 3},),
        rearm=0.25,
    ),
    Fault(
        "latency",
        f"every call answered after {LATENCY_MS} ms (first-byte timeouts: read "
        f"{READ_FIRST_BYTE} s, write and auth {WRITE_FIRST_BYTE} s)",
        ({"latency_ms": LATENCY_MS},),
    ),
    Fault(
        "reset_before",
        "4 calls every 0.25 s dropped before Punchh reads them",
        ({"reset": "before", "times": 4},),
        rearm=0.25,
    ),
    Fault("status_500", "a burst of 40 answers 500", ({"status": 500, "times": 40},)),
    Fault("status_503", "a burst of 40 answers 503", ({"status": 503, "times": 40},)),
    Fault(
        "status_429",
        "a burst of 20 answers 429 with Retry-After: 1",
        ({"status": 429, "retry_after": 1, "times": 20},),
    ),
    Fault(
        "mixed",
        "every 0.5 s: a check-in applied then its connection dropped, and the next two "
        "check-in calls (the gateway's retry of it among them, as a rule: the first 429 "
        "makes the gateway hold the route) answered 429 with Retry-After: 1",
        (
            {"path": CHECKIN, "reset": "after", "times": 1},
            {"path": CHECKIN, "status": 429, "retry_after": 1, "times": 2},
        ),
        rearm=0.5,
    ),
)


# One fault of most kinds during the warm-up, 0.3 s apart (too few to open the circuit
# breaker): the first failure of a kind can cost memory once (pyreqwest's first dropped
# connection: about 10 MB of RSS), which belongs before START, not in the growth.
PRIMER: tuple[dict[str, Any], ...] = (
    {"path": CHECKIN, "reset": "after", "times": 1},
    {"reset": "before", "times": 1},
    {"latency_ms": LATENCY_MS, "times": 1},
    {"status": 500, "times": 1},
)


# ------------------------------------------------------------------------ processes


def _port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def _tree(root: int) -> list[int]:
    """`root` and its live descendants (from /proc/*/stat)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):  # gone meanwhile
            continue
        children.setdefault(ppid, []).append(int(entry.name))
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        if Path(f"/proc/{pid}").exists():
            found.append(pid)
            todo.extend(children.get(pid, []))
    return found


def _rss_bytes(pid: int) -> int:
    with suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


def _threads(pid: int) -> int:
    with suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("Threads:"):
                return int(line.split()[1])
    return 0


def _fds(pid: int) -> int:
    try:
        return len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return 0


def tree_rss_mb(root: int) -> float:
    return round(sum(_rss_bytes(pid) for pid in _tree(root)) / 2**20, 1)


def tree_fds(root: int) -> int:
    return sum(_fds(pid) for pid in _tree(root))


def tree_threads(root: int) -> int:
    return sum(_threads(pid) for pid in _tree(root))


@dataclass
class Server:
    name: str
    proc: subprocess.Popen[bytes]
    log: Path
    url: str

    def tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def check_alive(self) -> None:
        if self.proc.poll() is not None:
            raise RuntimeError(f"{self.name} exited with {self.proc.returncode}:\n{self.tail()}")

    def terminate(self, timeout: float) -> tuple[int | None, float]:
        """SIGTERM, then wait: (exit code, seconds); None when it had to be killed."""
        started = time.monotonic()
        if self.proc.poll() is not None:
            return self.proc.returncode, 0.0
        self.proc.send_signal(signal.SIGTERM)
        try:
            code: int | None = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)
            code = None
        return code, round(time.monotonic() - started, 2)


def _spawn(name: str, args: list[str], env: dict[str, str], tmp: Path, port: int) -> Server:
    log = tmp / f"{name}.log"
    with log.open("wb") as sink:
        proc = subprocess.Popen(
            args, env=env, stdout=sink, stderr=subprocess.STDOUT, start_new_session=True
        )
    return Server(name, proc, log, f"http://{HOST}:{port}")


def _clean_env() -> dict[str, str]:
    return {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("PUNCHH_", "GATEWAY_", "PROMETHEUS_MULTIPROC_DIR"))
    }


def _gateway_config(tmp: Path) -> Path:
    lines = ["# make soak: every rate-limit policy out of reach (the limiter runs, never refuses)."]
    lines += unreachable_policies()
    path = tmp / "gateway.toml"
    path.write_text("\n".join(lines) + "\n")
    return path


def gateway_env(
    tmp: Path, sandbox_url: str, port: int, args: argparse.Namespace, store: StoreSet
) -> dict[str, str]:
    circuit = {}
    if args.circuit_open_seconds is not None:
        circuit["GATEWAY_CIRCUIT_OPEN_SECONDS"] = str(args.circuit_open_seconds)
    stores = {}
    if store.url is not None:  # cache, rate limits and idempotency follow GATEWAY_STORE_URL
        stores = {
            "GATEWAY_STORE_URL": store.url,
            "GATEWAY_STORE_KEY": STORE_KEY,
            "GATEWAY_STORE_PREFIX": store.prefix,
        }
    return {
        **_clean_env(),
        "PUNCHH_BASE_URL": sandbox_url,
        "PUNCHH_CLIENT_ID": CLIENT_ID,
        "PUNCHH_CLIENT_SECRET": CLIENT_SECRET,
        "PUNCHH_TIMEOUT_READ_FIRST_BYTE": str(READ_FIRST_BYTE),
        "PUNCHH_TIMEOUT_WRITE_FIRST_BYTE": str(WRITE_FIRST_BYTE),
        "PUNCHH_TIMEOUT_AUTH_FIRST_BYTE": str(AUTH_FIRST_BYTE),
        "GATEWAY_SESSION_SECRET": SESSION_SECRET,
        "GATEWAY_ADMIN_TOKEN": ADMIN_TOKEN,
        "GATEWAY_HOST": HOST,
        "GATEWAY_PORT": str(port),
        "GATEWAY_LOG_LEVEL": "WARNING",
        "GATEWAY_SHUTDOWN_GRACE": "0",
        "GATEWAY_WORKERS": "1",
        "GATEWAY_IDEMPOTENCY_MAX_ENTRIES": str(args.idempotency_entries),
        **circuit,
        **stores,
        "GATEWAY_CONFIG": str(_gateway_config(tmp)),
        **{k: os.environ[k] for k in PASS_THROUGH if os.environ.get(k)},
    }


async def _wait_ready(http: aiohttp.ClientSession, server: Server, path: str) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        server.check_alive()
        with suppress(aiohttp.ClientError, TimeoutError):
            async with http.get(server.url + path) as resp:
                if resp.status == 200:
                    return
        await asyncio.sleep(0.05)
    raise RuntimeError(f"{server.name} did not answer {path} within 30 s:\n{server.tail()}")


# --------------------------------------------------------------------------- stores


@dataclass
class Failover:
    """One SIGKILL of a master and what the HA set did about it (seconds, ports)."""

    n: int
    at_s: float  # the kill, seconds after the traffic started
    killed: int
    killed_at: float  # time.monotonic() of the kill
    new_master: int | None = None
    promoted_s: float | None = None  # until a replica was promoted (wait_failover)
    rejoined_s: float | None = None  # from the restart until the set is whole (wait_healthy)
    rejoined_as: str | None = None  # "replica", as it should, or "master"
    error: str | None = None

    def as_json(self) -> dict[str, Any]:
        return {k: v for k, v in vars(self).items() if k != "killed_at"}


class StoreSet:
    """The Redis the gateway uses (none for --store memory): started in `directory`, stopped
    by `stop()` whatever happened; `failover()` kills a master and waits for the set to heal.
    The Redis helpers are the tests' own (tests/support), imported from the repository root
    (this script runs as `python bench/soak.py`: only bench/ is on its path)."""

    def __init__(self, kind: str, directory: Path) -> None:
        self.kind, self.dir = kind, directory
        self.prefix = f"soak-{secrets.token_hex(3)}:"  # no braces: a cluster spreads its keys
        self.single: RedisServer | None = None
        self.sentinel: RedisSentinelServers | None = None
        self.cluster: RedisClusterServers | None = None
        self.start_seconds = 0.0
        self.failovers: list[Failover] = []
        self.skipped: list[str] = []
        self.layout = "in-process"
        # A failover's thread restarts the killed node under this lock, and not once
        # `stop()` has run: no node outlives the soak.
        self._lock = threading.Lock()
        self._stopped = False

    @property
    def url(self) -> str | None:
        ha = self.sentinel or self.cluster or self.single
        return None if ha is None else ha.url

    @property
    def can_fail_over(self) -> bool:
        return self.kind in ("sentinel", "cluster")

    def start(self) -> None:
        if self.kind == "memory":
            return
        if not shutil.which("redis-server"):
            raise RuntimeError(f"--store {self.kind}: redis-server is not installed (make redis)")
        if str(ROOT) not in sys.path:
            sys.path.insert(0, str(ROOT))
        from tests.support.redis_ha import RedisClusterServers, RedisSentinelServers
        from tests.support.redis_server import RedisServer

        began = time.monotonic()
        if self.kind == "redis":
            self.dir.mkdir(parents=True, exist_ok=True)
            self.single = RedisServer(self.dir)
            self.single.start()
        elif self.kind == "sentinel":
            self.sentinel = RedisSentinelServers(self.dir)
            self.sentinel.start()
        else:
            self.cluster = RedisClusterServers(self.dir)
            self.cluster.start()
        self.start_seconds = round(time.monotonic() - began, 2)
        self.layout = self.describe()

    def stop(self) -> None:
        with self._lock:
            self._stopped = True
            for ha in (self.single, self.sentinel, self.cluster):
                if ha is not None:
                    ha.stop()

    def describe(self) -> str:
        if self.sentinel is not None:
            data = ", ".join(str(p) for p in self.sentinel.data_ports)
            watch = ", ".join(str(p) for p in self.sentinel.sentinel_ports)
            return f"master and replica on {data}, sentinels on {watch}"
        if self.cluster is not None:
            masters = self.cluster.masters()
            return f"6 nodes on {', '.join(str(p) for p in self.cluster.ports)}, masters {masters}"
        return "one server" if self.single is not None else "in-process"

    def failover(self, n: int, origin: float) -> Failover:
        """SIGKILL the master, wait until a replica is promoted, start the killed node again
        and wait until it is back in sync as a replica. Blocking: run it in a thread."""
        if self.sentinel is not None:
            ha: RedisSentinelServers | RedisClusterServers = self.sentinel
            killed_at = time.monotonic()
            victim = self.sentinel.kill_master()
        elif self.cluster is not None:
            ha = self.cluster
            victim = self.cluster.master_for_key(FAILOVER_SLOT_KEY)
            killed_at = time.monotonic()
            self.cluster.kill(victim)
        else:
            raise RuntimeError(f"--store {self.kind} has no replica to fail over to")
        done = Failover(n, round(killed_at - origin, 1), victim, killed_at)
        try:
            done.promoted_s = round(ha.wait_failover(victim, timeout=FAILOVER_TIMEOUT), 2)
            done.new_master = self._master()
        except Exception as exc:  # reported, and the run fails
            done.error = f"no replica promoted: {type(exc).__name__}: {str(exc)[:2000]}"
        try:
            began = time.monotonic()
            with self._lock:
                if self._stopped:
                    raise RuntimeError("the soak is stopping")
                ha.restart(victim)
            ha.wait_healthy(timeout=FAILOVER_TIMEOUT)
            done.rejoined_s = round(time.monotonic() - began, 2)
            done.rejoined_as = "master" if victim == self._master() else "replica"
        except Exception as exc:
            done.error = (done.error + "; " if done.error else "") + (
                f"the killed node did not rejoin: {type(exc).__name__}: {str(exc)[:2000]}"
            )
        self.failovers.append(done)
        return done

    def _master(self) -> int:
        if self.sentinel is not None:
            return self.sentinel.master_port()
        assert self.cluster is not None
        return self.cluster.master_for_key(FAILOVER_SLOT_KEY)

    async def run_failovers(self, count: int, origin: float, duration: float) -> None:
        """`count` failovers spread over the traffic (at 1/(count+1), 2/(count+1), ...),
        one after the other; one that would leave too little traffic after it is skipped."""
        for i in range(count):
            at = origin + duration * (i + 1) / (count + 1)
            await asyncio.sleep(max(0.0, at - time.monotonic()))
            left = origin + duration - time.monotonic()
            if left < FAILOVER_MIN_LEFT:
                self.skipped.append(f"failover {i + 1}: only {left:.1f} s of traffic left")
                print(f"  FAILOVER {i + 1} skipped: only {left:.1f} s of traffic left", flush=True)
                continue
            done = await in_daemon_thread(functools.partial(self.failover, i + 1, origin))
            role = "master" if self.sentinel is not None else f"master of {FAILOVER_SLOT_KEY!r}"
            promoted = (
                f"{done.new_master} promoted after {done.promoted_s} s"
                if done.promoted_s is not None
                else "NO replica promoted"
            )
            back = (
                f"{done.killed} restarted, back as a {done.rejoined_as} in {done.rejoined_s} s"
                if done.rejoined_s is not None
                else f"{done.killed} did NOT rejoin"
            )
            print(
                f"  [{done.at_s:6.1f} s] FAILOVER {done.n}    SIGKILL {role} {done.killed}; "
                f"{promoted}; {back}" + (f"\n    ERROR {done.error}" if done.error else ""),
                flush=True,
            )


T = TypeVar("T")


async def in_daemon_thread(work: Callable[[], T]) -> T:
    """`work()` in a daemon thread: unlike asyncio.to_thread's executor, the program does
    not wait for it when it stops (a failover's waits for Redis can last 30 s)."""
    loop = asyncio.get_running_loop()
    future: asyncio.Future[T] = loop.create_future()

    def run() -> None:
        try:
            result = work()
        except BaseException as exc:
            error = exc

            def deliver() -> None:
                if not future.done():
                    future.set_exception(error)
        else:

            def deliver() -> None:
                if not future.done():
                    future.set_result(result)

        with suppress(RuntimeError):  # the loop is closed: nobody waits any more
            loop.call_soon_threadsafe(deliver)

    threading.Thread(target=run, name="soak-failover", daemon=True).start()
    return await future


def failover_report(store: StoreSet, tally: Tally, end: float) -> dict[str, Any]:
    """What the clients saw around each failover (from its kill to the next, or to `end`):
    store 503s (count, first and last after the kill, the window between), lost sessions,
    the other errors, 2xx answers per second; and the verdict on the store."""
    labels = {code: f"{code} (503)" for code in (STORE_503, RATE_503)}
    lost = f"{LOST_SESSION} (401)"
    kills = [f.killed_at for f in store.failovers]
    out: list[dict[str, Any]] = []
    for i, done in enumerate(store.failovers):
        lo = done.killed_at
        hi = kills[i + 1] if i + 1 < len(kills) else end
        events = [(t, label) for t, label in tally.events if lo <= t < hi]
        store_503 = [t for t, label in events if label == labels[STORE_503]]
        first = store_503[0] - lo if store_503 else None
        last = store_503[-1] - lo if store_503 else None
        # The errors while the set healed: up to the last store 503 (or the promotion), + 1 s.
        healed = max(last or 0.0, done.promoted_s or 0.0) + 1.0
        others = Counter(label for t, label in events if t - lo <= healed)
        after = store_503[-1] if store_503 else lo
        ok_after = sum(n for sec, n in tally.ok_per_second.items() if after < sec < hi)
        base = int(lo)
        timeline = [tally.ok_per_second.get(base + k, 0) for k in range(-2, 13)]
        recovered = ok_after > 0 and (not store_503 or hi - store_503[-1] >= RECOVERY_MARGIN)
        out.append(
            {
                **done.as_json(),
                "window_end_s": round(hi - lo, 1),
                "clients": {
                    "session_store_unavailable_503": len(store_503),
                    "first_503_after_kill_s": None if first is None else round(first, 2),
                    "last_503_after_kill_s": None if last is None else round(last, 2),
                    "window_503_s": None
                    if first is None or last is None
                    else round(last - first, 2),
                    "rate_limiter_unavailable_503": sum(
                        1 for _, label in events if label == labels[RATE_503]
                    ),
                    "invalid_session_401": sum(1 for _, label in events if label == lost),
                    "errors_while_healing": dict(others.most_common()),
                    "ok_per_second_from_2s_before": timeline,
                    "ok_after_last_503": ok_after,
                },
                "recovered": recovered,
            }
        )
    before = min(kills, default=end)
    outside = sum(1 for t, label in tally.events if t < before and label == labels[STORE_503])
    problems = [f"failover {f['n']}: {f['error']}" for f in out if f["error"]]
    problems += [
        f"failover {f['n']}: the gateway did not recover" for f in out if not f["recovered"]
    ]
    if store.can_fail_over and not store.failovers and store.skipped:
        problems.append("no failover was done: " + "; ".join(store.skipped))
    return {
        "kind": store.kind,
        "url": store.url,
        "prefix": store.prefix,
        "servers": store.layout,
        "start_seconds": store.start_seconds,
        "failovers": out,
        "failovers_skipped": store.skipped,
        "session_store_unavailable_503": tally.errors[labels[STORE_503]],
        "session_store_unavailable_503_before_first_failover": outside,
        "rate_limiter_unavailable_503": tally.errors[labels[RATE_503]],
        "problems": problems,
        "ok": not problems,
    }


# -------------------------------------------------------------------------- metrics

_LABEL = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')


def parse_metrics(text: str) -> list[tuple[str, dict[str, str], float]]:
    """Prometheus exposition text as (name, labels, value) samples."""
    samples = []
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        head, _, value = line.rpartition(" ")
        name, _, labels = head.partition("{")
        try:
            samples.append((name, dict(_LABEL.findall(labels)), float(value)))
        except ValueError:
            continue
    return samples


def summarize_metrics(text: str) -> dict[str, Any]:
    """The gateway's counters that matter here, summed over routes."""
    by_status: Counter[str] = Counter()
    out: dict[str, Any] = {
        "requests_by_status": by_status,
        "retries_by_reason": Counter(),
        "retries_refused": Counter(),
        "circuit_opens": 0,
        "circuit_state": {},
        "idempotency": Counter(),
        "upstream_errors": Counter(),
        "rate_limited": 0,
        "active_sessions": 0,
    }
    for name, labels, value in parse_metrics(text):
        n = round(value)
        if name == "loyalty_gateway_requests_total":
            if labels.get("route") not in SKIPPED_ROUTES:
                by_status[labels.get("status", "?")] += n
        elif name == "loyalty_gateway_upstream_retries_total":
            out["retries_by_reason"][labels.get("reason", "?")] += n
        elif name == "loyalty_gateway_upstream_retries_refused_total":
            out["retries_refused"][labels.get("reason", "?")] += n
        elif name == "loyalty_gateway_circuit_transitions_total" and labels.get("state") == "open":
            out["circuit_opens"] += n
        elif name == "loyalty_gateway_circuit_state":
            state = {0: "closed", 1: "half_open", 2: "open"}.get(n, str(n))
            out["circuit_state"][labels.get("family", "?")] = state
        elif name == "loyalty_gateway_idempotency_requests_total":
            out["idempotency"][labels.get("result", "?")] += n
        elif name == "loyalty_gateway_upstream_errors_total":
            out["upstream_errors"][labels.get("kind", "?")] += n
        elif name == "loyalty_gateway_rate_limited_total":
            out["rate_limited"] += n
        elif name == "loyalty_gateway_active_sessions":
            out["active_sessions"] = n
    out["requests_total"] = sum(by_status.values())
    out["requests_non_2xx"] = sum(v for k, v in by_status.items() if not k.startswith("2"))
    out["retries_total"] = sum(out["retries_by_reason"].values())
    plain: dict[str, Any] = _plain(out)
    return plain


def metrics_delta(start: dict[str, Any], end: dict[str, Any]) -> dict[str, Any]:
    """END minus START for the counters (gauges as at the END)."""
    out: dict[str, Any] = {}
    for key, value in end.items():
        before = start.get(key)
        if isinstance(value, dict) and key != "circuit_state":
            before = before if isinstance(before, dict) else {}
            diff = {k: v - before.get(k, 0) for k, v in value.items()}
            out[key] = {k: v for k, v in sorted(diff.items()) if v}
        elif isinstance(value, int) and key != "active_sessions" and isinstance(before, int):
            out[key] = value - before
        else:
            out[key] = value
    return out


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in sorted(value.items())}
    return value


# --------------------------------------------------------------------------- clients


@dataclass
class Guest:
    email: str
    user_id: int
    token: str


@dataclass
class Checkin:
    key: str
    guest: Guest
    body: dict[str, Any]
    attempts: int = 0
    state: str = "pending"  # then applied | not_applied | unknown
    saw_unknown: bool = False  # an attempt may have applied it
    history: list[str] = field(default_factory=list)
    checkin_id: int | None = None
    points: int | None = None


@dataclass
class Reply:
    status: int  # 0: no answer (the connection to the gateway failed)
    doc: Any
    replayed: bool
    retry_after: float | None
    text: str = ""


def classify(status: int, doc: Any) -> str:
    """What one answer to a check-in says became of it: applied, not_applied or unknown."""
    if 200 <= status < 300:
        return "applied"
    error = doc.get("error") if isinstance(doc, dict) else None
    if isinstance(error, dict) and error.get("outcome") in OUTCOMES:
        return str(error["outcome"])
    if status == 0 or status >= 500:  # no answer, or Punchh's own 5xx (passed through)
        return "unknown"
    return "not_applied"  # Punchh's 4xx


def _checkin_id(doc: Any) -> Any:
    found = doc.get("checkin") if isinstance(doc, dict) else None
    return found.get("checkin_id") if isinstance(found, dict) else None


def describe(reply: Reply) -> str:
    """One answer in a check-in's history: status, error code, outcome, replayed."""
    error = reply.doc.get("error") if isinstance(reply.doc, dict) else None
    code = error.get("code") if isinstance(error, dict) else "punchh" if reply.status else ""
    replayed = " replayed" if reply.replayed else ""
    text = f"{reply.status or 'no_answer'} {code} {classify(reply.status, reply.doc)}"
    return text.replace("  ", " ") + replayed


def error_label(status: int, doc: Any) -> str:
    if status == 0:
        return "no answer (connection to the gateway)"
    error = doc.get("error") if isinstance(doc, dict) else None
    if isinstance(error, dict) and isinstance(error.get("code"), str):
        return f"{error['code']} ({status})"
    return f"punchh {status}"


def unexpected_errors(errors: Mapping[str, int]) -> dict[str, int]:
    """Error answers no documented case explains: the gateway's 500 (`internal_error`) and
    any code the gateway does not document (gateway/docgen.py). Punchh's own errors and
    broken connections to the gateway are counted as errors, but not here."""
    found = {}
    for label, n in errors.items():
        if label.startswith(("punchh ", "no answer")):
            continue
        code, _, status = label.rpartition(" (")
        if status == "500)" or code not in DOCUMENTED_ERRORS:
            found[label] = n
    return found


@dataclass
class Tally:
    """What the clients saw: answers by operation and status, errors by code."""

    by_op: dict[str, Counter[str]] = field(default_factory=dict)
    by_status: Counter[str] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)
    total: int = 0
    # When: every error answer (time.monotonic(), label); 2xx answers per whole second.
    events: list[tuple[float, str]] = field(default_factory=list)
    ok_per_second: Counter[int] = field(default_factory=Counter)

    def note(self, op: str, status: int, doc: Any) -> None:
        label = str(status) if status else "no_answer"
        self.by_op.setdefault(op, Counter())[label] += 1
        self.by_status[label] += 1
        self.total += 1
        now = time.monotonic()
        if status == 0 or status >= 400:
            error = error_label(status, doc)
            self.errors[error] += 1
            self.events.append((now, error))
        elif 200 <= status < 300:
            self.ok_per_second[int(now)] += 1

    def snapshot(self) -> tuple[int, Counter[str]]:
        return self.total, Counter(self.by_status)


@dataclass
class Audit:
    """Answers that already contradict exactly-once, seen by the clients."""

    repeats: Counter[str] = field(default_factory=Counter)
    double_submits: Counter[str] = field(default_factory=Counter)
    wrong_answers: list[str] = field(default_factory=list)


class Soak:
    """The clients: a pool of guests, the check-ins made and their states, the retries due,
    and the tally of what they were answered."""

    def __init__(self, http: aiohttp.ClientSession, gateway: str, args: argparse.Namespace):
        self.http = http
        self.gateway = gateway
        self.args = args
        self.rng = random.Random(args.seed)  # noqa: S311 (load, not secrets)
        self.run_id = secrets.token_hex(3)
        self.tally = Tally()
        self.audit = Audit()
        self.guests: list[Guest] = []
        self.checkins: dict[str, Checkin] = {}
        self.recent: deque[Checkin] = deque(maxlen=128)  # applied, for repeats
        self.due: list[tuple[float, int, Checkin]] = []  # retries: (when, seq, check-in)
        self.seq = itertools.count()
        self.sign_ups = itertools.count(1)
        self.keys = itertools.count(1)
        self.stop = asyncio.Event()
        self.ops = [name for name, _ in MIX]
        self.weights = [weight for _, weight in MIX]

    # -- one request --------------------------------------------------------------

    async def call(
        self,
        op: str,
        method: str,
        path: str,
        *,
        token: str | None = None,
        body: Any = None,
        headers: Mapping[str, str] | None = None,
    ) -> Reply:
        sent = dict(headers or {})
        if token is not None:
            sent["Authorization"] = f"Bearer {token}"
        try:
            async with self.http.request(
                method, self.gateway + path, json=body, headers=sent
            ) as resp:
                raw = await resp.read()
                try:
                    doc = json.loads(raw) if raw else None
                except ValueError:
                    doc = None
                after = resp.headers.get("Retry-After")
                reply = Reply(
                    resp.status,
                    doc,
                    resp.headers.get("Idempotent-Replayed") == "true",
                    float(after) if after and after.isdigit() else None,
                    raw[:200].decode("utf-8", "replace"),
                )
        except (aiohttp.ClientError, TimeoutError) as exc:
            reply = Reply(0, None, False, None, repr(exc))
        self.tally.note(op, reply.status, reply.doc)
        return reply

    # -- guests -------------------------------------------------------------------

    async def sign_up(self) -> Guest | None:
        email = f"soak-{self.run_id}-{next(self.sign_ups)}@example.com"
        user = {"email": email, "password": PASSWORD, "first_name": "Soak", "last_name": "Guest"}
        reply = await self.call("sign_up", "POST", SIGN_UP, body={"user": user})
        if reply.status != 201 or not isinstance(reply.doc, dict):
            return None
        guest = Guest(email, int(reply.doc["id"]), str(reply.doc["access_token"]))
        self.guests.append(guest)
        return guest

    async def visit(self, guest: Guest) -> None:
        """A short visit on another device: sign in, read the balance, log out (the pool's
        own session is left alone, so that no other client's token is ended under it)."""
        body = {"user": {"email": guest.email, "password": PASSWORD}}
        reply = await self.call("sign_in", "POST", SIGN_IN, body=body)
        if reply.status != 200 or not isinstance(reply.doc, dict):
            return
        token = str(reply.doc["access_token"])
        await self.call("balance", "GET", BALANCE, token=token)
        await self.call("logout", "POST", LOGOUT, token=token)

    # -- check-ins ----------------------------------------------------------------

    def new_checkin(self, guest: Guest) -> Checkin:
        n = next(self.keys)
        key = f"soak-{self.run_id}-{n}"
        amount = round(self.rng.uniform(3, 60), 2)
        body = {
            "receipt_amount": amount,
            "subtotal_amount": amount,
            "payable": f"{amount:.2f}",
            "receipt_datetime": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "transaction_no": str(n),
            "channel": "online_order",
            # Punchh's check-in "Requires menu items" (seed 002): one line for the order.
            "menu_items": [
                {
                    "item_name": "Soak order",
                    "item_qty": 1,
                    "item_amount": amount,
                    "menu_item_type": "M",
                    "menu_item_id": 1,
                    "serial_number": "1.0",
                }
            ],
        }
        checkin = Checkin(key, guest, body)
        self.checkins[key] = checkin
        return checkin

    async def send_checkin(self, checkin: Checkin, op: str = "checkin") -> Reply:
        return await self.call(
            op,
            "POST",
            CHECKIN,
            token=checkin.guest.token,
            body=checkin.body,
            headers={"Idempotency-Key": checkin.key},
        )

    async def attempt(self, checkin: Checkin, *, double: bool = False) -> None:
        """One attempt of a check-in (twice at once when `double`), then its state."""
        checkin.attempts += 1
        if double:
            replies = list(
                await asyncio.gather(
                    self.send_checkin(checkin), self.send_checkin(checkin, "double_submit")
                )
            )
            self.compare_double(checkin, *replies)
        else:
            replies = [await self.send_checkin(checkin)]
        checkin.history.append(" & ".join(describe(r) for r in replies))
        # Two requests of one key: the check-in is applied when either says so (the other
        # may have been refused on its own, e.g. by the route's hold after a 429).
        self.settle(checkin, min(replies, key=lambda r: OUTCOMES.index(classify(r.status, r.doc))))

    def settle(self, checkin: Checkin, reply: Reply) -> None:
        outcome = classify(reply.status, reply.doc)
        if outcome == "applied":
            checkin.state = "applied"
            found = reply.doc.get("checkin") if isinstance(reply.doc, dict) else None
            if isinstance(found, dict):
                checkin.checkin_id = found.get("checkin_id")
                checkin.points = found.get("points_earned")
                if found.get("external_uid") != checkin.key:
                    self.audit.wrong_answers.append(
                        f"check-in {checkin.key} answered with external_uid "
                        f"{found.get('external_uid')!r}"
                    )
                self.recent.append(checkin)
            return
        if outcome == "unknown":
            checkin.saw_unknown = True
        elif not checkin.saw_unknown:  # not applied, and no attempt may have applied it
            checkin.state = "not_applied"
            return
        if checkin.attempts >= self.args.max_attempts:
            checkin.state = "unknown"
            return
        delay = reply.retry_after or min(0.5 * 2 ** (checkin.attempts - 1), 4.0)
        delay = min(delay, 5.0) * self.rng.uniform(0.5, 1.0)
        heapq.heappush(self.due, (time.monotonic() + delay, next(self.seq), checkin))

    def compare_double(self, checkin: Checkin, first: Reply, second: Reply) -> None:
        if first.status != second.status:
            self.audit.double_submits["different_status"] += 1
            return
        if first.status != 200:
            self.audit.double_submits["same_error"] += 1
            return
        ids = [_checkin_id(r.doc) for r in (first, second)]
        if ids[0] != ids[1]:
            self.audit.double_submits["different_checkin"] += 1
            self.audit.wrong_answers.append(
                f"double submit of {checkin.key}: check-ins {ids[0]} and {ids[1]}"
            )
        else:
            kind = "replayed" if first.replayed or second.replayed else "same_not_replayed"
            self.audit.double_submits[kind] += 1

    async def repeat(self) -> None:
        """An applied check-in sent again (same key, same body): its first answer again."""
        checkin = self.rng.choice(self.recent)
        reply = await self.send_checkin(checkin, "repeat")
        if reply.status != 200 or not isinstance(reply.doc, dict):
            self.audit.repeats[f"error {reply.status}"] += 1
            return
        got = _checkin_id(reply.doc)
        if got != checkin.checkin_id:
            self.audit.repeats["different_checkin"] += 1
            self.audit.wrong_answers.append(
                f"repeat of {checkin.key}: check-in {got}, first answered {checkin.checkin_id}"
            )
        else:
            self.audit.repeats["replayed" if reply.replayed else "deduped_by_punchh"] += 1

    def pop_due(self) -> Checkin | None:
        if self.due and self.due[0][0] <= time.monotonic():
            return heapq.heappop(self.due)[2]
        return None

    # -- the clients --------------------------------------------------------------

    async def one(self) -> None:
        retry = self.pop_due()
        if retry is not None:
            await self.attempt(retry)
            return
        op = self.rng.choices(self.ops, self.weights)[0]
        if op == "repeat" and not self.recent:
            op = "checkin"
        guest = self.rng.choice(self.guests)
        if op == "balance":
            await self.call("balance", "GET", BALANCE, token=guest.token)
        elif op == "user":
            await self.call("user", "GET", USER, token=guest.token)
        elif op == "checkin":
            double = self.rng.random() < DOUBLE_SUBMIT_SHARE
            await self.attempt(self.new_checkin(guest), double=double)
        elif op == "repeat":
            await self.repeat()
        elif op == "sign_in":
            await self.visit(guest)
        else:
            await self.sign_up()

    async def client(self) -> None:
        think = self.args.think_ms / 1000
        while not self.stop.is_set():
            await self.one()
            await asyncio.sleep(self.rng.uniform(0, 2 * think))

    async def traffic(
        self, seconds: float, during: Callable[[], Coroutine[Any, Any, None]]
    ) -> None:
        """The clients for `seconds` while `during` runs; they finish the request at hand."""
        self.stop.clear()
        clients = [asyncio.create_task(self.client()) for _ in range(self.args.concurrency)]
        side = asyncio.create_task(during())
        try:
            await asyncio.sleep(seconds)
        finally:
            self.stop.set()
            side.cancel()
            with suppress(asyncio.CancelledError):
                await side
            await asyncio.gather(*clients)

    async def drain(self, limit: float) -> float:
        """Pending retries, until none are left (or `limit` seconds); returns the time taken."""
        started = time.monotonic()
        deadline = started + limit

        async def worker() -> None:
            while self.due and time.monotonic() < deadline:
                checkin = self.pop_due()
                if checkin is None:
                    await asyncio.sleep(0.05)
                    continue
                await self.attempt(checkin)

        await asyncio.gather(*(worker() for _ in range(self.args.concurrency)))
        for _, _, checkin in self.due:  # out of time: given up
            checkin.state = "unknown"
        self.due.clear()
        return round(time.monotonic() - started, 1)

    def checkin_summary(self) -> dict[str, Any]:
        states = Counter(c.state for c in self.checkins.values())
        retried = [c for c in self.checkins.values() if c.attempts > 1]
        return {
            "made": len(self.checkins),
            "applied": states["applied"],
            "not_applied": states["not_applied"],
            "unknown": states["unknown"],
            "pending": states["pending"],
            "retried_by_clients": len(retried),
            "attempts": sum(c.attempts for c in self.checkins.values()),
            "repeats": _plain(self.audit.repeats),
            "double_submits": _plain(self.audit.double_submits),
        }


# ---------------------------------------------------------------------------- faults


@dataclass
class Phase:
    name: str
    what: str
    start_s: float
    seconds: float = 0.0
    rules_set: int = 0
    requests: int = 0
    errors: dict[str, int] = field(default_factory=dict)


async def _sandbox(http: aiohttp.ClientSession, method: str, url: str, body: Any = None) -> Any:
    async with http.request(method, url, json=body) as resp:
        text = await resp.text()
        if resp.status >= 300:
            raise RuntimeError(f"{method} {url}: {resp.status} {text[:300]}")
        return json.loads(text) if text else None


class FaultCycler:
    """Faults on for `on` seconds, then off for `off` seconds, through FAULTS in turn."""

    def __init__(
        self,
        http: aiohttp.ClientSession,
        sandbox: str,
        soak: Soak,
        faults: list[Fault],
        on: float,
        off: float,
    ) -> None:
        self.http, self.url, self.soak = http, sandbox + FAULTS_PATH, soak
        self.on, self.off = on, off
        self.faults = faults
        self.phases: list[Phase] = []
        self.started = 0.0

    async def clear(self) -> None:
        await _sandbox(self.http, "DELETE", self.url)

    async def arm(self, fault: Fault) -> int:
        await self.clear()
        for rule in fault.rules:
            await _sandbox(self.http, "POST", self.url, rule)
        return len(fault.rules)

    def open_phase(self, name: str, what: str) -> tuple[Phase, tuple[int, Counter[str]]]:
        phase = Phase(name, what, round(time.monotonic() - self.started, 1))
        self.phases.append(phase)
        return phase, self.soak.tally.snapshot()

    def close_phase(self, phase: Phase, before: tuple[int, Counter[str]]) -> None:
        total, statuses = self.soak.tally.snapshot()
        phase.seconds = round(time.monotonic() - self.started - phase.start_s, 1)
        phase.requests = total - before[0]
        diff = statuses - before[1]
        phase.errors = {
            k: v for k, v in sorted(diff.items()) if not k.startswith(("2", "3")) and v > 0
        }
        errors = ", ".join(f"{k} x{v}" for k, v in phase.errors.items()) or "none"
        print(
            f"  [{phase.start_s:6.1f} s] {phase.name:13} {phase.seconds:4.1f} s "
            f"{phase.requests:6d} requests; errors: {errors}",
            flush=True,
        )

    async def run(self) -> None:
        self.started = time.monotonic()
        for fault in itertools.cycle(self.faults):
            phase, before = self.open_phase(fault.name, fault.what)
            try:
                until = time.monotonic() + self.on
                while True:
                    phase.rules_set += await self.arm(fault)
                    left = until - time.monotonic()
                    if fault.rearm is None or left <= 0:
                        await asyncio.sleep(max(0.0, left))
                        break
                    await asyncio.sleep(min(fault.rearm, left))
                    if time.monotonic() >= until:
                        break
                await self.clear()
            finally:
                self.close_phase(phase, before)
            phase, before = self.open_phase("quiet", "no faults")
            try:
                await asyncio.sleep(self.off)
            finally:
                self.close_phase(phase, before)


# ----------------------------------------------------------------------------- audit


async def audit(
    http: aiohttp.ClientSession, sandbox: str, soak: Soak, concurrency: int
) -> dict[str, Any]:
    """Every check-in the clients made against the sandbox's ledger; points per guest."""
    ledger: list[dict[str, Any]] = (await _sandbox(http, "GET", sandbox + LEDGER))["checkins"]
    ours = [e for e in ledger if str(e["external_uid"]).startswith(f"soak-{soak.run_id}-")]
    count = Counter(str(e["external_uid"]) for e in ours)
    entry = {str(e["external_uid"]): e for e in ours}
    applied = [c for c in soak.checkins.values() if c.state == "applied"]
    not_applied = [c for c in soak.checkins.values() if c.state == "not_applied"]
    unknown = [c for c in soak.checkins.values() if c.state == "unknown"]
    missing = [c.key for c in applied if count[c.key] == 0]
    duplicates = [k for k, n in count.items() if n > 1]
    phantoms = [c.key for c in not_applied if count[c.key]]
    unexpected = [k for k in count if k not in soak.checkins]
    wrong_guest = [
        c.key for c in applied if c.key in entry and entry[c.key]["user_id"] != c.guest.user_id
    ]
    wrong_points = [
        c.key
        for c in applied
        if c.key in entry and c.points is not None and entry[c.key]["points"] != c.points
    ]
    sums: Counter[int] = Counter()
    for e in ledger:
        if not e["voided"]:
            sums[int(e["user_id"])] += int(e["points"])
    lifetime_mismatch: list[str] = []
    gateway_mismatch: list[str] = []
    stale_cached = 0
    gate = asyncio.Semaphore(min(concurrency, 8))

    async def check(guest: Guest) -> None:
        nonlocal stale_cached
        async with gate:
            state = await _sandbox(http, "GET", f"{sandbox}/__sandbox/users/{guest.user_id}")
            balance = state["balance"]
            if balance["lifetime_points"] != sums[guest.user_id]:
                lifetime_mismatch.append(
                    f"guest {guest.user_id}: lifetime_points {balance['lifetime_points']}, "
                    f"ledger {sums[guest.user_id]}"
                )
            fresh = await soak.call(
                "audit", "GET", BALANCE, token=guest.token, headers={"Cache-Control": "no-cache"}
            )
            got = fresh.doc.get("points_balance") if isinstance(fresh.doc, dict) else None
            if fresh.status != 200 or got != balance["points_balance"]:
                gateway_mismatch.append(
                    f"guest {guest.user_id}: gateway {fresh.status} points_balance {got}, "
                    f"sandbox {balance['points_balance']}"
                )
            cached = await soak.call("audit", "GET", BALANCE, token=guest.token)
            if isinstance(cached.doc, dict) and cached.doc.get("points_balance") != got:
                stale_cached += 1

    await asyncio.gather(*(check(g) for g in soak.guests))
    unknown_in_ledger = sum(1 for c in unknown if count[c.key])
    problems = {
        "applied_missing_from_ledger": missing,
        "keys_more_than_once": duplicates,
        "not_applied_but_in_ledger": phantoms,
        "ledger_keys_never_sent": unexpected,
        "applied_for_another_guest": wrong_guest,
        "points_differ_from_answer": wrong_points,
        "lifetime_points_differ_from_ledger": lifetime_mismatch,
        "gateway_balance_differs_from_sandbox": gateway_mismatch,
        "contradicting_answers": soak.audit.wrong_answers,
    }
    ok = not any(problems.values())
    return {
        "ok": ok,
        "ledger_checkins": len(ours),
        "applied_checked": len(applied),
        "not_applied_checked": len(not_applied),
        "unknown_in_ledger": unknown_in_ledger,
        "unknown_not_in_ledger": len(unknown) - unknown_in_ledger,
        "guests_checked": len(soak.guests),
        "stale_cached_balances": stale_cached,
        "violations": {k: len(v) for k, v in problems.items()},
        "examples": {k: v[:5] for k, v in problems.items() if v},
        "histories": {k: soak.checkins[k].history for k in (phantoms + missing)[:10]},
    }


async def until_served(soak: Soak, limit: float = 30.0) -> float:
    """Before the audit: one fresh balance read at a time until the gateway answers 200, so
    that a circuit breaker the last fault phase left open is probed and closed first (its
    half-open probe is one request; the audit's concurrent reads would meet it and be
    answered 503 `upstream_unavailable`). The seconds it took (`limit` at most)."""
    started = time.monotonic()
    guest = soak.guests[0]
    while time.monotonic() - started < limit:
        reply = await soak.call(
            "audit", "GET", BALANCE, token=guest.token, headers={"Cache-Control": "no-cache"}
        )
        if reply.status == 200:
            break
        await asyncio.sleep(min(reply.retry_after or 0.2, 2.0))
    return round(time.monotonic() - started, 2)


# ------------------------------------------------------------------------------ main


@dataclass
class Sample:
    t: float
    rss_mb: float
    fds: int
    threads: int

    def as_json(self) -> dict[str, Any]:
        return {"t": self.t, "rss_mb": self.rss_mb, "fds": self.fds, "threads": self.threads}


def _sample(gateway: Server, t0: float) -> Sample:
    gateway.check_alive()
    pid = gateway.proc.pid
    t = round(time.monotonic() - t0, 1)
    return Sample(t, tree_rss_mb(pid), tree_fds(pid), tree_threads(pid))


async def _metrics(http: aiohttp.ClientSession, gateway: Server) -> dict[str, Any]:
    admin = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    async with http.get(gateway.url + "/metrics", headers=admin) as resp:
        if resp.status != 200:
            raise RuntimeError(f"/metrics answered {resp.status}")
        return summarize_metrics(await resp.text())


def _defaults(args: argparse.Namespace) -> None:
    """Timings that scale with --duration when not given: a short run (the smoke test)
    still goes through every fault."""
    if args.phase_seconds is None:
        args.phase_seconds = min(4.0, max(0.5, args.duration / 30))
    if args.warmup is None:
        args.warmup = min(10.0, max(2.0, args.duration / 4))
    if args.settle is None:
        args.settle = min(5.0, max(1.0, args.duration / 8))
    if args.seed is None:
        args.seed = secrets.randbelow(2**31)
    if args.circuit_open_seconds is None and args.duration < 60:
        args.circuit_open_seconds = 1.0  # the gateway's 5 s would outlast a short run's faults


def _clients(args: argparse.Namespace) -> aiohttp.ClientSession:
    return aiohttp.ClientSession(
        timeout=aiohttp.ClientTimeout(total=30),
        connector=aiohttp.TCPConnector(limit=args.concurrency * 2 + 8),
    )


async def soak(args: argparse.Namespace, tmp: Path) -> dict[str, Any]:
    """Start the sandbox and the gateway, run, stop them (SIGTERM) whatever happened."""
    sandbox_port, gateway_port = _port(), _port()
    servers: list[Server] = []
    out: dict[str, Any] = {}
    store = StoreSet(args.store, tmp / "redis")
    # Sandbox control and /metrics (one connection to the gateway, at START and at END).
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as http:
        try:
            if store.kind != "memory":
                store.start()  # blocking, with nothing else to run meanwhile
                print(
                    f"store: {store.kind}, {store.layout}; started in {store.start_seconds} s; "
                    f"{store.url}",
                    flush=True,
                )
            sandbox_env = {
                **_clean_env(),
                "PUNCHH_CLIENT_ID": CLIENT_ID,
                "PUNCHH_CLIENT_SECRET": CLIENT_SECRET,
                "GATEWAY_LOG_LEVEL": "WARNING",
            }
            sb_args = [sys.executable, "-m", "gateway.cli", "sandbox"]
            sb_args += ["--host", HOST, "--port", str(sandbox_port)]
            sandbox = _spawn("sandbox", sb_args, sandbox_env, tmp, sandbox_port)
            servers.append(sandbox)
            await _wait_ready(http, sandbox, FAULTS_PATH)
            env = gateway_env(tmp, sandbox.url, gateway_port, args, store)
            gateway = _spawn("gateway", [sys.executable, "-m", "gateway"], env, tmp, gateway_port)
            servers.append(gateway)
            await _wait_ready(http, gateway, "/readyz")
            await _sandbox(http, "DELETE", sandbox.url + FAULTS_PATH)
            out = await _run(http, args, sandbox, gateway, store)
        finally:
            try:
                for server in reversed(servers):
                    code, seconds = server.terminate(timeout=30)
                    out.setdefault("shutdown", {})[server.name] = {
                        "exit_code": code,
                        "seconds": seconds,
                    }
            finally:
                store.stop()  # the Redis processes, whatever happened
    return out


async def _run(
    http: aiohttp.ClientSession,
    args: argparse.Namespace,
    sandbox: Server,
    gateway: Server,
    store: StoreSet,
) -> dict[str, Any]:
    t0 = time.monotonic()
    pool = max(8, 2 * args.concurrency)

    async def primer() -> None:
        """One fault at a time, among successes (no run of failures opens the breaker)."""
        for rule in PRIMER:
            await asyncio.sleep(0.3)
            await _sandbox(http, "POST", sandbox.url + FAULTS_PATH, rule)
        await asyncio.Event().wait()

    # The clients' connections are closed before each sample (a fresh client session per
    # stage): the descriptors counted are then the gateway's own, not the clients' pool.
    async with _clients(args) as clients:
        s = Soak(clients, gateway.url, args)
        print(f"warm-up: {pool} guests sign up, then {args.warmup:.0f} s of traffic", flush=True)
        await asyncio.gather(*(s.sign_up() for _ in range(pool)))
        if len(s.guests) < pool:
            raise RuntimeError(
                f"only {len(s.guests)} of {pool} sign-ups succeeded:\n{gateway.tail()}"
            )
        await s.traffic(max(2.0, args.warmup - (time.monotonic() - t0)), primer)
        await _sandbox(http, "DELETE", sandbox.url + FAULTS_PATH)
        await s.drain(30)
    await asyncio.sleep(min(args.settle, 2.0))
    start = _sample(gateway, t0)
    start_metrics = await _metrics(http, gateway)
    warmup_requests, s.tally = s.tally.total, Tally()  # the report counts from START
    if args.steady:  # no new guests nor tokens: the gateway's state stops growing here
        s.weights = [0 if op in ("sign_in", "sign_up") else w for op, w in MIX]
    sandbox_start = tree_rss_mb(sandbox.proc.pid)
    timeline = [start]
    print(
        f"START: gateway RSS {start.rss_mb} MB, {start.fds} fds, "
        f"{start_metrics['active_sessions']} sessions; {len(s.checkins)} check-ins so far",
        flush=True,
    )
    faults = [f for f in FAULTS if f.name in args.faults]
    cycler = FaultCycler(http, sandbox.url, s, faults, args.phase_seconds, args.phase_seconds * 1.5)
    every = min(10.0, max(1.0, args.duration / 12))

    async def during() -> None:
        sampler = asyncio.create_task(_sampler(gateway, t0, every, timeline))
        try:
            await cycler.run()
        finally:
            sampler.cancel()
            with suppress(asyncio.CancelledError):
                await sampler

    failovers = args.failovers if store.can_fail_over else 0
    print(
        f"traffic: {args.duration:.0f} s, {args.concurrency} clients; faults on "
        f"{args.phase_seconds:g} s, off {args.phase_seconds * 1.5:g} s, in turn"
        + (f"; {failovers} failover(s) of the {store.kind} store" if failovers else "")
        + ":",
        flush=True,
    )
    async with _clients(args) as clients:
        s.http = clients
        traffic_started = time.monotonic()
        # Not in `during`: a failover under way when the traffic ends is waited for.
        failing = asyncio.create_task(
            store.run_failovers(failovers, traffic_started, args.duration)
        )
        try:
            await s.traffic(args.duration, during)
        finally:
            await failing
        traffic_seconds, traffic_requests = time.monotonic() - traffic_started, s.tally.total
        await cycler.clear()
        drained = await s.drain(max(30.0, args.duration / 4))
        timeline.append(_sample(gateway, t0))  # the traffic over, the clients still connected
    store_report = failover_report(store, s.tally, time.monotonic())
    print(f"faults cleared; pending retries drained in {drained} s; settling", flush=True)
    await asyncio.sleep(args.settle)
    end = _sample(gateway, t0)
    timeline.append(end)
    half = start.t + args.duration / 2
    middle = min(timeline, key=lambda x: abs(x.t - half))
    end_metrics = await _metrics(http, gateway)
    sandbox_end = tree_rss_mb(sandbox.proc.pid)
    checkins = s.checkin_summary()
    requests = {
        "warmup": warmup_requests,
        "total": s.tally.total,
        "per_second": round(traffic_requests / traffic_seconds, 1),
        "by_status": _plain(s.tally.by_status),
        "by_op": _plain(s.tally.by_op),
        "errors_by_code": dict(s.tally.errors.most_common()),
        "unexpected_errors": unexpected_errors(s.tally.errors),
    }
    async with _clients(args) as clients:
        s.http = clients
        served_after = await until_served(s)
        verdict = await audit(http, sandbox.url, s, args.concurrency)
        verdict["waited_for_a_200_s"] = served_after
    gateway.check_alive()
    sandbox.check_alive()
    return {
        "memory": {
            "start": {**start.as_json(), "sessions": start_metrics["active_sessions"]},
            "end": {**end.as_json(), "sessions": end_metrics["active_sessions"]},
            "growth": {
                "rss_mb_second_half": round(end.rss_mb - middle.rss_mb, 1),
                "second_half_from_s": middle.t,
                "rss_mb": round(end.rss_mb - start.rss_mb, 1),
                "rss_pct": round((end.rss_mb - start.rss_mb) / start.rss_mb * 100, 1),
                "fds": end.fds - start.fds,
                "sessions": end_metrics["active_sessions"] - start_metrics["active_sessions"],
            },
            "timeline": [x.as_json() for x in timeline],
            "sandbox_rss_mb": {"start": sandbox_start, "end": sandbox_end},
        },
        "requests": requests,
        "gateway_metrics": {
            "start": start_metrics,
            "end": end_metrics,
            "during": metrics_delta(start_metrics, end_metrics),
        },
        "checkins": checkins,
        "exactly_once": verdict,
        "faults": {
            "phases": [vars(p) for p in cycler.phases],
            "fault_phases": sum(1 for p in cycler.phases if p.name != "quiet"),
            "kinds": sorted({p.name for p in cycler.phases} - {"quiet"}),
            "catalogue": {f.name: {"what": f.what, "rules": list(f.rules)} for f in faults},
            "warmup_primer": list(PRIMER),
        },
        "guests": len(s.guests),
        "drain_seconds": drained,
        "store": store_report,
    }


async def _sampler(gateway: Server, t0: float, every: float, timeline: list[Sample]) -> None:
    while True:
        await asyncio.sleep(every)
        timeline.append(_sample(gateway, t0))


def _print(out: dict[str, Any]) -> list[str]:
    """The report; returns the warnings."""
    m, g = out["memory"], out["gateway_metrics"]["during"]
    start, end, growth = m["start"], m["end"], m["growth"]
    setup = out["setup"]
    print()
    print(
        f"soak: {setup['duration_seconds']:.0f} s of mixed traffic"
        f"{' (steady: no new guests after START)' if setup.get('steady') else ''}, "
        f"{setup['concurrency']} "
        f"clients, through the gateway in front of the sandbox (seed {setup['seed']}); "
        f"{setup['run_seconds']} s in all"
    )
    print()
    print(f"{'':22}{'START':>10}{'END':>10}{'growth':>18}")
    print(
        f"{'gateway RSS (MB)':22}{start['rss_mb']:>10}{end['rss_mb']:>10}"
        f"{growth['rss_mb']:>+10.1f} ({growth['rss_pct']:+.1f} %)"
    )
    print(f"{'open fds':22}{start['fds']:>10}{end['fds']:>10}{growth['fds']:>+10d}")
    sessions = f"{start['sessions']:>10}{end['sessions']:>10}{growth['sessions']:>+10d}"
    print(f"{'live sessions':22}{sessions}")
    sb = m["sandbox_rss_mb"]
    print(
        f"{'sandbox RSS (MB)':22}{sb['start']:>10}{sb['end']:>10}{sb['end'] - sb['start']:>+10.1f}"
    )
    print(
        f"gateway RSS over the second half (from the sample at {growth['second_half_from_s']:.0f} "
        f"s to END): {growth['rss_mb_second_half']:+.1f} MB"
    )
    print(
        "RSS timeline (MB @ s): " + ", ".join(f"{x['rss_mb']} @{x['t']:.0f}" for x in m["timeline"])
    )
    print("fds timeline:          " + ", ".join(str(x["fds"]) for x in m["timeline"]))
    print("threads timeline:      " + ", ".join(str(x["threads"]) for x in m["timeline"]))
    r = out["requests"]
    print()
    print(
        f"client requests from START: {r['total']} ({r['warmup']} in the warm-up); by status: "
        + ", ".join(f"{k} x{v}" for k, v in r["by_status"].items())
    )
    print(
        f"requests per second during the traffic: {r['per_second']}; errors by code:  "
        + (", ".join(f"{k} x{v}" for k, v in r["errors_by_code"].items()) or "none")
    )
    print(
        "gateway 500s and undocumented codes: "
        + (", ".join(f"{k} x{v}" for k, v in r["unexpected_errors"].items()) or "none")
    )
    print(
        f"gateway /metrics over the traffic: {g['requests_total']} answers, "
        f"{g['requests_non_2xx']} not 2xx ("
        + ", ".join(f"{k} x{v}" for k, v in g["requests_by_status"].items())
        + ")"
    )
    gs, ge = out["gateway_metrics"]["start"], out["gateway_metrics"]["end"]
    print(
        f"  errors (not 2xx) at START {gs['requests_non_2xx']} of {gs['requests_total']}, "
        f"at END {ge['requests_non_2xx']} of {ge['requests_total']}"
    )
    print(
        f"  retries {g['retries_total']} ("
        + (", ".join(f"{k} {v}" for k, v in g["retries_by_reason"].items()) or "none")
        + "); refused: "
        + (", ".join(f"{k} {v}" for k, v in g["retries_refused"].items()) or "none")
    )
    print(
        f"  circuit opened {g['circuit_opens']} times; at the end: "
        + ", ".join(f"{k} {v}" for k, v in g["circuit_state"].items())
    )
    print(
        "  upstream errors: "
        + (", ".join(f"{k} {v}" for k, v in g["upstream_errors"].items()) or "none")
        + "; idempotency: "
        + (", ".join(f"{k} {v}" for k, v in g["idempotency"].items()) or "none")
        + f"; rate-limited {g['rate_limited']}"
    )
    c, e = out["checkins"], out["exactly_once"]
    print()
    print(
        f"check-ins: {c['made']} made: applied {c['applied']}, not_applied {c['not_applied']}, "
        f"unknown {c['unknown']} (sent again by clients: {c['retried_by_clients']} check-ins, "
        f"{c['attempts']} attempts in all; unknown found in the ledger "
        f"{e['unknown_in_ledger']}, not found {e['unknown_not_in_ledger']})"
    )
    print(
        "  repeats: "
        + (", ".join(f"{k} {v}" for k, v in c["repeats"].items()) or "none")
        + "; double submits: "
        + (", ".join(f"{k} {v}" for k, v in c["double_submits"].items()) or "none")
    )
    verdict = "OK" if e["ok"] else "FAILED"
    print(
        f"exactly-once: {verdict}: {e['ledger_checkins']} check-ins in the sandbox ledger; "
        f"{e['applied_checked']} applied keys, {e['not_applied_checked']} not_applied keys, "
        f"{e['guests_checked']} guests' points checked"
    )
    for name, n in e["violations"].items():
        if n:
            print(f"  VIOLATION {name}: {n}; e.g. {e['examples'][name][:3]}")
    for key, history in e["histories"].items():
        print(f"    {key}: answers {history}")
    print(
        f"  cached balances differing from fresh ones (informational): "
        f"{e['stale_cached_balances']}; the audit began {e['waited_for_a_200_s']} s after the "
        "END sample, at the gateway's first 200 to a fresh balance read"
    )
    warnings = _print_store(out["store"])
    sd = out["shutdown"]
    print(
        f"shutdown: SIGTERM -> gateway exit code {sd['gateway']['exit_code']} in "
        f"{sd['gateway']['seconds']} s; sandbox exit code {sd['sandbox']['exit_code']} "
        "(not judged: it has no SIGTERM handler)"
    )
    if r["unexpected_errors"]:
        warnings.append(f"gateway 500s or undocumented codes: {r['unexpected_errors']}")
    if growth["rss_pct"] > 20:
        warnings.append(f"gateway RSS grew by {growth['rss_pct']} % (more than 20 %)")
    if growth["fds"] > 10:
        warnings.append(f"gateway open fds grew by {growth['fds']} (more than 10)")
    for w in warnings:
        print(f"WARNING: {w}")
    return warnings


def _print_store(st: dict[str, Any]) -> list[str]:
    """The store's part of the report; returns its warnings (sessions lost)."""
    if st["kind"] == "memory":
        return []
    before = (
        f" ({st['session_store_unavailable_503_before_first_failover']} before the first failover)"
        if st["failovers"]
        else ""
    )
    print()
    print(
        f"store: {st['kind']} ({st['servers']}), prefix {st['prefix']!r}; "
        f"503 session_store_unavailable x{st['session_store_unavailable_503']}{before}, "
        f"503 rate_limiter_unavailable x{st['rate_limiter_unavailable_503']}"
    )
    for f in st["failovers"]:
        c = f["clients"]
        window = (
            f"503 session_store_unavailable x{c['session_store_unavailable_503']} from "
            f"{c['first_503_after_kill_s']} s to {c['last_503_after_kill_s']} s after the kill "
            f"(window {c['window_503_s']} s)"
            if c["session_store_unavailable_503"]
            else "no 503 session_store_unavailable"
        )
        print(
            f"  failover {f['n']} at {f['at_s']} s: SIGKILL {f['killed']}; promoted "
            f"{f['new_master']} after {f['promoted_s']} s; killed node back as a "
            f"{f['rejoined_as']} in {f['rejoined_s']} s; clients (to {f['window_end_s']} s "
            f"after the kill): {window}; 503 rate_limiter_unavailable "
            f"x{c['rate_limiter_unavailable_503']}; 401 invalid_session "
            f"x{c['invalid_session_401']}; recovered: {'yes' if f['recovered'] else 'NO'}"
        )
        print(
            "    errors until healed: "
            + (", ".join(f"{k} x{v}" for k, v in c["errors_while_healing"].items()) or "none")
        )
        print(
            "    2xx per second from 2 s before the kill: "
            + " ".join(str(n) for n in c["ok_per_second_from_2s_before"])
        )
    for skipped in st["failovers_skipped"]:
        print(f"  skipped: {skipped}")
    for problem in st["problems"]:
        print(f"  STORE PROBLEM: {problem}")
    return [
        f"failover {f['n']}: {f['clients']['invalid_session_401']} answers 401 invalid_session "
        "(sessions lost?)"
        for f in st["failovers"]
        if f["clients"]["invalid_session_401"]
    ]


def _fault_names(text: str) -> list[str]:
    names = [n.strip() for n in text.split(",") if n.strip()]
    unknown = set(names) - {f.name for f in FAULTS}
    if unknown or not names:
        raise argparse.ArgumentTypeError(f"unknown fault(s): {', '.join(sorted(unknown))}")
    return names


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n", 1)[0], formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--duration", type=float, default=120, help="seconds of traffic (120)")
    parser.add_argument("--concurrency", type=int, default=16, help="clients (16)")
    parser.add_argument(
        "--out", type=Path, default=ROOT / "bench" / "soak.json", help="bench/soak.json"
    )
    parser.add_argument("--warmup", type=float, help="seconds (min(10, duration/4), 2 at least)")
    parser.add_argument("--settle", type=float, help="seconds (min(5, duration/8), 1 at least)")
    parser.add_argument(
        "--phase-seconds", type=float, help="a fault's time on (min(4, duration/30), 0.5 at least)"
    )
    parser.add_argument("--think-ms", type=float, default=40, help="mean pause per client (40)")
    parser.add_argument("--max-attempts", type=int, default=10, help="per check-in (10)")
    parser.add_argument(
        "--idempotency-entries", type=int, default=500, help="GATEWAY_IDEMPOTENCY_MAX_ENTRIES"
    )
    parser.add_argument("--seed", type=int, help="for the clients' choices")
    parser.add_argument(
        "--steady",
        action="store_true",
        help="no sign-ups or sign-ins after START: the guests (sessions, tokens, cached "
        "answers, rate-limit keys) stay the same, so what RSS still gains is not state",
    )
    parser.add_argument(
        "--faults",
        type=_fault_names,
        default=[f.name for f in FAULTS],
        help="comma-separated, in this order (all): " + ",".join(f.name for f in FAULTS),
    )
    parser.add_argument(
        "--store",
        choices=STORES,
        default="memory",
        help="where the gateway keeps its state (memory): redis (one server), sentinel or "
        "cluster, started here in the temporary directory",
    )
    parser.add_argument(
        "--failovers",
        type=int,
        default=2,
        help="sentinel and cluster: master SIGKILLs, spread over the traffic (2)",
    )
    parser.add_argument(
        "--circuit-open-seconds",
        type=float,
        help="GATEWAY_CIRCUIT_OPEN_SECONDS (the gateway's default, 5; 1 for runs under 60 s)",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    _defaults(args)
    started = time.monotonic()
    tmp = Path(tempfile.mkdtemp(prefix="loyalty-soak-"))
    try:
        with terminable():
            out = asyncio.run(soak(args, tmp))
    except BaseException:
        for log in sorted(tmp.rglob("*.log")):  # the Redis nodes' too, in their directories
            text = log.read_text(errors="replace").strip().splitlines()[-40:]
            if text:
                name = log.relative_to(tmp)
                print(f"--- {name} (last lines)\n" + "\n".join(text), file=sys.stderr)
        print(f"the servers' logs are kept in {tmp}", file=sys.stderr)
        raise
    out["setup"] = {
        "duration_seconds": args.duration,
        "concurrency": args.concurrency,
        "warmup_seconds": args.warmup,
        "settle_seconds": args.settle,
        "fault_on_seconds": args.phase_seconds,
        "fault_off_seconds": args.phase_seconds * 1.5,
        "think_ms": args.think_ms,
        "max_attempts": args.max_attempts,
        "seed": args.seed,
        "steady": args.steady,
        "faults": args.faults,
        "mix": dict(MIX),
        "double_submit_share": DOUBLE_SUBMIT_SHARE,
        "gateway": {
            "command": "python -m gateway",
            "stores": args.store,
            "log_level": "WARNING",
            "first_byte_timeouts": {
                "read": READ_FIRST_BYTE,
                "write": WRITE_FIRST_BYTE,
                "auth": AUTH_FIRST_BYTE,
            },
            "idempotency_max_entries": args.idempotency_entries,
            "circuit_open_seconds": args.circuit_open_seconds or "default (5)",
            "rate_limit": f"on; every built-in policy at {UNREACHABLE_LIMIT} per "
            f"{UNREACHABLE_WINDOW} s",
            "shutdown_grace": 0,
            **{k: os.environ[k] for k in PASS_THROUGH if os.environ.get(k)},
        },
        "machine": {"cpus": os.cpu_count(), "python": sys.version.split()[0]},
        "run_seconds": round(time.monotonic() - started, 1),
    }
    code = out["shutdown"]["gateway"]["exit_code"]
    warnings = _print(out)
    store_ok = out["store"]["ok"]
    out["verdict"] = {
        "exactly_once": out["exactly_once"]["ok"],
        "gateway_exit_code": code,
        "store": store_ok,
        "warnings": warnings,
        "ok": out["exactly_once"]["ok"] and code == 0 and store_ok,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(out, indent=2) + "\n")
    print(f"wrote {args.out}")
    if not out["verdict"]["ok"]:
        why = [] if out["exactly_once"]["ok"] else ["exactly-once violated"]
        why += [] if code == 0 else [f"gateway exit code {code} after SIGTERM"]
        why += [] if store_ok else out["store"]["problems"]
        print(f"FAILED: {'; '.join(why)}", file=sys.stderr)
        print(f"the servers' logs are kept in {tmp}", file=sys.stderr)
        return 1
    shutil.rmtree(tmp, ignore_errors=True)
    print("OK")
    return 0


if __name__ == "__main__":
    sys.exit(main())
