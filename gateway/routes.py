"""The route table: the allowlist of Punchh endpoints the gateway serves.

Each entry names its family (which decides signing and headers), who may call it
(`none`: anyone; `guest`: a gateway session is required; `pos`: a configured device),
what the gateway does around the call (`login` keeps Punchh's tokens and hands
out a session; `refresh` renews the session's tokens; `logout` ends the session), and
its cache policy: `cache_ttl` seconds for a read (0: not cached), `invalidates` for a
write that changes the guest's points, rewards, basket or profile; and its abuse class
for rate limiting (`otp_send`, `sign_in`, `sign_up`, `password_reset`, or none). For
resilience: `read` for a
call that changes nothing at Punchh (every GET, and the POS look-ups sent as POST), and
`dedupe` for a write that Punchh applies once per `external_uid` (check-ins, redemptions):
those are the calls that may be sent again (gateway/resilience/policy.py).
Paths are Punchh's own. Anything else is a gateway 404 and never reaches Punchh.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Literal

from gateway.errors import MethodNotAllowed, NotFound

Family = Literal["auth", "oauth", "mobile", "password_less", "pos"]
Access = Literal["none", "guest", "pos"]
Action = Literal["forward", "login", "refresh", "logout"]


@dataclass(frozen=True, slots=True)
class Route:
    method: str
    path: str  # a template: {name} matches one path segment
    family: Family
    access: Access
    action: Action = "forward"
    cache_ttl: int = 0
    invalidates: bool = False
    abuse_class: str = ""
    read: bool = False
    dedupe: bool = False

    @property
    def limit_classes(self) -> frozenset[str]:
        """The route classes rate-limit policies name: `*`, `guest`, `pos` and the abuse class."""
        classes = {"*", self.access, self.abuse_class} - {"", "none"}
        return frozenset(classes)

    @property
    def name(self) -> str:
        """The label for metrics and logs: the template, never the raw path."""
        return f"{self.method} {self.path}"


@dataclass(frozen=True, slots=True)
class RouteMatch:
    route: Route
    path: str  # the normalised path that matched: the one forwarded and signed
    params: Mapping[str, str] = field(default_factory=dict)


def _r(
    method: str,
    path: str,
    family: Family,
    access: Access,
    action: Action = "forward",
    *,
    cache: int = 0,
    writes: bool = False,
    abuse: str = "",
    read: bool = False,
    dedupe: bool = False,
) -> Route:
    return Route(
        method,
        path,
        family,
        access,
        action,
        cache_ttl=cache,
        invalidates=writes,
        abuse_class=abuse,
        read=read or method == "GET",
        dedupe=dedupe,
    )


# docs/punchh.md, "Endpoints".
PUNCHH_ROUTES: tuple[Route, ...] = (
    # Online Ordering / SSO (HMAC-SHA1)
    _r("POST", "/api/auth/customers.json", "auth", "none", "login", abuse="sign_up"),
    _r("POST", "/api/auth/customers/sign_in", "auth", "none", "login", abuse="sign_in"),
    _r("GET", "/api/auth/users", "auth", "guest", cache=60),
    _r("PUT", "/api/auth/users", "auth", "guest", writes=True),
    _r("POST", "/api/auth/users/forgot_password", "auth", "none", abuse="password_reset"),
    _r("PATCH", "/api/auth/users/change_password", "auth", "guest"),
    _r("GET", "/api/auth/checkins/balance", "auth", "guest", cache=30),
    _r("GET", "/api/auth/users/balance", "auth", "guest", cache=30),
    # Account history: PAR OpenAPI sso_account_history / mobile_user_account_history.
    _r("GET", "/api/auth/accounts", "auth", "guest", cache=30),
    _r("POST", "/api/auth/checkins/online_order", "auth", "guest", writes=True, dedupe=True),
    _r("DELETE", "/api/auth/checkins", "auth", "guest", writes=True),
    _r("POST", "/api/auth/redemptions/online_order", "auth", "guest", writes=True, dedupe=True),
    _r("DELETE", "/api/auth/redemptions", "auth", "guest", writes=True),
    _r("POST", "/api/auth/discounts/select", "auth", "guest", writes=True),
    _r("DELETE", "/api/auth/discounts/unselect", "auth", "guest", writes=True),
    _r("GET", "/api/auth/discounts/active", "auth", "guest", cache=15),
    _r("POST", "/api/auth/batch_redemptions", "auth", "guest", writes=True, dedupe=True),
    _r("DELETE", "/api/auth/batch_redemptions/{redemption_ref}", "auth", "guest", writes=True),
    _r("POST", "/oauth/token", "oauth", "none", "login", abuse="sign_in"),
    # Advanced Authentication (unsigned)
    _r("POST", "/api2/password_less/token", "password_less", "none", abuse="otp_send"),
    _r("POST", "/api2/password_less/verify", "password_less", "none", "login", abuse="sign_in"),
    _r("POST", "/api2/password_less/refresh_token", "password_less", "guest", "refresh"),
    _r("POST", "/api2/password_less/sign_out", "password_less", "guest", "logout", writes=True),
    _r("POST", "/api2/signout", "password_less", "guest", "logout", writes=True),
    # Mobile (HMAC-SHA256)
    _r("POST", "/api2/mobile/users", "mobile", "none", "login", abuse="sign_up"),
    _r("POST", "/api2/mobile/users/login", "mobile", "none", "login", abuse="sign_in"),
    _r("GET", "/api2/mobile/users/balance", "mobile", "guest", cache=30),
    _r("GET", "/api2/mobile/users/account_history", "mobile", "guest", cache=30),
    # seed 003, item 7b: the barcode of a receipt stored by the POS (/receipt_details)
    _r("POST", "/api2/mobile/checkins/barcode", "mobile", "guest", writes=True),
    _r("DELETE", "/api2/mobile/users/logout", "mobile", "guest", "logout", writes=True),
    # POS (seed 003): devices only, off unless configured
    _r("GET", "/api/pos/users/search", "pos", "pos", cache=15),
    _r("POST", "/api/pos/users", "pos", "pos"),
    _r("POST", "/api/pos/checkins", "pos", "pos", writes=True, dedupe=True),
    _r("POST", "/api/pos/redemptions/possible", "pos", "pos", read=True),
    _r("POST", "/api/pos/redemptions", "pos", "pos", writes=True, dedupe=True),
    _r("POST", "/api/pos/discounts/lookup", "pos", "pos", read=True),
    _r("POST", "/api/pos/discounts/select", "pos", "pos", writes=True),
    _r("POST", "/api/pos/batch_redemptions", "pos", "pos", writes=True, dedupe=True),
    _r("POST", "/receipt_details", "pos", "pos"),  # every order's receipt (seed 003, 7b)
)

_PARAM = re.compile(r"\{([a-z_]+)\}")


def _compile(template: str) -> re.Pattern[str]:
    parts = _PARAM.split(template)
    pattern = "".join(
        re.escape(part) if i % 2 == 0 else f"(?P<{part}>[^/]+)" for i, part in enumerate(parts)
    )
    return re.compile(pattern + r"\Z")


class RouteTable:
    """Matches a normalised path and a method to one route.

    Exact paths by dict lookup, templated ones by regex.
    """

    def __init__(self, routes: Iterable[Route]) -> None:
        self.routes = tuple(routes)
        self._exact: dict[str, dict[str, Route]] = {}
        templated: dict[str, dict[str, Route]] = {}
        for route in self.routes:
            by_path = templated if _PARAM.search(route.path) else self._exact
            methods = by_path.setdefault(route.path, {})
            if route.method in methods:
                raise ValueError(f"duplicate route {route.name}")
            methods[route.method] = route
        self._templated = [(_compile(path), methods) for path, methods in templated.items()]

    def match(self, method: str, path: str) -> RouteMatch:
        params: dict[str, str] = {}
        methods = self._exact.get(path)
        if methods is None:
            for pattern, candidates in self._templated:
                found = pattern.match(path)
                if found:
                    methods, params = candidates, found.groupdict()
                    break
        if methods is None:
            raise NotFound("no such route on this gateway", code="route_not_found")
        route = methods.get(method)
        if route is None:
            raise MethodNotAllowed(f"{method} is not allowed here", allowed=tuple(sorted(methods)))
        return RouteMatch(route, path, params)


def build_route_table(
    *, pos_enabled: bool, cache_ttls: Mapping[str, int] | None = None
) -> RouteTable:
    """The allowlist, POS routes only when enabled; `cache_ttls` (cache.ttls) overrides
    the cached routes' TTLs by route name."""
    ttls = cache_ttls or {}
    return RouteTable(
        replace(r, cache_ttl=ttls.get(r.name, r.cache_ttl))
        for r in PUNCHH_ROUTES
        if pos_enabled or r.family != "pos"
    )
