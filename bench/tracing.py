"""What tracing costs (issue 19, part 3), for `make bench`: off, and on at 1% sampling.

    python bench/tracing.py UPSTREAM_URL SECONDS ROUNDS

1. Through the gateway: the gateway in this process as bench/stages.py runs it (uvloop,
   memory stores, every rate limit out of reach), one request at a time from wrk; CPU of
   this process (`time.process_time`, the exporter's thread included) per request, for a
   check-in and a cached read, in ROUNDS rounds alternating tracing off and on
   (OTEL_TRACES_SAMPLER=parentbased_traceidratio, ARG 0.01, to an endpoint where nothing
   listens: the collector must not matter). Medians; `added_us` is on less off, within
   the run's noise when it is a few µs.
2. The tracing calls alone, timed directly over 200 000 simulated requests (what the front,
   the upstream client and a Redis call do per request), less the same loop without them:
   off (the checks of `tracing.TRACER`) and on at 1% (begin, one upstream attempt with
   `traceparent`, one Redis call, finish; the sampled 1% with their real SDK spans).
Prints one JSON line.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import uvloop
from aiohttp import ClientSession, web
from aiohttp.test_utils import make_mocked_request

from gateway import tracing
from gateway.app import make_app
from gateway.exchange import Exchange
from gateway.plan import Plan
from gateway.transports.base import UpstreamRequest

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))
from common import in_process_config  # noqa: E402
from run import BALANCE, CHECKIN, CHECKIN_BODY, SIGN_IN, _port  # noqa: E402
from stages import _wrk  # noqa: E402  (the same one-connection wrk)

ROUTE = f"POST {CHECKIN}"
DIRECT_REQUESTS = 200_000


def _on_env() -> dict[str, str]:
    return {
        "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{_port()}",  # nothing listens
        "OTEL_TRACES_SAMPLER": "parentbased_traceidratio",
        "OTEL_TRACES_SAMPLER_ARG": "0.01",
    }


async def _through_the_gateway(upstream: str, seconds: int, rounds: int) -> dict[str, Any]:
    cfg = in_process_config(upstream, "lg-tracing-")
    runner = web.AppRunner(make_app(cfg), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    base = f"http://127.0.0.1:{runner.addresses[0][1]}"
    cases: dict[str, tuple[str, str, Any]] = {
        "checkin": (CHECKIN, "POST", CHECKIN_BODY),
        "balance_cached": (BALANCE, "GET", None),
    }
    cpu: dict[str, dict[str, list[float]]] = {c: {"off": [], "on": []} for c in cases}
    try:
        async with ClientSession() as http:
            sign_in = {"user": {"email": "tracing@example.com", "password": "correct-horse-9"}}
            async with http.post(base + SIGN_IN, json=sign_in) as resp:
                token = (await resp.json())["access_token"]
        for path, method, body in cases.values():
            await _wrk(base + path, 1, method, body, token)  # warm-up (and fill the cache)
        for _ in range(rounds):
            for mode in ("off", "on"):
                if mode == "on":
                    tracing.start_tracing(_on_env())
                for case, (path, method, body) in cases.items():
                    cpu0 = time.process_time()
                    n = await _wrk(base + path, seconds, method, body, token)
                    cpu[case][mode].append(round((time.process_time() - cpu0) / n * 1e6, 2))
                tracing.shutdown_tracing(0.5)
    finally:
        await runner.cleanup()
    out: dict[str, Any] = {}
    for case, modes in cpu.items():
        off, on = statistics.median(modes["off"]), statistics.median(modes["on"])
        out[case] = {
            "off_cpu_us_per_req": off,
            "on_1pct_cpu_us_per_req": on,
            "added_us": round(on - off, 2),
            "rounds_off": modes["off"],
            "rounds_on": modes["on"],
        }
    return out


class _Answer:
    status = 200


async def _send(request: UpstreamRequest) -> Any:
    return _Answer


async def _loop(n: int, traced: bool) -> float:
    """Seconds per simulated request: the front's, the upstream client's and a Redis
    call's tracing statements (`traced`), or the same loop without them."""
    request = make_mocked_request("POST", CHECKIN, headers={"User-Agent": "bench"})
    plan = Plan(ROUTE, "POST")
    call = UpstreamRequest("POST", CHECKIN, {"Accept": "application/json"}, b"{}")
    ex = Exchange(request, "rid", "127.0.0.1", plan, CHECKIN)
    started = time.perf_counter()
    for _ in range(n):
        if not traced:
            await _send(call)
            continue
        trace = None if tracing.TRACER is None else tracing.begin(request, "127.0.0.1")
        if tracing.TRACER is None:
            await _send(call)
        else:
            await tracing.attempt(_send, call, ROUTE, 0, "http://127.0.0.1:1")
        with tracing.redis("EVALSHA", "rate_limit"):
            pass
        if trace is not None:
            tracing.finish(trace, ex, 200)
    return (time.perf_counter() - started) / n


async def _direct() -> dict[str, Any]:
    n = DIRECT_REQUESTS
    base = min([await _loop(n, False) for _ in range(3)])
    off = min([await _loop(n, True) for _ in range(3)])
    tracing.start_tracing(_on_env())
    on = min([await _loop(n, True) for _ in range(3)])
    tracing.shutdown_tracing(0.5)
    return {
        "requests": n,
        "off_us_per_req": round((off - base) * 1e6, 3),
        "on_1pct_us_per_req": round((on - base) * 1e6, 3),
    }


async def _measure(upstream: str, seconds: int, rounds: int) -> dict[str, Any]:
    logging.getLogger("opentelemetry").setLevel(logging.CRITICAL)  # the refused exports
    return {
        "through_gateway": await _through_the_gateway(upstream, seconds, rounds),
        "direct": await _direct(),
    }


def main() -> None:
    upstream, seconds, rounds = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    os.environ.setdefault("OTEL_BSP_SCHEDULE_DELAY", "1000")
    uvloop.install()
    print(json.dumps(asyncio.run(_measure(upstream, seconds, rounds))))


if __name__ == "__main__":
    main()
