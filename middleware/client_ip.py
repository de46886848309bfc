"""Client IP: the socket peer, or X-Forwarded-For through configured trusted proxies only.

Sets CLIENT_IP. Rejects nothing.
"""

from __future__ import annotations

from collections.abc import Sequence

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware

from gateway.client_ip import IPNetwork
from gateway.client_ip import client_ip as resolve_client_ip
from gateway.keys import CLIENT_IP


def make_client_ip_middleware(trusted: Sequence[IPNetwork]) -> Middleware:
    trusted = tuple(trusted)

    @web.middleware
    async def client_ip(request: web.Request, handler: Handler) -> web.StreamResponse:
        forwarded = request.headers.getall("X-Forwarded-For", []) if trusted else []
        request[CLIENT_IP] = resolve_client_ip(request.remote, forwarded, trusted)
        return await handler(request)

    return client_ip
