"""The stage table of `make bench`: CPU µs per stage per request, on the compiled plan.

    python bench/stages.py UPSTREAM_URL SECONDS

Runs the gateway in this process (uvloop, memory stores, the bench's configuration: every
rate-limit policy out of reach), with every step of every route's plan wrapped by a timer
(`make_app(wrap=...)`), and the front timed around the plan. wrk sends one request at a
time (one connection), so the time across a step is that step and what it awaits, for
that request alone: each step is timed with `perf_counter`, less the time the upstream
client spent waiting for Punchh (the exchange's `upstream_seconds`). A step's own cost
is its time less the next step's; `aiohttp_transport_loop` is the rest of the process's
CPU (`time.process_time`) per request: HTTP parsing and writing, the router, the
upstream client, the event loop.
Prints one JSON line: {"checkin": {...}, "balance_cached": {...}} in µs per request.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import uvloop
from aiohttp import ClientSession, web
from aiohttp.typedefs import Handler

from gateway.app import make_app
from gateway.exchange import Exchange
from gateway.plan import Next, Plan

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))
from common import in_process_config  # noqa: E402
from run import BALANCE, CHECKIN, CHECKIN_BODY, SIGN_IN  # noqa: E402  (the same requests)


class Timers:
    """Inclusive CPU time of each step of the routes asked for, and of the whole handler."""

    def __init__(self, routes: dict[str, str]) -> None:
        self.routes = routes  # path → route label
        self.inclusive: dict[tuple[str, str], float] = defaultdict(float)
        self.order: dict[str, list[str]] = defaultdict(list)

    def wrap(self, plan: Plan, name: str, step: Next) -> Next:
        if plan.label not in self.routes.values():
            return step
        route = plan.label
        self.order[route].insert(0, name)

        async def timed(ex: Exchange) -> web.StreamResponse:
            started, waited = time.perf_counter(), ex.upstream_seconds
            try:
                return await step(ex)
            finally:
                upstream = ex.upstream_seconds - waited
                self.inclusive[(route, name)] += time.perf_counter() - started - upstream
                if name == "handler":
                    self.inclusive[(route, "upstream_wait")] += upstream

        return timed

    @web.middleware
    async def whole(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        route = self.routes.get(request.path)
        started = time.perf_counter()
        try:
            return await handler(request)
        finally:
            if route is not None:
                self.inclusive[(route, "front")] += time.perf_counter() - started

    def reset(self) -> None:
        self.inclusive.clear()


async def _wrk(url: str, seconds: int, method: str, body: Any, token: str) -> int:
    env = {
        **os.environ,
        "BENCH_WRK_METHOD": method,
        "BENCH_WRK_BODY": json.dumps(body) if body is not None else "",
        "BENCH_WRK_TOKEN": token,
        "BENCH_WRK_DELAY_MS": "0",
    }
    args = ["wrk", "-t1", "-c1", f"-d{seconds}s", "-s", str(BENCH / "wrk.lua"), url]
    proc = await asyncio.create_subprocess_exec(
        *args, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    out, _ = await proc.communicate()
    found = re.search(rb"^BENCH_RESULT (\{.*\})$", out, re.MULTILINE)
    if found is None:
        raise RuntimeError(f"wrk failed: {out.decode()}")
    return int(json.loads(found.group(1))["requests"])


async def _measure(upstream: str, seconds: int) -> dict[str, Any]:
    cfg = in_process_config(upstream, "lg-stages-")
    routes = {"checkin": f"POST {CHECKIN}", "balance_cached": f"GET {BALANCE}"}
    timers = Timers({CHECKIN: routes["checkin"], BALANCE: routes["balance_cached"]})
    app = make_app(cfg, wrap=timers.wrap)
    app.middlewares.append(timers.whole)  # around the front: the bench's only middleware
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    base = f"http://127.0.0.1:{port}"
    try:
        async with ClientSession() as http:
            sign_in = {"user": {"email": "stages@example.com", "password": "correct-horse-9"}}
            async with http.post(base + SIGN_IN, json=sign_in) as resp:
                token = (await resp.json())["access_token"]
        out: dict[str, Any] = {}
        cases: dict[str, tuple[str, str, Any]] = {
            "checkin": (CHECKIN, "POST", CHECKIN_BODY),
            "balance_cached": (BALANCE, "GET", None),
        }
        for case, (path, method, body) in cases.items():
            await _wrk(base + path, 1, method, body, token)  # warm-up (and fill the cache)
            timers.reset()
            cpu0 = time.process_time()
            n = await _wrk(base + path, seconds, method, body, token)
            total = time.process_time() - cpu0
            out[case] = _table(timers, routes[case], n, total)
        return out
    finally:
        await runner.cleanup()


def _table(timers: Timers, route: str, n: int, total: float) -> dict[str, Any]:
    names = timers.order[route]
    incl = [timers.inclusive.get((route, name), 0.0) for name in names]
    rows: dict[str, float] = {}
    for i, name in enumerate(names):
        inner = incl[i + 1] if i + 1 < len(names) else 0.0
        rows[name] = round((incl[i] - inner) / n * 1e6, 1)
    waited = timers.inclusive.get((route, "upstream_wait"), 0.0)
    front = timers.inclusive.get((route, "front"), 0.0) - waited
    rows = {"front": round((front - (incl[0] if incl else 0.0)) / n * 1e6, 1), **rows}
    rows["aiohttp_transport_loop"] = round((total - front) / n * 1e6, 1)
    return {"requests": n, "cpu_us_per_req": round(total / n * 1e6, 1), "stages_us": rows}


def main() -> None:
    upstream, seconds = sys.argv[1], int(sys.argv[2])
    uvloop.install()
    print(json.dumps(asyncio.run(_measure(upstream, seconds))))


if __name__ == "__main__":
    main()
