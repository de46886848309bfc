"""Client IP: the socket peer, or X-Forwarded-For through configured trusted proxies only.

The front sets the exchange's `client_ip` with it. Rejects nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from aiohttp import web

from gateway.client_ip import IPNetwork
from gateway.client_ip import client_ip as resolve_client_ip

ClientIp = Callable[[web.Request], str]


def make_client_ip(trusted: Sequence[IPNetwork]) -> ClientIp:
    trusted = tuple(trusted)
    if not trusted:

        def peer(request: web.Request) -> str:
            return request.remote or ""

        return peer

    def client_ip(request: web.Request) -> str:
        forwarded = request.headers.getall("X-Forwarded-For", [])
        return resolve_client_ip(request.remote, forwarded, trusted)

    return client_ip
