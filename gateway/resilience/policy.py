"""What a call to Punchh may do when it fails: its timeouts, whether it may be sent again.

Route classes decide the timeouts: `read` (GET, and POST look-ups that change nothing),
`auth` (sign-ins, sign-ups, token refresh, sign-outs, OTP sends) and `write` (the rest).
A call is *replayable* when sending it twice cannot apply it twice: a read, or a write
that Punchh deduplicates by the `external_uid` it carries. A call that is not
replayable is sent again only when it provably never left (the connection failed).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from gateway.routes import Route

RouteClass = Literal["read", "write", "auth"]
ROUTE_CLASSES: tuple[RouteClass, ...] = ("read", "write", "auth")


@dataclass(frozen=True, slots=True)
class Timeouts:
    connect: float  # to open a connection (nothing sent yet: always safe to retry)
    first_byte: float  # from sending to Punchh's status line, per attempt
    total: float  # the whole call, retries and backoff included


@dataclass(frozen=True, slots=True)
class CallSpec:
    """How one upstream call is made: its labels, timeouts and retry safety."""

    route: str  # the metric label: a route template
    family: str  # the circuit breaker it belongs to
    timeouts: Timeouts
    replayable: bool
    read: bool = False  # changes nothing at Punchh, whatever the attempts did


# The abuse classes of the calls that sign a guest in or up, or send an OTP: the auth class.
# A password reset is budgeted against abuse too, but it is an ordinary write.
_AUTH_ABUSE = frozenset({"otp_send", "sign_in", "sign_up"})


def route_class(route: Route) -> RouteClass:
    if route.action != "forward" or route.abuse_class in _AUTH_ABUSE:
        return "auth"
    return "read" if route.read else "write"


def replayable(route: Route, doc: dict[str, Any] | None) -> bool:
    if route.read:
        return True
    if not route.dedupe or doc is None:
        return False
    uid = doc.get("external_uid")
    return isinstance(uid, str | int) and not isinstance(uid, bool) and str(uid).strip() != ""
