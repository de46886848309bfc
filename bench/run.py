"""`make bench`: the gateway measured side by side in one run, on 127.0.0.1.

First version (the cache issue): a cached balance read against the same read with
`Cache-Control: no-cache` (which goes to Punchh every time), through a real gateway
process in front of the sandbox process. Load comes from an aiohttp client in this
process with a fixed number of connections for a fixed time; each case runs several
times and the medians are reported, with the gateway process's CPU per request read
from /proc. Writes bench/results.json: {"cases": {NAME: {rps, p50_ms, p99_ms,
cpu_us_per_req}}, "ratios": {...}}.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import aiohttp

ROOT = Path(__file__).resolve().parents[1]
CLIENT_ID, CLIENT_SECRET = "bench-client", "bench-client-secret-value"
CONNECTIONS = int(os.environ.get("BENCH_CONNECTIONS", "32"))
SECONDS = float(os.environ.get("BENCH_SECONDS", "5"))
RUNS = int(os.environ.get("BENCH_RUNS", "3"))
TICKS = os.sysconf("SC_CLK_TCK")


@dataclass
class Result:
    rps: float
    p50_ms: float
    p99_ms: float
    cpu_us_per_req: float


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS  # utime + stime


def _spawn(args: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("PUNCHH_", "GATEWAY_"))}
    return subprocess.Popen(
        args, env={**clean, **env}, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )


async def _wait(url: str) -> None:
    async with aiohttp.ClientSession() as http:
        for _ in range(400):
            try:
                async with http.get(url) as resp:
                    if resp.status < 500:
                        return
            except aiohttp.ClientConnectionError:
                pass
            await asyncio.sleep(0.05)
    raise RuntimeError(f"{url} never answered")


async def _load(url: str, headers: dict[str, str], pid: int) -> Result:
    latencies: list[float] = []
    stop_at = time.perf_counter() + SECONDS
    connector = aiohttp.TCPConnector(limit=CONNECTIONS)
    async with aiohttp.ClientSession(connector=connector) as http:

        async def worker() -> None:
            while time.perf_counter() < stop_at:
                started = time.perf_counter()
                async with http.get(url, headers=headers) as resp:
                    await resp.read()
                    if resp.status != 200:
                        raise RuntimeError(f"status {resp.status}")
                latencies.append(time.perf_counter() - started)

        cpu0, t0 = _cpu_seconds(pid), time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(CONNECTIONS)))
        elapsed, cpu = time.perf_counter() - t0, _cpu_seconds(pid) - cpu0
    latencies.sort()
    n = len(latencies)
    return Result(
        rps=n / elapsed,
        p50_ms=latencies[n // 2] * 1000,
        p99_ms=latencies[min(n - 1, int(n * 0.99))] * 1000,
        cpu_us_per_req=cpu / n * 1e6,
    )


def _median(results: list[Result]) -> Result:
    return Result(
        *(
            round(statistics.median(getattr(r, f) for r in results), 2)
            for f in ("rps", "p50_ms", "p99_ms", "cpu_us_per_req")
        )
    )


async def main() -> int:
    sandbox_port, gateway_port = _port(), _port()
    creds = {
        "PUNCHH_CLIENT_ID": CLIENT_ID,
        "PUNCHH_CLIENT_SECRET": CLIENT_SECRET,
        "GATEWAY_LOG_LEVEL": "WARNING",
    }
    gw_bin = str(Path(sys.executable).with_name("loyalty-gateway"))
    sandbox = _spawn([gw_bin, "sandbox", "--port", str(sandbox_port)], creds)
    gateway = _spawn(
        [sys.executable, "-m", "gateway"],
        {
            **creds,
            "PUNCHH_BASE_URL": f"http://127.0.0.1:{sandbox_port}",
            "GATEWAY_PORT": str(gateway_port),
            "GATEWAY_SESSION_SECRET": "bench-" + "s" * 40,
        },
    )
    base = f"http://127.0.0.1:{gateway_port}"
    try:
        await _wait(f"http://127.0.0.1:{sandbox_port}/__sandbox/calls")
        await _wait(f"{base}/readyz")
        async with aiohttp.ClientSession() as http:
            user = {"email": "bench@example.com", "password": "bench-password", "first_name": "B"}
            async with http.post(f"{base}/api/auth/customers.json", json={"user": user}) as resp:
                token = (await resp.json())["access_token"]
        auth = {"Authorization": f"Bearer {token}"}
        url = f"{base}/api/auth/checkins/balance"
        cases = {
            "gateway_balance_cached": auth,
            "gateway_balance_uncached": {**auth, "Cache-Control": "no-cache"},
        }
        runs: dict[str, list[Result]] = {name: [] for name in cases}
        await _load(url, auth, gateway.pid)  # warm-up
        for _ in range(RUNS):
            for name, headers in cases.items():  # interleaved: both see the same noise
                runs[name].append(await _load(url, headers, gateway.pid))
    finally:
        for proc in (gateway, sandbox):
            proc.terminate()
            proc.wait(timeout=10)
    medians = {name: _median(r) for name, r in runs.items()}
    ratios = {
        "cached_vs_uncached_rps": round(
            medians["gateway_balance_cached"].rps / medians["gateway_balance_uncached"].rps, 2
        )
    }
    print(f"{CONNECTIONS} connections, {SECONDS:.0f} s x {RUNS} runs each, medians:")
    print(f"{'case':28} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'CPU us/req':>11}")
    for name, m in medians.items():
        print(f"{name:28} {m.rps:9.0f} {m.p50_ms:8.2f} {m.p99_ms:8.2f} {m.cpu_us_per_req:11.0f}")
    print(f"cached / uncached req/s: {ratios['cached_vs_uncached_rps']}x")
    out = ROOT / "bench" / "results.json"
    out.write_text(
        json.dumps(
            {
                "setup": {
                    "connections": CONNECTIONS,
                    "seconds": SECONDS,
                    "runs": RUNS,
                    "load": "aiohttp client in the bench process",
                    "upstream": "sandbox process",
                },
                "cases": {name: asdict(m) for name, m in medians.items()},
                "ratios": ratios,
            },
            indent=2,
        )
        + "\n"
    )
    print(f"wrote {out.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
