"""CSRF defence of cookie mode: an unsafe method must come from an allowed `Origin`.

With the session in a cookie the browser sends it on any site's request; a matching
`Origin` (OWASP CSRF cheat sheet, "Verifying origin with standard headers") proves the
frontend sent it. Runs after route matching so it judges the normalised route: POS
routes (devices, never cookies) are exempt. Rejects: 403 origin_forbidden.
Off (a pass-through) outside cookie mode.
"""

from __future__ import annotations

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware

from gateway.errors import Forbidden
from gateway.keys import ROUTE

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def make_csrf_middleware(*, cookie_mode: bool, allowed_origins: tuple[str, ...]) -> Middleware:
    allowed = frozenset(allowed_origins)

    @web.middleware
    async def csrf(request: web.Request, handler: Handler) -> web.StreamResponse:
        if not cookie_mode or request.method in SAFE_METHODS:
            return await handler(request)
        if ROUTE in request and request[ROUTE].route.access == "pos":
            return await handler(request)
        if request.headers.get("Origin") not in allowed:
            raise Forbidden(
                "unsafe requests need an allowed Origin in cookie mode", code="origin_forbidden"
            )
        return await handler(request)

    return csrf
