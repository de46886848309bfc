"""Guest sessions: a gateway token in, the session's Punchh tokens resolved.

The token is read where a frontend puts Punchh's (seed 000): `Authorization: Bearer`,
or `authentication_token` in the JSON body or query. Sets SESSION on guest routes.
Rejects: 401 session_required (none given) and invalid_session (forged, expired,
revoked), without calling Punchh.
"""

from __future__ import annotations

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware

from gateway.keys import BODY, ROUTE, SESSION
from gateway.sessions import SessionManager
from gateway.translate import presented_token


def make_session_middleware(manager: SessionManager) -> Middleware:
    @web.middleware
    async def session(request: web.Request, handler: Handler) -> web.StreamResponse:
        match = request.get(ROUTE)
        if match is None or match.route.access != "guest":
            return await handler(request)
        token = presented_token(
            request.headers.get("Authorization"),
            request[BODY].doc,
            list(request.rel_url.query.items()),
        )
        request[SESSION] = await manager.resolve(token)
        return await handler(request)

    return session
