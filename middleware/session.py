"""Guest sessions: a gateway token in, the session's Punchh tokens resolved.

The token is read where a frontend puts Punchh's (seed 000): `Authorization: Bearer`,
or `authentication_token` in the JSON body or query; in cookie mode, the cookie first.
Bound to guest routes (and /gateway/logout). Sets the exchange's `session`.
Rejects: 401 session_required (none given) and invalid_session (forged, expired,
revoked), without calling Punchh; 503 session_store_unavailable when the store is down.
"""

from __future__ import annotations

from aiohttp import web

from gateway.exchange import Exchange
from gateway.incoming import request_token
from gateway.plan import Next, Plan, Stage
from gateway.sessions import SessionManager


def make_session_stage(manager: SessionManager, *, cookie_name: str | None) -> Stage:
    """`cookie_name` in cookie mode, else None: cookies are not even parsed then."""

    def bind(plan: Plan, nxt: Next) -> Next:
        if plan.access != "guest":
            return nxt

        async def session(ex: Exchange) -> web.StreamResponse:
            token = request_token(ex.request, ex.doc, cookie_name)
            ex.session = await manager.resolve(token)
            return await nxt(ex)

        return session

    return bind
