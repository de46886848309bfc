"""The front: what every request goes through before and after its route's plan.

In order, outermost first:

    request id   keep a sane X-Request-ID or make one; on every answer
    in flight    counted for the drain (SIGTERM) and the gauge; draining: Connection: close
    observe      metrics and the access log, once the answer is known (middleware/observe.py)
    cors         preflights answered; CORS headers on every answer, errors too
    errors       GatewayError, aiohttp's errors, the unexpected → one JSON shape
    client ip    the socket peer, or X-Forwarded-For through trusted proxies only
    route        the normalised path and its plan (middleware/route.py): 400 / 404 / 405
    plan.run     the route's own stages, then its handler (gateway/plan.py)

The exchange (gateway/exchange.py) is built here, once, and handed down.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

from aiohttp import web
from prometheus_client import Gauge

from gateway.exchange import Exchange
from gateway.plan import Plan
from gateway.readiness import Readiness
from middleware.client_ip import ClientIp
from middleware.cors import Cors
from middleware.errors import RenderError
from middleware.observe import Record
from middleware.request_id import request_id_for
from middleware.route import Resolve, is_normal

Front = Callable[[web.Request, Plan | None], Awaitable[web.StreamResponse]]
FRONT_STEPS = ("request_id", "in_flight", "observe", "cors", "errors", "client_ip", "route")


def make_front(
    *,
    readiness: Readiness,
    record: Record,
    cors: Cors | None,
    render_error: RenderError,
    client_ip: ClientIp,
    resolve: Resolve,
    unmatched: Plan,
    in_flight: Gauge | None,
    clock: Callable[[], float] = time.perf_counter,
) -> Front:
    async def routed(ex: Exchange, plan: Plan | None) -> web.StreamResponse:
        request = ex.request
        try:
            raw = request.raw_path.partition("?")[0]
            if plan is None or plan.templated or not is_normal(raw):
                ex.plan, ex.path = resolve(request.method, raw)
            return await ex.plan.run(ex)
        except web.HTTPException as exc:
            if exc.status < 400:
                raise
            return render_error(ex, exc)
        except Exception as exc:  # GatewayError and the unexpected alike
            return render_error(ex, exc)

    async def front(request: web.Request, plan: Plan | None) -> web.StreamResponse:
        started = clock()
        rid = request_id_for(request.headers.get("X-Request-ID"))
        ex = Exchange(request, rid, client_ip(request), plan or unmatched, request.path)
        readiness.in_flight += 1
        if in_flight is not None:
            in_flight.inc()
        status = 500
        try:
            answer = cors.preflight(request, rid) if cors is not None else None
            response = answer if answer is not None else await routed(ex, plan)
            if cors is not None:
                cors.decorate(request, response)
            status = response.status
        finally:
            readiness.in_flight -= 1
            if in_flight is not None:
                in_flight.dec()
            record(ex, status, clock() - started)
        if readiness.draining:
            response.force_close()
        response.headers["X-Request-ID"] = rid
        return response

    return front
