"""The gateway's own routes: /healthz, /readyz, POST /gateway/logout, POST /gateway/logout/all,
GET /gateway/openapi.json.

/healthz is 200 while the process runs. /readyz is 200 once the upstream client is up,
503 `not_ready` before, and 503 `draining` from SIGTERM on (gateway/workers.py); it
reports the store's state without failing on it (a Redis outage must not take every
replica out of the load balancer).
/gateway/logout ends the session named by the gateway token (found by the session stage,
like on every guest route) and signs out at Punchh where Punchh has a sign-out for that
kind of sign-in: 204, or 401 when the token is not a live session. /gateway/logout/all
ends every session of that guest, on every replica. /gateway/openapi.json is the
gateway's OpenAPI document (gateway/openapi.py), built once per process.
Each is a terminal step of a plan (gateway/plan.py), so the front and the stages a route
needs run for them as for any Punchh route.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from aiohttp import web

from gateway import openapi
from gateway.cache.base import CacheUnavailable, ResponseCache
from gateway.cache.policy import user_tag
from gateway.config import GatewayConfig
from gateway.cookies import clear_session_cookie
from gateway.described import ERRORS
from gateway.errors import GatewayError, NotReady, StoreUnavailable
from gateway.exchange import Exchange
from gateway.owner import guest_of
from gateway.plan import Next
from gateway.punchh_calls import sign_out_request, sign_out_spec
from gateway.readiness import Readiness
from gateway.routes import Access
from gateway.sessions import Resolved, SessionManager
from gateway.upstream import UpstreamClient

log = logging.getLogger("gateway")
_OK = json.dumps({"status": "ok"})


@dataclass(frozen=True, slots=True)
class LocalHandlers:
    """The terminal steps of the gateway's own routes, bound to what they use."""

    cfg: GatewayConfig
    sessions: SessionManager
    upstream: UpstreamClient
    cache: ResponseCache
    readiness: Readiness

    def routes(self) -> tuple[tuple[str, str, Next, str], ...]:
        """(method, path, handler, access) of each route."""
        return tuple(
            (r.method, r.path, functools.partial(r.handler, self), r.access) for r in OWN_ROUTES
        )

    async def healthz(self, ex: Exchange) -> web.StreamResponse:
        return web.Response(text=_OK, content_type="application/json")

    async def openapi(self, ex: Exchange) -> web.StreamResponse:
        """The document, or 304 to a client that has it (its ETag: a hash of the bytes,
        which only a new version of the gateway changes)."""
        body, etag = _openapi_json(), _openapi_etag()
        headers = {"ETag": etag, "Cache-Control": "public, max-age=3600"}
        if etag in ex.request.headers.get("If-None-Match", ""):
            return web.Response(status=304, headers=headers)
        return web.Response(body=body, content_type="application/json", headers=headers)

    async def readyz(self, ex: Exchange) -> web.StreamResponse:
        if self.readiness.draining:
            raise NotReady("the gateway is shutting down", code="draining")
        if not self.readiness.ready:
            raise NotReady("the gateway is not ready to serve")
        try:
            await self.sessions.store.ping()
            store = "ok"
        except StoreUnavailable:
            store = "unavailable"
        return web.json_response({"status": "ready", "store": store})

    async def logout(self, ex: Exchange) -> web.StreamResponse:
        resolved = _resolved(ex)
        await self.sessions.end(resolved.session.sid)
        return await self._after_logout(ex, resolved)

    async def logout_all(self, ex: Exchange) -> web.StreamResponse:
        resolved = _resolved(ex)
        if resolved.session.user_id is None:
            await self.sessions.end(resolved.session.sid)
        else:
            await self.sessions.end_all(resolved.session.user_id)
        return await self._after_logout(ex, resolved)

    async def _after_logout(self, ex: Exchange, resolved: Resolved) -> web.StreamResponse:
        try:
            await self.cache.invalidate([user_tag(guest_of(resolved.session))])
        except CacheUnavailable:
            log.warning("cache unavailable at logout", extra={"request_id": ex.request_id})
        await self._sign_out_at_punchh(ex, resolved)
        response = web.Response(status=204)
        cookie = self.cfg.session.cookie
        if cookie.enabled:
            clear_session_cookie(response, cookie)
        return response

    async def _sign_out_at_punchh(self, ex: Exchange, resolved: Resolved) -> None:
        call = sign_out_request(self.cfg, resolved.session, ex.request_id)
        if call is None:
            return
        try:
            resp = await self.upstream.send(
                call, sign_out_spec(self.cfg, resolved.session), timing=ex
            )
            outcome = str(resp.status)
        except GatewayError as exc:
            outcome = exc.code
        log.info("punchh sign-out", extra={"request_id": ex.request_id, "outcome": outcome})


@dataclass(frozen=True, slots=True)
class OwnRoute:
    method: str
    path: str
    access: Access  # "none" or "guest", as for a Punchh route
    handler: Callable[[LocalHandlers, Exchange], Awaitable[web.StreamResponse]]


OWN_ROUTES: tuple[OwnRoute, ...] = (
    OwnRoute("GET", "/healthz", "none", LocalHandlers.healthz),
    OwnRoute("GET", "/readyz", "none", LocalHandlers.readyz),
    OwnRoute("POST", "/gateway/logout", "guest", LocalHandlers.logout),
    OwnRoute("POST", "/gateway/logout/all", "guest", LocalHandlers.logout_all),
    OwnRoute("GET", "/gateway/openapi.json", "none", LocalHandlers.openapi),
)


@functools.cache
def _openapi_json() -> bytes:
    """Built on the first request, then kept: the document depends on nothing a reload
    changes."""
    return openapi.render(OWN_ROUTES, ERRORS).encode()


@functools.cache
def _openapi_etag() -> str:
    return '"' + hashlib.sha256(_openapi_json()).hexdigest()[:32] + '"'


def _resolved(ex: Exchange) -> Resolved:
    assert ex.session is not None  # the session stage is bound to these routes
    return ex.session
