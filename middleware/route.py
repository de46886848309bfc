"""Route allowlist: normalise the path, then match it against the Punchh route table.

Sets ROUTE on requests for the proxy. Rejects: 400 invalid_path (a path that cannot
be normalised safely), 404 route_not_found (not in the table), 405 (wrong method).
The gateway's own routes (/healthz, /readyz, /gateway/...) pass by untouched.
"""

from __future__ import annotations

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware

from gateway.errors import BadRequest
from gateway.keys import ROUTE
from gateway.paths import InvalidPath, normalise_path
from gateway.routes import RouteTable

PROXY_ROUTE_NAME = "punchh-proxy"


def make_route_middleware(table: RouteTable) -> Middleware:
    @web.middleware
    async def route(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.match_info.route.name != PROXY_ROUTE_NAME:
            return await handler(request)
        raw_path = request.raw_path.partition("?")[0]
        try:
            path = normalise_path(raw_path)
        except InvalidPath as exc:
            raise BadRequest(f"invalid path: {exc}", code="invalid_path") from None
        request[ROUTE] = table.match(request.method, path)
        return await handler(request)

    return route
