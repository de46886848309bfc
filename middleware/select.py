"""Which business a request is for (issue 18): the front's step before the route.

`X-Loyalty-Business: <name>` decides when the socket peer is on loopback or in
`server.trusted_proxies` (a sidecar's own frontend, or the platform's proxy); from anyone
else it is ignored. Otherwise the `Host` header (its port ignored) matched against every
business's `hosts` (gateway/hosts.py): exact names, then `*.` wildcards, the longest
first; the `default` business, when there is one, answers any host no business claims.
A gateway with only the `default` business looks at neither.
Rejects: 404 unknown_business (a name or host no business has), before any stage runs:
Punchh is never called.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Iterable, Sequence
from typing import Generic, TypeVar

from aiohttp import web

from gateway.client_ip import IPNetwork
from gateway.config import DEFAULT_BUSINESS
from gateway.errors import NotFound
from gateway.hosts import HostMap

T = TypeVar("T")
HEADER = "X-Loyalty-Business"


class Selector(Generic[T]):
    __slots__ = ("_by_name", "_hosts", "_only", "_trusted")

    def __init__(
        self, businesses: Iterable[tuple[str, Sequence[str], T]], trusted: Sequence[IPNetwork]
    ) -> None:
        listed = list(businesses)
        self._by_name = {name: value for name, _, value in listed}
        default = self._by_name.get(DEFAULT_BUSINESS)
        claims = [(host, value) for _, hosts, value in listed for host in hosts]
        self._hosts = HostMap(claims, default)
        # Only `default`: every request is its, whatever the Host (single-business gateways).
        self._only = default if len(listed) == 1 else None
        self._trusted = tuple(trusted)

    def __call__(self, request: web.Request) -> T:
        headers = request.headers
        named = headers.get(HEADER)
        peer = request.remote if named is not None else None  # read only when needed
        return self.pick(named, headers.get("Host", ""), peer)

    def pick(self, named: str | None, host: str, peer: str | None) -> T:
        """`named`: the header's value, if sent; `host`: the Host header; `peer`: the
        socket peer's address."""
        if named is not None and self._believed(peer):
            found = self._by_name.get(named)
            if found is None:
                raise NotFound("no business of that name on this gateway", code="unknown_business")
            return found
        if self._only is not None:
            return self._only
        found = self._hosts.find(host)
        if found is None:
            raise NotFound("no business is served on this host", code="unknown_business")
        return found

    def _believed(self, peer: str | None) -> bool:
        try:
            ip = ipaddress.ip_address(peer or "")
        except ValueError:
            return False
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
        return ip.is_loopback or any(ip in net for net in self._trusted)


def make_selector(
    businesses: Iterable[tuple[str, Sequence[str], T]], *, trusted: Sequence[IPNetwork]
) -> Callable[[web.Request], T]:
    """`businesses`: (name, host patterns, value) of each, `default` among them or not."""
    return Selector(businesses, trusted)
