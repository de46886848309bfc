"""The gateway's policy for client connections (issue 15, findings 7 and 9): the limits
each connection is held to, the connection cap of a listener in this process, and what a
request aiohttp's parser refuses is answered with. gateway/protocol.py applies it to
aiohttp's connections.

- Headers: a connection has `server.header_timeout` seconds from its opening, and from the
  first byte of each later request on it, to send complete request headers; then it is
  closed without an answer (a slowloris, or a connection that never says anything).
- Body: once a request's headers are in, its body has `server.body_timeout` seconds to
  arrive; then the read fails with 408 `body_timeout` and the connection closes after it.
- Idle: a keep-alive connection with no byte of a next request is aiohttp's
  `keepalive_timeout` (`server.keepalive_timeout`), not the header timeout.
- Cap: beyond `server.max_connections` open connections on this listener (in this process;
  the admin listener has its own count) a new one is still
  accepted (a load balancer's health check must get through), but only /healthz and /readyz
  are served on it; anything else is 503 `overloaded`; it closes after its answer.
- Refusals: a request aiohttp's parser refuses is 400 in the gateway's JSON shape
  (`malformed_request`, `headers_too_large`), never echoing the input.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from aiohttp.http_exceptions import LineTooLong, PayloadEncodingError

from gateway.errors import GatewayError, HeadersTooLarge, InternalError, MalformedRequest

log = logging.getLogger("gateway")

HEALTH = frozenset({"/healthz", "/readyz"})  # what a connection beyond the cap is served
_WARN_EVERY = 10.0  # seconds between two "connection limit reached" lines


@dataclass
class Connections:
    """This process's open connections, and the limits every connection is held to."""

    header_timeout: float
    body_timeout: float
    max_connections: int
    clock: Callable[[], float] = time.monotonic
    live: int = 0
    _warned: float = field(default=-math.inf, repr=False)

    def admit(self) -> bool:
        """Count a new connection: True while within the cap."""
        self.live += 1
        if self.live <= self.max_connections:
            return True
        now = self.clock()
        if now - self._warned >= _WARN_EVERY:
            self._warned = now
            log.warning(
                "connection limit reached: new connections get /healthz and /readyz only",
                extra={"connections": self.live, "max_connections": self.max_connections},
            )
        return False

    def release(self) -> None:
        self.live -= 1


def refusal(status: int, exc: BaseException | None) -> GatewayError:
    """What a request aiohttp could not take is answered with (its status is aiohttp's)."""
    if status != 400:
        return InternalError("internal error")
    if isinstance(exc, LineTooLong):
        return HeadersTooLarge("the request line or a header field is too long")
    if isinstance(exc, PayloadEncodingError):
        return MalformedRequest("the request body's framing is invalid")
    return MalformedRequest("the request is not valid HTTP/1.1")
