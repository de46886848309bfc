"""What waiting for a replica (`WAIT 1 <ms>`, store.wait_replicas) costs a session write.

`make bench-wait` (about a minute): starts a Redis Sentinel set (a master, a replica,
three sentinels) and a Redis Cluster (three masters, three replicas) on 127.0.0.1
(tests/support/redis_ha.py), and writes sessions the way a sign-in does
(`RedisSessionStore.put`: the record and the guest's index in one script) with and without
the wait, alternating in rounds so the machine's noise falls on both alike:
  - one at a time: the latency a guest's sign-in gains (median, p99, microseconds);
  - 64 at once: session writes per second of one process.
Then the same with the replica stopped (SIGSTOP): the write stands after
`store.wait_timeout`, and waits pause for 5 s (one slow write, not every one).
Writes bench/replica_wait.json and prints one line per measurement.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import signal
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from gateway.session_record import Session  # noqa: E402
from gateway.sessions import PunchhTokens  # noqa: E402
from gateway.store.codec import TokenCipher  # noqa: E402
from gateway.store.redis import RedisSessionStore  # noqa: E402
from gateway.store.resp import connect  # noqa: E402
from gateway.tokens import new_session_id  # noqa: E402
from tests.support.redis_ha import RedisClusterServers, RedisSentinelServers  # noqa: E402

ROUNDS = 5
SERIAL = 300  # writes a round, one at a time
CONCURRENT = 64
BURST = 3000  # writes a round, CONCURRENT at a time
TIMEOUT = 0.1
OUT = ROOT / "bench" / "replica_wait.json"
_guests = itertools.count()


def _session(user: str) -> Session:
    now = time.time()
    return Session(
        sid=new_session_id(user),
        user_id=user,
        tokens=PunchhTokens("A" * 43, "B" * 40, "C" * 700, "D" * 43),
        created_at=now,
        expires_at=now + 3600,
        last_seen=now,
    )


def _store(url: str, replicas: int, prefix: str) -> RedisSessionStore:
    return RedisSessionStore(
        connect(url, timeout=2.0),
        prefix=prefix,
        cipher=TokenCipher(b"k" * 40),
        writer=connect(url, timeout=2.0) if replicas else None,
        wait_replicas=replicas,
        wait_timeout=TIMEOUT,
    )


async def _serial(store: RedisSessionStore, n: int) -> list[float]:
    out = []
    for _ in range(n):
        session = _session(f"guest-{next(_guests)}")  # a sign-in: a new guest each
        started = time.perf_counter()
        await store.put(session, 600)
        out.append((time.perf_counter() - started) * 1e6)
    return out


async def _burst(store: RedisSessionStore, n: int) -> float:
    sessions = [_session(f"guest-{next(_guests)}") for _ in range(n)]
    queue = iter(sessions)

    async def worker() -> None:
        for session in queue:
            await store.put(session, 600)

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(CONCURRENT)))
    return n / (time.perf_counter() - started)


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def _measure(kind: str, url: str) -> dict[str, Any]:
    stores = {0: _store(url, 0, f"bw:{kind}:0:"), 1: _store(url, 1, f"bw:{kind}:1:")}
    latency: dict[int, list[float]] = {0: [], 1: []}
    rate: dict[int, list[float]] = {0: [], 1: []}
    try:
        await _serial(stores[0], 50)  # connections, scripts loaded
        await _serial(stores[1], 50)
        for _ in range(ROUNDS):
            for replicas in (0, 1):
                latency[replicas] += await _serial(stores[replicas], SERIAL)
                rate[replicas].append(await _burst(stores[replicas], BURST))
    finally:
        for store in stores.values():
            await store.close()
    out: dict[str, Any] = {}
    for replicas in (0, 1):
        out[f"wait_{replicas}"] = {
            "median_us": round(statistics.median(latency[replicas])),
            "p99_us": round(_pct(latency[replicas], 0.99)),
            "writes_per_s": round(statistics.median(rate[replicas])),
        }
    out["added_median_us"] = out["wait_1"]["median_us"] - out["wait_0"]["median_us"]
    out["throughput_ratio"] = round(
        out["wait_1"]["writes_per_s"] / out["wait_0"]["writes_per_s"], 2
    )
    return out


async def _replica_stopped(url: str, replica_pid: int) -> dict[str, Any]:
    """The replica frozen: the first write waits store.wait_timeout, then waits pause."""
    store = _store(url, 1, "bw:stopped:")
    try:
        await _serial(store, 20)
        os.kill(replica_pid, signal.SIGSTOP)
        try:
            first = await _serial(store, 1)
            rest = await _serial(store, 200)
        finally:
            os.kill(replica_pid, signal.SIGCONT)
    finally:
        await store.close()
    return {
        "first_write_us": round(first[0]),
        "next_200_median_us": round(statistics.median(rest)),
        "wait_timeout_s": TIMEOUT,
    }


def _line(kind: str, result: dict[str, Any]) -> str:
    a, b = result["wait_0"], result["wait_1"]
    return (
        f"{kind:9} no wait: median {a['median_us']} us, p99 {a['p99_us']} us, "
        f"{a['writes_per_s']} writes/s | WAIT 1: median {b['median_us']} us, p99 "
        f"{b['p99_us']} us, {b['writes_per_s']} writes/s | +{result['added_median_us']} us "
        f"a write, throughput x{result['throughput_ratio']}"
    )


async def main() -> None:
    results: dict[str, Any] = {"rounds": ROUNDS, "serial": SERIAL, "concurrent": CONCURRENT}
    with tempfile.TemporaryDirectory(prefix="bench-wait-") as tmp:
        sentinel = RedisSentinelServers(Path(tmp) / "sentinel")
        cluster = RedisClusterServers(Path(tmp) / "cluster")
        try:
            sentinel.start()
            cluster.start()
            results["sentinel"] = await _measure("sentinel", sentinel.url)
            print(_line("sentinel", results["sentinel"]))
            results["cluster"] = await _measure("cluster", cluster.url)
            print(_line("cluster", results["cluster"]))
            master = sentinel.master_port()
            replica = next(p for p in sentinel.data_ports if p != master)
            proc = sentinel.nodes[replica].proc
            assert proc is not None
            results["replica_stopped"] = await _replica_stopped(sentinel.url, proc.pid)
            stopped = results["replica_stopped"]
            print(
                f"replica stopped: first write {stopped['first_write_us']} us (waited "
                f"{TIMEOUT}s), next 200 median {stopped['next_200_median_us']} us (waits paused)"
            )
        finally:
            sentinel.stop()
            cluster.stop()
    OUT.write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {OUT}")


if __name__ == "__main__":
    asyncio.run(main())
