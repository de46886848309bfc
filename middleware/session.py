"""Guest sessions: a gateway token in, the session's Punchh tokens resolved.

The token is read where a frontend puts Punchh's (seed 000): `Authorization: Bearer`,
or `authentication_token` in the JSON body or query; in cookie mode, the cookie first.
Sets SESSION on guest routes.
Rejects: 401 session_required (none given) and invalid_session (forged, expired,
revoked), without calling Punchh; 503 session_store_unavailable when the store is down.
"""

from __future__ import annotations

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware

from gateway.incoming import request_token
from gateway.keys import BODY, ROUTE, SESSION
from gateway.sessions import SessionManager


def make_session_middleware(manager: SessionManager, *, cookie_name: str | None) -> Middleware:
    """`cookie_name` in cookie mode, else None: cookies are not even parsed then."""

    @web.middleware
    async def session(request: web.Request, handler: Handler) -> web.StreamResponse:
        match = request.get(ROUTE)
        if match is None or match.route.access != "guest":
            return await handler(request)
        token = request_token(request, request[BODY].doc, cookie_name)
        request[SESSION] = await manager.resolve(token)
        return await handler(request)

    return session
