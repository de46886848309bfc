"""The true client IP: the socket peer, or `X-Forwarded-For` read right to left
through configured trusted proxies only (RFC 7239 §5.2 reasoning; uvicorn's
proxy_headers does the same). A spoofed header from an untrusted peer changes nothing.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Sequence

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_networks(values: Iterable[str]) -> tuple[IPNetwork, ...]:
    """Parse CIDRs or single addresses; raises ValueError naming the bad one."""
    nets: list[IPNetwork] = []
    for value in values:
        try:
            nets.append(ipaddress.ip_network(value.strip(), strict=False))
        except ValueError:
            raise ValueError(f"not an IP address or CIDR: {value!r}") from None
    return tuple(nets)


def _trusted(addr: str, trusted: Sequence[IPNetwork]) -> bool:
    try:
        ip = ipaddress.ip_address(addr)
    except ValueError:
        return False
    return any(ip in net for net in trusted)


def client_ip(peer: str | None, forwarded_for: Sequence[str], trusted: Sequence[IPNetwork]) -> str:
    """`forwarded_for` holds every X-Forwarded-For header value in arrival order."""
    peer = peer or ""
    if not trusted or not _trusted(peer, trusted):
        return peer
    hops = [h.strip() for value in forwarded_for for h in value.split(",") if h.strip()]
    candidate = peer
    for hop in reversed(hops):
        try:
            ipaddress.ip_address(hop)
        except ValueError:
            return candidate  # garbage in the chain: stop at the last address we could trust
        candidate = hop
        if not _trusted(hop, trusted):
            return hop
    return candidate
