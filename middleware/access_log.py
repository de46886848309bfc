"""Access log: one JSON line per request with the route template, never the raw path or query.

Reads what the other stages set (REQUEST_ID, ROUTE, CLIENT_IP); sets nothing.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware

from gateway.keys import CLIENT_IP, REQUEST_ID, ROUTE
from middleware.route import PROXY_ROUTE_NAME


def route_label(request: web.Request) -> str:
    """A Punchh route's template, a gateway route's path, or "unmatched": never a raw path."""
    if ROUTE in request:
        return request[ROUTE].route.name
    resource = request.match_info.route.resource
    if request.match_info.route.name != PROXY_ROUTE_NAME and resource is not None:
        return f"{request.method} {resource.canonical}"
    return "unmatched"


def make_access_log_middleware(
    logger: logging.Logger, *, clock: Callable[[], float] = time.perf_counter
) -> Middleware:
    @web.middleware
    async def access_log(request: web.Request, handler: Handler) -> web.StreamResponse:
        started = clock()
        status = 500
        try:
            response = await handler(request)
            status = response.status
            return response
        finally:
            logger.info(
                "request",
                extra={
                    "request_id": request.get(REQUEST_ID, ""),
                    "method": request.method,
                    "route": route_label(request),
                    "status": status,
                    "duration_ms": round((clock() - started) * 1000, 3),
                    "client_ip": request.get(CLIENT_IP, ""),
                },
            )

    return access_log
