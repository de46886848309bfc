"""CORS for the configured frontend origins (Fetch standard, "CORS protocol").

Preflights (`OPTIONS` with `Access-Control-Request-Method`) from an allowed origin are
answered 204 here; from any other origin 403 origin_forbidden. Every answer to an
allowed origin, the gateway's own errors included (this stage sits outside the error
stage, so a frontend can read `session_required` and send the guest to sign in),
carries `Access-Control-Allow-Origin` and `-Allow-Credentials`; every answer carries
`Vary: Origin`. Sets nothing. Off (a pass-through) when no origin is configured.
"""

from __future__ import annotations

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware

from gateway.keys import REQUEST_ID
from middleware.errors import error_response

ALLOW_METHODS = "GET, POST, PUT, PATCH, DELETE"
ALLOW_HEADERS = (
    "Content-Type, Authorization, X-Request-ID, Idempotency-Key, punchh-app-device-id, "
    "client-type, Accept-Language"
)


def make_cors_middleware(allowed_origins: tuple[str, ...]) -> Middleware:
    allowed = frozenset(allowed_origins)

    @web.middleware
    async def cors(request: web.Request, handler: Handler) -> web.StreamResponse:
        if not allowed:
            return await handler(request)
        origin = request.headers.get("Origin")
        if request.method == "OPTIONS" and "Access-Control-Request-Method" in request.headers:
            if origin not in allowed:
                return error_response(
                    403,
                    "origin_forbidden",
                    "this origin may not call the gateway",
                    request.get(REQUEST_ID, ""),
                    {"Vary": "Origin"},
                )
            return web.Response(
                status=204,
                headers={
                    "Access-Control-Allow-Origin": origin,
                    "Access-Control-Allow-Credentials": "true",
                    "Access-Control-Allow-Methods": ALLOW_METHODS,
                    "Access-Control-Allow-Headers": ALLOW_HEADERS,
                    "Access-Control-Max-Age": "600",
                    "Vary": "Origin",
                },
            )
        response = await handler(request)
        response.headers["Vary"] = "Origin"
        if origin in allowed:
            response.headers["Access-Control-Allow-Origin"] = origin
            response.headers["Access-Control-Allow-Credentials"] = "true"
            response.headers["Access-Control-Expose-Headers"] = "X-Request-ID, Retry-After"
        return response

    return cors
