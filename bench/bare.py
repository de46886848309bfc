"""The ceilings `make bench` measures the gateway against, on the same machine, same run.

python bench/bare.py hello PORT
    `aiohttp_hello`: a bare aiohttp handler on uvloop answering fixed JSON (~600 bytes,
    like the upstream's answer): what this stack itself costs per request.
python bench/bare.py proxy PORT UPSTREAM_URL [pyreqwest|aiohttp]
    `aiohttp_proxy_minimal`: a bare aiohttp handler on uvloop that forwards the request
    (method, path and query, body) with the gateway's chosen upstream transport to the
    same nginx upstream, and answers its status, Content-Type and body: no gateway work.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator

import uvloop
from aiohttp import web

from gateway.transports.base import AttemptTimeouts, TransportSettings, UpstreamRequest
from gateway.upstream import make_transport

ANSWER = (
    b'{"points_balance":42,"banked_rewards":"0.0","membership_level":{"id":3,"name":"Gold"},'
    + b'"rewards":['
    + b",".join([b'{"id":1,"name":"10 USD Off","points":100}'] * 10)
    + b"]}"
)
TIMEOUTS = AttemptTimeouts(connect=3.0, first_byte=15.0, total=15.0)


def hello_app() -> web.Application:
    async def hello(request: web.Request) -> web.Response:
        return web.Response(body=ANSWER, content_type="application/json")

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", hello)
    return app


def proxy_app(upstream: str, client: str) -> web.Application:
    transport = make_transport(client, TransportSettings(3.0, 15.0, 100))

    async def lifecycle(app: web.Application) -> AsyncIterator[None]:
        await transport.start(upstream)
        yield
        await transport.close()

    async def proxy(request: web.Request) -> web.Response:
        body = await request.read()
        headers = {"Accept": "application/json"}
        if body:
            headers["Content-Type"] = "application/json"
        call = UpstreamRequest(request.method, request.raw_path, headers, body or None)
        resp = await transport.send(call, TIMEOUTS)
        return web.Response(
            status=resp.status,
            body=resp.body,
            headers={"Content-Type": resp.headers.get("Content-Type", "application/json")},
        )

    app = web.Application()
    app.cleanup_ctx.append(lifecycle)
    app.router.add_route("*", "/{tail:.*}", proxy)
    return app


def main(argv: list[str]) -> None:
    mode, port = argv[1], int(argv[2])
    if mode == "hello":
        app = hello_app()
    elif mode == "proxy":
        app = proxy_app(argv[3], argv[4] if len(argv) > 4 else "pyreqwest")
    else:
        raise SystemExit(f"unknown mode {mode!r}: expected hello or proxy")
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    web.run_app(app, host="127.0.0.1", port=port, access_log=None, print=None)


if __name__ == "__main__":
    main(sys.argv)
