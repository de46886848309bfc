"""The forwarding handler: a chain of named steps from a routed request to Punchh and back.

    store check    a sign-in is not sent while the session store cannot keep its result
    ensure_fresh   a session near its access token's expiry is refreshed first
    build_call     body and query rewritten (client, tokens), encoded, signed, headers
    upstream.send  one call to Punchh (errors become 502/504)
    retry on 401   Punchh refused the access token: refresh once, send once more
    after_call     sign-in → new session; sign-out → session ended; echoes scrubbed
                   (of the tokens this request refreshed away too)
    answer         Punchh's status and body, headers by allowlist, the cookie in cookie mode

`POST /api2/password_less/refresh_token` is answered by the gateway itself: it refreshes
the session's tokens (the frontend holds no refresh token) and returns the same gateway token.
`make_proxy_handler` binds one handler per route, with the route's call template.
"""

from __future__ import annotations

from aiohttp import web

from gateway import jsonio
from gateway.answer import after_call
from gateway.call import CallTemplate, build_call, call_spec
from gateway.config import CookieConfig
from gateway.cookies import clear_session_cookie, set_session_cookie
from gateway.errors import BadRequest, GatewayError, Outcome
from gateway.exchange import Exchange
from gateway.headers import client_headers
from gateway.plan import Next
from gateway.punchh_calls import refreshable
from gateway.refresh import Refresher
from gateway.routes import Route
from gateway.sessions import PunchhTokens, Resolved, SessionManager
from gateway.upstream import UpstreamClient, UpstreamResponse


def make_proxy_handler(
    route: Route,
    template: CallTemplate,
    *,
    cookie: CookieConfig,
    upstream: UpstreamClient,
    manager: SessionManager,
    refresher: Refresher,
) -> Next:
    method, action = route.method, route.action

    async def send(ex: Exchange, resolved: Resolved | None) -> UpstreamResponse:
        session = resolved.session if resolved else None
        try:
            return await upstream.send(
                build_call(ex, method, template, session),
                call_spec(route, template, ex.doc),
                timing=ex,
            )
        except GatewayError:
            if action == "logout" and session is not None:
                await manager.end(session.sid)  # the guest asked to leave: they have
            raise

    async def refresh_answer(ex: Exchange) -> web.StreamResponse:
        resolved = ex.session
        if resolved is None or not refreshable(resolved.session):
            raise BadRequest("this session has no refresh token", code="not_refreshable")
        session = await refresher.refresh_now(resolved.session, ex.request_id, timing=ex)
        data: dict[str, object] = {"token_type": "Bearer", "expires_in": manager.remaining(session)}
        if not cookie.enabled:
            data["access_token"] = resolved.token
        response = web.Response(
            body=jsonio.dumps({"data": data}), headers={"X-Request-ID": ex.request_id}
        )
        response.content_type = "application/json"
        return response

    async def proxy(ex: Exchange) -> web.StreamResponse:
        rid, resolved = ex.request_id, ex.session
        earlier: tuple[PunchhTokens, ...] = ()  # tokens refreshed away: scrubbed from the answer
        if action == "login":
            # A sign-up Punchh applied but the gateway could not keep would be half-applied:
            # with the store down (any Cluster shard: the session may land on any), answer
            # 503 before calling Punchh.
            await manager.store.ping(every=True)
        if resolved is not None:
            fresh = await refresher.ensure_fresh(resolved.session, rid, timing=ex)
            if fresh is not resolved.session:
                earlier += (resolved.session.tokens,)
                resolved = Resolved(fresh, resolved.token)
        resp = await send(ex, resolved)
        if (
            resp.status == 401
            and resolved is not None
            and action == "forward"
            and refreshable(resolved.session)
        ):
            fresh = await refresher.refresh_now(resolved.session, rid, timing=ex)
            earlier += (resolved.session.tokens,)
            resolved = Resolved(fresh, resolved.token)
            resp = await send(ex, resolved)
        ex.source = "upstream"
        try:
            answer = await after_call(
                route, resp, resolved, manager, cookie_mode=cookie.enabled, earlier=earlier
            )
        except GatewayError as exc:  # Punchh has answered: its status says what it did
            exc.outcome = _outcome_of(resp.status)
            raise
        headers = client_headers(resp.headers, rid)
        if answer.scrub is not None:
            answer.scrub.headers(headers)  # ETag, Cache-Control...: no token there either
        response = web.Response(status=resp.status, body=answer.body, headers=headers)
        if cookie.enabled and answer.new_token:
            set_session_cookie(response, cookie, answer.new_token, manager.lifetime)
        elif cookie.enabled and answer.ended:
            clear_session_cookie(response, cookie)
        return response

    return refresh_answer if action == "refresh" else proxy


def _outcome_of(status: int) -> Outcome:
    if 200 <= status < 300:
        return "applied"
    return "unknown" if status >= 500 else "not_applied"
