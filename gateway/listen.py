"""A listener bound, or one line saying why not: the address, and the setting that moves it.

`serve` and `sandbox` print that line and exit 2 (gateway/cli.py) instead of a traceback
(issue 20): `address 127.0.0.1:8080 is in use (GATEWAY_PORT)`.
"""

from __future__ import annotations

import errno

from aiohttp import web


class ListenError(Exception):
    """A listener that could not bind; `str()` is the one line an operator reads."""


def bind_problem(host: str, port: int, settings: tuple[str, str], exc: OSError) -> ListenError:
    """`settings`: what moves the listener's host and its port (GATEWAY_HOST, GATEWAY_PORT);
    a port in use names the port's only."""
    shown = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    if exc.errno == errno.EADDRINUSE:
        return ListenError(f"address {shown} is in use ({settings[1]})")
    reason = (exc.strerror or str(exc)).lower()  # not this host's address, a privileged port
    return ListenError(f"cannot listen on {shown} ({', '.join(settings)}): {reason}")


async def start_site(site: web.TCPSite, host: str, port: int, settings: tuple[str, str]) -> None:
    """`site.start()`, its OSError turned into a ListenError."""
    try:
        await site.start()
    except OSError as exc:
        raise bind_problem(host, port, settings, exc) from None
