"""Rate limits and abuse protection, before anything reaches Punchh.

For each policy covering the route's classes (gateway/ratelimit/policies.py): the
request's key (client IP, session, OTP target, sign-in account) draws on that policy's
GCRA budget. Failure-counted policies draw too (an attempt in flight counts, so parallel
guesses cannot overrun the budget) and give the unit back when Punchh's answer shows
the attempt did not fail. Rejects: 429 rate_limited with `Retry-After`; 503 upstream_busy while
Punchh's own `Retry-After` for the route runs; 503 rate_limiter_unavailable when the
store cannot answer for a fail-closed policy. Limited routes' answers carry the IETF
`RateLimit-Policy` and `RateLimit` fields. Reads ROUTE, CLIENT_IP, SESSION, BODY.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware

from gateway.errors import GatewayError
from gateway.keys import BODY, CLIENT_IP, ROUTE, SESSION
from gateway.metrics import Metrics
from gateway.ratelimit.gcra import Decision, seconds
from gateway.ratelimit.guards import Holds, UpstreamBusy, retry_after_seconds
from gateway.ratelimit.headers import rate_limit_headers
from gateway.ratelimit.policies import Policy, is_failure, key_for
from gateway.ratelimit.store import RateStore, RateStoreUnavailable
from gateway.routes import Route
from gateway.timing import note

log = logging.getLogger("gateway.ratelimit")


class RateLimited(GatewayError):
    status = 429
    default_code = "rate_limited"


class LimiterUnavailable(GatewayError):
    status = 503
    default_code = "rate_limiter_unavailable"


def make_rate_limit_middleware(
    policies: Sequence[Policy],
    store: RateStore,
    *,
    holds: Holds,
    clock: Callable[[], float],
    metrics: Metrics,
) -> Middleware:
    policies = tuple(policies)
    covering: dict[str, tuple[Policy, ...]] = {}  # route name → its policies, found once

    def policies_for(route: Route) -> tuple[Policy, ...]:
        found = covering.get(route.name)
        if found is None:
            classes = route.limit_classes
            found = covering[route.name] = tuple(p for p in policies if p.covers(classes))
        return found

    async def draw(policy: Policy, key: str, *, take: bool) -> Decision | None:
        try:
            return await store.take(key, policy.rate, take=take)
        except RateStoreUnavailable as exc:
            metrics.store_error("rate_limit")
            log.warning(
                "rate-limit store unavailable", extra={"policy": policy.name, "error": str(exc)}
            )
            if policy.fail_closed:
                raise LimiterUnavailable(
                    "rate limits cannot be checked; try again shortly", headers={"Retry-After": "1"}
                ) from None
            return None

    async def refund(policy: Policy, key: str) -> None:
        try:
            await store.refund(key, policy.rate)
        except RateStoreUnavailable:
            metrics.store_error("rate_limit")  # the unit stays taken: the safe side

    async def check(request: web.Request) -> list[tuple[Policy, str, Decision]]:
        route = request[ROUTE].route
        resolved = request.get(SESSION)
        sid = resolved.session.sid if resolved is not None else None
        drawn: list[tuple[Policy, str, Decision]] = []
        for policy in policies_for(route):
            key = key_for(
                policy,
                ip=request[CLIENT_IP],
                session=sid,
                body=request[BODY].doc,
                family=route.family,
            )
            if key is None:
                continue
            decision = await draw(policy, key, take=True)
            if decision is None:
                continue
            if not decision.allowed:
                metrics.rate_limited.labels(policy.name).inc()
                note("rate_limit", f"limited:{policy.name}")
                retry = str(max(1, seconds(decision.retry_after)))
                raise RateLimited(
                    f"too many requests ({policy.name}); retry later",
                    headers={"Retry-After": retry, **rate_limit_headers([(policy, decision)])},
                )
            drawn.append((policy, key, decision))
        return drawn

    @web.middleware
    async def rate_limit(request: web.Request, handler: Handler) -> web.StreamResponse:
        match = request.get(ROUTE)
        if match is None:
            return await handler(request)
        wait = holds.remaining(match.route.name, clock())
        if wait > 0:
            raise UpstreamBusy(
                "Punchh asked for a pause on this route",
                headers={"Retry-After": str(seconds(wait))},
            )
        drawn = await check(request)
        note("rate_limit", "allowed" if drawn else "none")
        response = await handler(request)
        if not is_failure(response.status) and response.status < 500:  # did not fail: give back
            for policy, key, _ in drawn:
                if policy.counts == "failures":
                    await refund(policy, key)
        if response.status in (429, 503):
            pause = retry_after_seconds(response.headers.get("Retry-After"), clock())
            if pause is not None:
                holds.hold(match.route.name, pause, clock())
        response.headers.update(rate_limit_headers([(p, d) for p, _, d in drawn]))
        return response

    return rate_limit
