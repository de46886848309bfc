"""Rate limits and abuse protection, before anything reaches Punchh.

Bound to every Punchh route while rate limiting is on, with the policies covering that
route found once (gateway/ratelimit/policies.py). Per request: Punchh's own pause for the
route (503 upstream_busy while its `Retry-After` runs), then each policy's key (client IP,
session, OTP target, sign-in account) draws on that policy's GCRA budget. A route with
an abuse class takes no query parameters (but `client`): 400 query_not_allowed.
Failure-counted policies draw too (an attempt in flight counts, so parallel guesses cannot
overrun the budget) and give the unit back when Punchh's answer shows the attempt did not
fail, or when a later budget refuses the request. Rejects: 429 rate_limited with
`Retry-After`; 503 rate_limiter_unavailable when the store cannot answer for a
fail-closed policy. Limited routes' answers carry the IETF
`RateLimit-Policy` and `RateLimit` fields.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

from aiohttp import web

from gateway.errors import (
    BadRequest,
    GatewayError,
    LimiterUnavailable,
    RateLimited,
    UpstreamBusy,
)
from gateway.exchange import Exchange
from gateway.metrics import Metrics
from gateway.plan import Next, Plan, Stage
from gateway.ratelimit.gcra import Decision, seconds
from gateway.ratelimit.guards import Holds, retry_after_seconds
from gateway.ratelimit.headers import policy_item, rate_limit_headers
from gateway.ratelimit.policies import Policy, is_failure, key_for
from gateway.ratelimit.store import RateStore, RateStoreUnavailable
from gateway.store.resp import Prefetch

log = logging.getLogger("gateway.ratelimit")
Drawn = list[tuple[Policy, str, Decision]]


def make_rate_limit_stage(
    policies: Sequence[Policy],
    store: RateStore,
    *,
    holds: Holds,
    clock: Callable[[], float],
    metrics: Metrics,
    business: str = "default",
) -> Stage:
    """`business` labels the refusals' metric; `store` holds that business's buckets."""
    policies = tuple(policies)
    items = {p.name: policy_item(p) for p in policies}  # RateLimit-Policy, once per policy

    def unavailable(keyed: list[tuple[Policy, str]], exc: Exception) -> None:
        """The store could not answer: 503 if any policy drawn fails closed, else none."""
        metrics.store_error("rate_limit")
        names = ",".join(p.name for p, _ in keyed)
        log.warning("rate-limit store unavailable", extra={"policy": names, "error": str(exc)})
        if any(p.fail_closed for p, _ in keyed):
            raise LimiterUnavailable(
                "rate limits cannot be checked; try again shortly", headers={"Retry-After": "1"}
            ) from None

    async def refund(policy: Policy, key: str) -> None:
        try:
            await store.refund(key, policy.rate)
        except RateStoreUnavailable:
            metrics.store_error("rate_limit")  # the unit stays taken: the safe side

    async def check(
        ex: Exchange,
        covering: tuple[Policy, ...],
        family: str,
        prefetch: Callable[[Exchange], Prefetch | None] | None,
    ) -> Drawn:
        """Every policy's key, then one draw on all their buckets (one Redis round trip,
        which also carries the route's cached-answer read when it has one)."""
        sid = ex.session.session.sid if ex.session is not None else None
        keyed: list[tuple[Policy, str]] = []
        for policy in covering:
            key = key_for(policy, ip=ex.client_ip, session=sid, body=ex.doc, family=family)
            if key is not None:
                keyed.append((policy, key))
        if not keyed:
            return []
        read = prefetch(ex) if prefetch is not None else None
        try:
            decisions = await store.take_many([(key, p.rate) for p, key in keyed], read)
        except RateStoreUnavailable as exc:
            # Units already drawn (a Cluster's shard that answered) are given back when
            # they count failures: the attempt is refused, or goes unchecked.
            for (drawn_policy, drawn_key), made in zip(keyed, exc.taken, strict=False):
                if made.allowed and drawn_policy.counts == "failures":
                    await refund(drawn_policy, drawn_key)
            unavailable(keyed, exc)
            return []
        if read is not None and read.done:
            ex.prefetched = read
        drawn: Drawn = []
        for (policy, key), decision in zip(keyed, decisions, strict=False):
            if not decision.allowed:
                # Refused: no attempt is made, so no failure-counted unit stays taken.
                for taken, taken_key, _ in drawn:
                    if taken.counts == "failures":
                        await refund(taken, taken_key)
                metrics.rate_limited.labels(policy.name, business).inc()
                ex.limit_note = f"limited:{policy.name}"
                retry = str(max(1, seconds(decision.retry_after)))
                raise RateLimited(
                    f"too many requests ({policy.name}); retry later",
                    headers={"Retry-After": retry, **rate_limit_headers([(policy, decision)])},
                )
            drawn.append((policy, key, decision))
        return drawn

    async def give_back(drawn: Drawn) -> None:
        """The failure-counted units of an attempt that did not fail: Punchh's success or
        429, or a gateway error with no verdict from Punchh (so that a store outage never
        spends a guest's budget: the failover test found guests locked out). Kept: any
        4xx but 429, Punchh's 5xx, and a call sent that got no answer (it may have been a
        wrong guess)."""
        for policy, key, _ in drawn:
            if policy.counts == "failures":
                await refund(policy, key)

    def bind(plan: Plan, nxt: Next) -> Next:
        route = plan.route
        if route is None:
            return nxt
        name, family = route.name, route.family
        covering = tuple(p for p in policies if p.covers(route.limit_classes))
        guarded = route.abuse_class not in ("", "none")  # budgets keyed by body identifiers
        plan.policies = covering
        prefetch = plan.prefetch  # the cache stage, bound before this one, set it

        async def rate_limit(ex: Exchange) -> web.StreamResponse:
            if guarded and any(key != "client" for key in ex.request.query):
                # Punchh (Rails) reads parameters from the query too, and lets them win
                # over the body's: an identifier there would dodge the budgets keyed by it.
                raise BadRequest(
                    "this route takes its parameters in the JSON body only",
                    code="query_not_allowed",
                )
            wait = holds.remaining(name, clock())
            if wait > 0:
                raise UpstreamBusy(
                    "Punchh asked for a pause on this route",
                    headers={"Retry-After": str(seconds(wait))},
                )
            drawn = await check(ex, covering, family, prefetch) if covering else []
            ex.limit_note = "allowed" if drawn else "none"
            try:
                response = await nxt(ex)
            except GatewayError as exc:
                # The gateway's own answer: a store that could not keep the session Punchh
                # granted, a breaker, nothing sent: no verdict on the credentials. What
                # was sent and went unanswered (a timeout) stays counted, as a 4xx does.
                if not is_failure(exc.status) and not exc.sent:
                    await give_back(drawn)
                raise
            status = response.status
            if not is_failure(status) and status < 500:  # Punchh's 5xx stay counted
                await give_back(drawn)
            if status == 429 or status == 503:
                pause = retry_after_seconds(response.headers.get("Retry-After"), clock())
                if pause is not None:
                    holds.hold(name, pause, clock())
            if drawn:
                results = [(p, d) for p, _, d in drawn]
                response.headers.update(rate_limit_headers(results, items))
            return response

        return rate_limit

    return bind
