"""The front: what every request goes through before and after its route's plan.

In order, outermost first:

    request id   keep a sane X-Request-ID or make one; on every answer
    in flight    counted for the drain (SIGTERM) and the gauge; draining: Connection: close
    observe      metrics and the access log, once the answer is known (middleware/observe.py)
    business     Host or X-Loyalty-Business → the business (middleware/select.py): 404
    cors         preflights answered; CORS headers on every answer, errors too, with the
                 business's own origins
    errors       GatewayError, aiohttp's errors, the unexpected → one JSON shape
    client ip    the socket peer, or X-Forwarded-For through trusted proxies only
    route        the normalised path and that business's plan (middleware/route.py):
                 400 / 404 / 405
    plan.run     the route's own stages, then its handler (gateway/plan.py)

The exchange (gateway/exchange.py) is built here, once, and handed down. The gateway's
own routes that no business owns (/healthz, /readyz, /metrics, the status page) come
with their plan and skip the business step.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Protocol

from aiohttp import web
from prometheus_client import Gauge

from gateway import tracing
from gateway.errors import GatewayError
from gateway.exchange import Exchange
from gateway.plan import Plan
from gateway.readiness import Readiness
from middleware.client_ip import ClientIp
from middleware.cors import NO_ORIGIN, Cors
from middleware.errors import RenderError
from middleware.observe import Record
from middleware.request_id import request_id_for
from middleware.route import is_normal

Front = Callable[[web.Request, Plan | None, str | None], Awaitable[web.StreamResponse]]
FRONT_STEPS = (
    "request_id",
    "in_flight",
    "observe",
    "business",
    "cors",
    "errors",
    "client_ip",
    "route",
)


class Business(Protocol):
    """What the front needs of a business (gateway/app.py, Parts): its compiled plans by
    route key, and its router for the paths aiohttp's cannot vouch for."""

    @property
    def plans(self) -> Mapping[str, Plan]: ...

    @property
    def unmatched(self) -> Plan: ...  # what a path not in its table is counted as

    @property
    def cors(self) -> Cors | None: ...  # its own frontend origins only

    def resolve(self, method: str, raw: str) -> tuple[Plan, str]: ...


def make_front(
    *,
    readiness: Readiness,
    record: Record,
    cors: Callable[[], Cors | None],  # the gateway's own routes' (every business's origins)
    render_error: RenderError,
    client_ip: ClientIp,
    select: Callable[[web.Request], Business],
    unmatched: Plan,
    in_flight: Gauge | None,
    clock: Callable[[], float] = time.perf_counter,
) -> Front:
    async def routed(
        ex: Exchange,
        plan: Plan | None,
        key: str | None,
        business: Business | None,
        refused: GatewayError | None,
    ) -> web.StreamResponse:
        """`plan`: a route of the gateway's own; else `key` names the route in the
        business's plans (None: aiohttp matched nothing), `business` the one selected,
        or `refused` why none was."""
        request = ex.request
        try:
            if refused is not None:
                raise refused
            raw = request.raw_path.partition("?")[0]
            if plan is None or not is_normal(raw):
                if business is None:
                    business = select(request)
                found = business.plans.get(key) if key is not None and plan is None else None
                if found is None or found.templated or not is_normal(raw):
                    ex.plan = business.unmatched  # until the path is matched
                    ex.plan, ex.path = business.resolve(request.method, raw)
                else:
                    ex.plan = found
            return await ex.plan.run(ex)
        except web.HTTPException as exc:
            if exc.status < 400:
                raise
            return render_error(ex, exc)
        except Exception as exc:  # GatewayError and the unexpected alike
            return render_error(ex, exc)

    async def front(request: web.Request, plan: Plan | None, key: str | None) -> web.StreamResponse:
        started = clock()
        rid = request_id_for(request.headers.get("X-Request-ID"))
        ex = Exchange(request, rid, client_ip(request), plan or unmatched, request.path)
        # Tracing off: one global read (gateway/tracing.py); on: named at the end, once routed.
        trace = ex.trace = None if tracing.TRACER is None else tracing.begin(request, ex.client_ip)
        readiness.in_flight += 1
        if in_flight is not None:
            in_flight.inc()
        status = 500
        try:
            # The business first: CORS answers with its origins only (brand A's page may
            # not read brand B's guests with B's cookie).
            business: Business | None = None
            refused: GatewayError | None = None
            own: Cors | None = None
            if plan is None:
                try:
                    business = select(request)
                    own = business.cors
                except GatewayError as exc:  # unknown_business: rendered below
                    refused = exc
            else:
                own = cors()
            answer = None
            if request.method == "OPTIONS":  # no origin allowed here: a preflight is 403
                answer = (own or NO_ORIGIN).preflight(request, rid)
            if answer is None:
                response = await routed(ex, plan, key, business, refused)
            else:
                response = answer
            if own is not None:
                own.decorate(request, response)
            status = response.status
        finally:
            readiness.in_flight -= 1
            if in_flight is not None:
                in_flight.dec()
            record(ex, status, clock() - started)
            if trace is not None:
                tracing.finish(trace, ex, status)
        if readiness.draining:
            response.force_close()
        response.headers["X-Request-ID"] = rid
        return response

    return front
