"""Request id: a sane client `X-Request-ID` is kept, anything else replaced by a new one.

Sets REQUEST_ID; every answer carries it back, and the upstream call carries it on.
The outermost stage, it also counts the requests in flight (what a drain waits for) and
closes the connection after each answer while the gateway drains (SIGTERM): keep-alive
clients then reconnect, through their load balancer, to a replica that is staying.
"""

from __future__ import annotations

import re
import uuid

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware

from gateway.keys import REQUEST_ID, Readiness

_SANE = re.compile(r"[A-Za-z0-9._:\-]{8,128}")


def request_id_for(header: str | None) -> str:
    if header and _SANE.fullmatch(header):
        return header
    return uuid.uuid4().hex


def make_request_id_middleware(readiness: Readiness | None = None) -> Middleware:
    @web.middleware
    async def request_id(request: web.Request, handler: Handler) -> web.StreamResponse:
        rid = request_id_for(request.headers.get("X-Request-ID"))
        request[REQUEST_ID] = rid
        if readiness is None:
            response = await handler(request)
        else:
            readiness.in_flight += 1
            try:
                response = await handler(request)
            finally:
                readiness.in_flight -= 1
            if readiness.draining:
                response.force_close()
        response.headers["X-Request-ID"] = rid
        return response

    return request_id
