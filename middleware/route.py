"""Route allowlist: what is matched, signed and forwarded is the normalised path.

Every Punchh route is registered in aiohttp's own router with its plan. A request whose
raw path is already normal (no `%`, `\\`, `//` or dot segment: the common case) is
served by the plan aiohttp matched, with that path. Any other path, and anything
aiohttp matched to nothing, is normalised here and matched against the route table:
400 invalid_path (a path that cannot be normalised safely), 404 route_not_found (not in
the table), 405 method_not_allowed (with `Allow`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from gateway.errors import BadRequest
from gateway.paths import InvalidPath, normalise_path
from gateway.plan import Plan
from gateway.routes import RouteTable

Resolve = Callable[[str, str], tuple[Plan, str]]


def is_normal(raw: str) -> bool:
    """True when `normalise_path(raw) == raw` needs no work to know."""
    return not ("%" in raw or "\\" in raw or "//" in raw or "/." in raw or raw.endswith("/"))


def make_router(table: RouteTable, plans: Mapping[str, Plan]) -> Resolve:
    """`plans` maps each route's name to its compiled plan."""

    def resolve(method: str, raw: str) -> tuple[Plan, str]:
        try:
            path = normalise_path(raw)
        except InvalidPath as exc:
            raise BadRequest(f"invalid path: {exc}", code="invalid_path") from None
        match = table.match(method, path)
        return plans[match.route.name], path

    return resolve
