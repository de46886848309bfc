"""CORS for the configured frontend origins (Fetch standard, "CORS protocol").

Preflights (`OPTIONS` with `Access-Control-Request-Method`) from an allowed origin are
answered 204 by the front; from any other origin 403 origin_forbidden. Every answer to an
allowed origin, the gateway's own errors included (the front decorates after rendering
errors, so a frontend can read `session_required` and send the guest to sign in),
carries `Access-Control-Allow-Origin` and `-Allow-Credentials`; every answer carries
`Vary: Origin`. `make_cors` returns None when no origin is configured: the front then
does no CORS work but answer preflights (403 origin_forbidden, from NO_ORIGIN).
"""

from __future__ import annotations

from dataclasses import dataclass

from aiohttp import web

from middleware.errors import error_response

ALLOW_METHODS = "GET, POST, PUT, PATCH, DELETE"
ALLOW_HEADERS = (
    "Content-Type, Authorization, X-Request-ID, Idempotency-Key, punchh-app-device-id, "
    "client-type, Accept-Language"
)


@dataclass(frozen=True, slots=True)
class Cors:
    allowed: frozenset[str]

    def preflight(self, request: web.Request, request_id: str) -> web.Response | None:
        """The answer to a preflight, or None for any other request."""
        if request.method != "OPTIONS" or "Access-Control-Request-Method" not in request.headers:
            return None
        origin = request.headers.get("Origin")
        if origin is None or origin not in self.allowed:
            return error_response(
                403,
                "origin_forbidden",
                "this origin may not call the gateway",
                request_id,
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

    def decorate(self, request: web.Request, response: web.StreamResponse) -> None:
        response.headers["Vary"] = "Origin"
        origin = request.headers.get("Origin")
        if origin is not None and origin in self.allowed:
            response.headers["Access-Control-Allow-Origin"] = origin
            response.headers["Access-Control-Allow-Credentials"] = "true"
            response.headers["Access-Control-Expose-Headers"] = "X-Request-ID, Retry-After"


# Where no origin is allowed (the default): preflights answered 403 origin_forbidden,
# as from an origin not allowed, and nothing else done.
NO_ORIGIN = Cors(frozenset())


def make_cors(allowed_origins: tuple[str, ...]) -> Cors | None:
    return Cors(frozenset(allowed_origins)) if allowed_origins else None
