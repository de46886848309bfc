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
            match = request.get(ROUTE)
            logger.info(
                "request",
                extra={
                    "request_id": request.get(REQUEST_ID, ""),
                    "method": request.method,
                    "route": match.route.name if match else "unmatched",
                    "status": status,
                    "duration_ms": round((clock() - started) * 1000, 3),
                    "client_ip": request.get(CLIENT_IP, ""),
                },
            )

    return access_log
