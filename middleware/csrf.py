"""CSRF defence of cookie mode: an unsafe method must come from an allowed `Origin`.

With the session in a cookie the browser sends it on any site's request; a matching
`Origin` (OWASP CSRF cheat sheet, "Verifying origin with standard headers") proves the
frontend sent it. Bound to routes with an unsafe method (POST, PUT, PATCH, DELETE) that
are not POS routes (devices, never cookies), and only in cookie mode.
Rejects: 403 origin_forbidden.
"""

from __future__ import annotations

from aiohttp import web

from gateway.errors import Forbidden
from gateway.exchange import Exchange
from gateway.plan import Next, Plan, Stage

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def make_csrf_stage(*, cookie_mode: bool, allowed_origins: tuple[str, ...]) -> Stage:
    allowed = frozenset(allowed_origins)

    def bind(plan: Plan, nxt: Next) -> Next:
        if not cookie_mode or plan.method in SAFE_METHODS or plan.access == "pos":
            return nxt

        async def csrf(ex: Exchange) -> web.StreamResponse:
            if ex.request.headers.get("Origin") not in allowed:
                raise Forbidden(
                    "unsafe requests need an allowed Origin in cookie mode", code="origin_forbidden"
                )
            return await nxt(ex)

        return csrf

    return bind
