"""The gateway's own routes: /healthz, /readyz, POST /gateway/logout, POST /gateway/logout/all.

/healthz is 200 while the process runs. /readyz is 200 once the upstream client is up,
503 `not_ready` before, and 503 `draining` from SIGTERM on (gateway/workers.py); it
reports the store's state without failing on it (a Redis outage must not take every
replica out of the load balancer).
/gateway/logout ends the session named by the gateway token (Bearer, the body's or the
query's `authentication_token`, or the cookie in cookie mode) and signs out at Punchh
where Punchh has a sign-out for that kind of sign-in: 204, or 401 when the token is not
a live session. /gateway/logout/all ends every session of that guest, on every replica.
"""

from __future__ import annotations

import logging

from aiohttp import web

from gateway.body import parse_body
from gateway.cache.base import CacheUnavailable
from gateway.cache.policy import user_tag
from gateway.cookies import clear_session_cookie
from gateway.errors import GatewayError
from gateway.incoming import request_token, sent_content_type
from gateway.keys import CACHE, CONFIG, READINESS, REQUEST_ID, SESSIONS, UPSTREAM
from gateway.punchh_calls import sign_out_request, sign_out_spec
from gateway.sessions import Resolved
from gateway.store.base import StoreUnavailable

log = logging.getLogger("gateway")


class NotReady(GatewayError):
    status = 503
    default_code = "not_ready"


async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def readyz(request: web.Request) -> web.Response:
    readiness = request.app[READINESS]
    if readiness.draining:
        raise NotReady("the gateway is shutting down", code="draining")
    if not readiness.ready:
        raise NotReady("the gateway is not ready to serve")
    try:
        await request.app[SESSIONS].store.ping()
        store = "ok"
    except StoreUnavailable:
        store = "unavailable"
    return web.json_response({"status": "ready", "store": store})


async def _resolve(request: web.Request) -> Resolved:
    cookie = request.app[CONFIG].session.cookie
    doc = parse_body(await request.read(), sent_content_type(request)).doc
    token = request_token(request, doc, cookie.name if cookie.enabled else None)
    return await request.app[SESSIONS].resolve(token)


async def _sign_out_at_punchh(request: web.Request, resolved: Resolved) -> None:
    call = sign_out_request(request.app[CONFIG], resolved.session, request[REQUEST_ID])
    if call is None:
        return
    try:
        resp = await request.app[UPSTREAM].send(
            call, sign_out_spec(request.app[CONFIG], resolved.session)
        )
        outcome = str(resp.status)
    except GatewayError as exc:
        outcome = exc.code
    log.info("punchh sign-out", extra={"request_id": request[REQUEST_ID], "outcome": outcome})


def _ended(request: web.Request) -> web.Response:
    response = web.Response(status=204)
    cookie = request.app[CONFIG].session.cookie
    if cookie.enabled:
        clear_session_cookie(response, cookie)
    return response


async def _forget_cached(request: web.Request, resolved: Resolved) -> None:
    user = resolved.session.user_id or f"sid:{resolved.session.sid}"
    try:
        await request.app[CACHE].invalidate([user_tag(user)])
    except CacheUnavailable:
        log.warning("cache unavailable at logout", extra={"request_id": request[REQUEST_ID]})


async def logout(request: web.Request) -> web.Response:
    resolved = await _resolve(request)
    await request.app[SESSIONS].end(resolved.session.sid)
    await _forget_cached(request, resolved)
    await _sign_out_at_punchh(request, resolved)
    return _ended(request)


async def logout_all(request: web.Request) -> web.Response:
    resolved = await _resolve(request)
    manager = request.app[SESSIONS]
    if resolved.session.user_id is None:
        await manager.end(resolved.session.sid)
    else:
        await manager.end_all(resolved.session.user_id)
    await _forget_cached(request, resolved)
    await _sign_out_at_punchh(request, resolved)
    return _ended(request)


def add_local_routes(app: web.Application) -> None:
    app.router.add_get("/healthz", healthz, name="healthz", allow_head=False)
    app.router.add_get("/readyz", readyz, name="readyz", allow_head=False)
    app.router.add_post("/gateway/logout", logout, name="gateway-logout")
    app.router.add_post("/gateway/logout/all", logout_all, name="gateway-logout-all")
