"""The forwarding handler: a chain of named steps from a routed request to Punchh and back.

    store check    a sign-in is not sent while the session store cannot keep its result
    ensure_fresh   a session near its access token's expiry is refreshed first
    build_call     body and query rewritten (client, tokens), encoded, signed, headers
    upstream.send  one call to Punchh (errors become 502/504)
    retry on 401   Punchh refused the access token: refresh once, send once more
    after_call     sign-in → new session; sign-out → session ended; echoes scrubbed
    answer         Punchh's status and body, headers by allowlist, the cookie in cookie mode

`POST /api2/password_less/refresh_token` is answered by the gateway itself: it refreshes
the session's tokens (the frontend holds no refresh token) and returns the same gateway token.
"""

from __future__ import annotations

from aiohttp import web
from aiohttp.typedefs import Handler

from gateway.answer import after_call
from gateway.call import build_call, call_spec
from gateway.config import GatewayConfig
from gateway.cookies import clear_session_cookie, set_session_cookie
from gateway.errors import BadRequest, GatewayError, Outcome
from gateway.headers import client_headers
from gateway.keys import REQUEST_ID, ROUTE, SESSION, SOURCE
from gateway.punchh_calls import refreshable
from gateway.refresh import Refresher
from gateway.sessions import Resolved, SessionManager
from gateway.upstream import UpstreamClient, UpstreamResponse


def make_proxy_handler(
    cfg: GatewayConfig, upstream: UpstreamClient, manager: SessionManager, refresher: Refresher
) -> Handler:
    cookie = cfg.session.cookie

    async def send(request: web.Request, resolved: Resolved | None) -> UpstreamResponse:
        session = resolved.session if resolved else None
        try:
            return await upstream.send(build_call(request, cfg, session), call_spec(request, cfg))
        except GatewayError:
            if request[ROUTE].route.action == "logout" and session is not None:
                await manager.end(session.sid)  # the guest asked to leave: they have
            raise

    async def proxy(request: web.Request) -> web.StreamResponse:
        route, rid = request[ROUTE].route, request[REQUEST_ID]
        resolved = request.get(SESSION)
        if route.action == "login":
            # A sign-up Punchh applied but the gateway could not keep would be half-applied:
            # with the store down, answer 503 before calling Punchh.
            await manager.store.ping()
        if route.action == "refresh":
            return await _refresh_answer(resolved, refresher, manager, rid, cookie.enabled)
        if resolved is not None:
            resolved = Resolved(await refresher.ensure_fresh(resolved.session, rid), resolved.token)
        resp = await send(request, resolved)
        if (
            resp.status == 401
            and resolved is not None
            and route.action == "forward"
            and refreshable(resolved.session)
        ):
            resolved = Resolved(await refresher.refresh_now(resolved.session, rid), resolved.token)
            resp = await send(request, resolved)
        request[SOURCE] = "upstream"
        try:
            answer = await after_call(route, resp, resolved, manager, cookie_mode=cookie.enabled)
        except GatewayError as exc:  # Punchh has answered: its status says what it did
            exc.outcome = _outcome_of(resp.status)
            raise
        response = web.Response(
            status=resp.status, body=answer.body, headers=client_headers(resp.headers, rid)
        )
        if cookie.enabled and answer.new_token:
            set_session_cookie(response, cookie, answer.new_token, manager.lifetime)
        elif cookie.enabled and answer.ended:
            clear_session_cookie(response, cookie)
        return response

    return proxy


def _outcome_of(status: int) -> Outcome:
    if 200 <= status < 300:
        return "applied"
    return "unknown" if status >= 500 else "not_applied"


async def _refresh_answer(
    resolved: Resolved | None,
    refresher: Refresher,
    manager: SessionManager,
    request_id: str,
    cookie_mode: bool,
) -> web.StreamResponse:
    if resolved is None or not refreshable(resolved.session):
        raise BadRequest("this session has no refresh token", code="not_refreshable")
    session = await refresher.refresh_now(resolved.session, request_id)
    data: dict[str, object] = {"token_type": "Bearer", "expires_in": manager.remaining(session)}
    if not cookie_mode:
        data["access_token"] = resolved.token
    return web.json_response({"data": data}, headers={"X-Request-ID": request_id})
