"""The gateway's own routes: /healthz, /readyz and POST /gateway/logout.

/healthz is 200 while the process runs. /readyz is 200 once the upstream client is up
and 503 `not_ready` otherwise. /gateway/logout ends the session named by the gateway
token (as `Authorization: Bearer` or `authentication_token`): 204, or 401 when the
token is not a live session.
"""

from __future__ import annotations

from aiohttp import web

from gateway.body import parse_body
from gateway.errors import GatewayError
from gateway.keys import READINESS, SESSIONS
from gateway.translate import presented_token


class NotReady(GatewayError):
    status = 503
    default_code = "not_ready"


async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def readyz(request: web.Request) -> web.Response:
    if not request.app[READINESS].ready:
        raise NotReady("the gateway is not ready to serve")
    return web.json_response({"status": "ready"})


async def logout(request: web.Request) -> web.Response:
    manager = request.app[SESSIONS]
    ctype = request.content_type if "Content-Type" in request.headers else ""
    doc = parse_body(await request.read(), ctype).doc
    token = presented_token(request.headers.get("Authorization"), doc, list(request.query.items()))
    resolved = await manager.resolve(token)
    await manager.end(resolved.session.sid)
    return web.Response(status=204)


def add_local_routes(app: web.Application) -> None:
    app.router.add_get("/healthz", healthz, name="healthz", allow_head=False)
    app.router.add_get("/readyz", readyz, name="readyz", allow_head=False)
    app.router.add_post("/gateway/logout", logout, name="gateway-logout")
