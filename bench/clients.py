"""Which HTTP client should talk to Punchh? Each candidate, alone in this process, sends the
same signed-size POST (a 300-byte JSON body, the gateway's usual headers) to an nginx
answering fixed JSON, with 64 requests in flight for a fixed time; reported: req/s and
this process's CPU per request (the part a gateway would pay), median of interleaved runs.

    python bench/clients.py        (needs nginx: scripts/ensure-apt.sh nginx)
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import aiohttp

CONCURRENCY = int(os.environ.get("BENCH_CONCURRENCY", "64"))
SECONDS = float(os.environ.get("BENCH_SECONDS", "4"))
RUNS = int(os.environ.get("BENCH_RUNS", "3"))
BODY = json.dumps(
    {
        "client": "c" * 20,
        "external_uid": "u" * 20,
        "receipt_amount": 42.5,
        "authentication_token": "a" * 43,
        "menu_items": [{"item_name": "x" * 40}] * 3,
    }
).encode()
HEADERS = {
    "Accept": "application/json",
    "Content-Type": "application/json",
    "User-Agent": "LoyaltyGateway/OnlineOrder/0.1/Web",
    "x-pch-digest": "d" * 40,
    "Authorization": "Bearer " + "t" * 43,
    "X-Request-ID": "r" * 32,
}
NGINX_CONF = """
daemon off; worker_processes 1; pid {tmp}/nginx.pid; error_log {tmp}/error.log;
events {{ worker_connections 1024; }}
http {{ access_log off; default_type application/json; keepalive_requests 100000;
  client_body_temp_path {tmp}; proxy_temp_path {tmp}; fastcgi_temp_path {tmp};
  uwsgi_temp_path {tmp}; scgi_temp_path {tmp};
  server {{ listen 127.0.0.1:{port}; location / {{ return 200 '{body}'; }} }} }}
"""

Send = Callable[[], Awaitable[None]]


async def _aiohttp(url: str, stack: AsyncExitStack) -> Send:
    connector = aiohttp.TCPConnector(limit=CONCURRENCY, keepalive_timeout=30)
    session = await stack.enter_async_context(
        aiohttp.ClientSession(
            connector=connector,
            skip_auto_headers=("User-Agent", "Content-Type", "Accept-Encoding"),
            cookie_jar=aiohttp.DummyCookieJar(),
        )
    )

    async def send() -> None:
        async with session.post(url, data=BODY, headers=HEADERS) as resp:
            await resp.read()

    return send


async def _aiosonic(url: str, stack: AsyncExitStack) -> Send:
    import aiosonic

    client = aiosonic.HTTPClient()

    async def send() -> None:
        resp = await client.post(url, data=BODY, headers=HEADERS)
        await resp.content()

    return send


async def _pyreqwest(url: str, stack: AsyncExitStack) -> Send:
    from pyreqwest.client import ClientBuilder

    client = ClientBuilder().max_connections(CONCURRENCY).build()
    stack.push_async_callback(client.close)

    async def send() -> None:
        resp = await client.post(url).headers(HEADERS).body_bytes(BODY).build().send()
        await resp.bytes()

    return send


async def _h1(url: str, stack: AsyncExitStack) -> Send:
    """The gateway's own client (gateway/transports/h1.py), through its transport contract."""
    from urllib.parse import urlsplit

    from gateway.transports.base import AttemptTimeouts, TransportSettings, UpstreamRequest
    from gateway.transports.h1 import H1Transport

    parts = urlsplit(url)
    transport = H1Transport(TransportSettings(3.0, 15.0, CONCURRENCY))
    await transport.start(f"{parts.scheme}://{parts.netloc}")
    stack.push_async_callback(transport.close)
    request = UpstreamRequest("POST", parts.path or "/", HEADERS, BODY)
    each = AttemptTimeouts(3.0, 15.0, 15.0)

    async def send() -> None:
        await transport.send(request, each)

    return send


async def _rnet(url: str, stack: AsyncExitStack) -> Send:
    import rnet

    client = rnet.Client()

    async def send() -> None:
        resp = await client.post(url, body=BODY, headers=HEADERS)
        await resp.bytes()

    return send


async def _httpx(url: str, stack: AsyncExitStack) -> Send:
    import httpx

    client = await stack.enter_async_context(
        httpx.AsyncClient(
            limits=httpx.Limits(max_connections=CONCURRENCY, max_keepalive_connections=CONCURRENCY)
        )
    )

    async def send() -> None:
        resp = await client.post(url, content=BODY, headers=HEADERS)
        await resp.aread()

    return send


CLIENTS: dict[str, Callable[[str, AsyncExitStack], Awaitable[Send]]] = {
    "aiohttp (tuned ClientSession)": _aiohttp,
    "aiosonic": _aiosonic,
    "pyreqwest": _pyreqwest,
    "h1 (the gateway's own)": _h1,
    "rnet": _rnet,
    "httpx": _httpx,
}


Maker = Callable[[str, AsyncExitStack], Awaitable[Send]]


async def _run(make: Maker, url: str) -> tuple[float, float]:
    async with AsyncExitStack() as stack:
        send = await make(url, stack)
        for _ in range(50):
            await send()  # warm the pool
        count = 0
        stop_at = time.perf_counter() + SECONDS

        async def worker() -> None:
            nonlocal count
            while time.perf_counter() < stop_at:
                await send()
                count += 1

        cpu0, t0 = time.process_time(), time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))
        return count / (time.perf_counter() - t0), (time.process_time() - cpu0) / count * 1e6


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _start_nginx() -> tuple[str, int, subprocess.Popen[bytes]]:
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    tmp, port = tempfile.mkdtemp(prefix="bench-clients-"), _free_port()
    conf = Path(tmp, "nginx.conf")
    conf.write_text(NGINX_CONF.format(tmp=tmp, port=port, body='{"ok":true,"points":42}'))
    proc = subprocess.Popen([nginx, "-p", tmp, "-c", str(conf)], stderr=subprocess.DEVNULL)
    return tmp, port, proc


async def main() -> int:
    tmp, port, proc = _start_nginx()
    try:
        await asyncio.sleep(0.5)
        url = f"http://127.0.0.1:{port}/api/auth/checkins/online_order"
        results: dict[str, list[tuple[float, float]]] = {name: [] for name in CLIENTS}
        for _ in range(RUNS):
            for name, make in CLIENTS.items():
                try:
                    results[name].append(await _run(make, url))
                except Exception as exc:  # a candidate that fails is reported, not fatal
                    print(f"{name}: failed: {type(exc).__name__}: {exc}", file=sys.stderr)
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"{CONCURRENCY} in flight, {SECONDS:.0f} s x {RUNS} interleaved runs, medians:")
    print(f"{'client':32} {'req/s':>8} {'CPU us/req':>11}")
    table: dict[str, Any] = {}
    for name, runs in results.items():
        if runs:
            rps = statistics.median(r[0] for r in runs)
            cpu = statistics.median(r[1] for r in runs)
            table[name] = {"rps": round(rps), "cpu_us_per_req": round(cpu, 1)}
            print(f"{name:32} {rps:8.0f} {cpu:11.1f}")
    Path(__file__).with_name("clients.json").write_text(json.dumps(table, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
