"""A route's plan: everything a request on it needs that does not change per request,
compiled once at start-up (Envoy's per-route config, Kong's plugins iterator per route).

A plan holds the route, the call template (gateway/call.py), the rate-limit policies that
cover the route and their header string, the route's metric children (bound on first use,
so a route nobody calls adds no series), and `run`: the chain of the stages this route
needs, composed by `compile_plan`. A stage that does not apply to a route returns the next
step unchanged when bound, so it is not in that route's chain at all.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from aiohttp import web

if TYPE_CHECKING:
    from gateway.call import CallTemplate
    from gateway.exchange import Exchange
    from gateway.metrics import Metrics
    from gateway.ratelimit.policies import Policy
    from gateway.routes import Route
    from gateway.store.resp import Prefetch

Next = Callable[["Exchange"], Awaitable[web.StreamResponse]]
Stage = Callable[["Plan", Next], Next]  # bind a stage to a route: its step, or `nxt` itself


async def _unbound(ex: Exchange) -> web.StreamResponse:  # pragma: no cover - replaced
    raise RuntimeError("plan not compiled")


@dataclass(slots=True, eq=False)
class Plan:
    label: str  # metrics and logs: "GET /api/auth/users", "GET /healthz", "unmatched"
    method: str
    route: Route | None = None  # the Punchh route; None for the gateway's own
    access: str = "none"  # none | guest | pos
    business: str = ""  # the business's name (metrics, logs); "" for the gateway's own
    templated: bool = False  # a path parameter: always normalised and matched by the table
    read_body: bool = True
    call: CallTemplate | None = None
    policies: tuple[Policy, ...] = ()
    # Set by the cache stage on a cached read: its Redis read as a command the rate-limit
    # draw carries in the same round trip (None where it saves nothing).
    prefetch: Callable[[Exchange], Prefetch | None] | None = None
    run: Next = _unbound
    stages: tuple[str, ...] = ()  # the names of the bound stages, outermost first
    _counted: dict[tuple[int, str], Any] = field(default_factory=dict)
    _timers: tuple[Any, Any, Any] | None = None

    def count(self, metrics: Metrics, status: int, source: str) -> None:
        child = self._counted.get((status, source))
        if child is None:
            child = metrics.requests.labels(
                self.label, self.method, str(status), source, self.business
            )
            self._counted[(status, source)] = child
        child.inc()

    def timers(self, metrics: Metrics) -> tuple[Any, Any, Any]:
        """(duration, overhead, upstream duration) histogram children of this route."""
        if self._timers is None:
            self._timers = (
                metrics.duration.labels(self.label, self.business),
                metrics.overhead.labels(self.label, self.business),
                metrics.upstream_duration.labels(self.label, self.business),
            )
        return self._timers


Wrap = Callable[["Plan", str, Next], Next]


def compile_plan(
    plan: Plan, stages: Sequence[Stage], terminal: Next, *, wrap: Wrap | None = None
) -> Plan:
    """Compose the chain innermost first; record which stages took part. `wrap` (the
    bench's stage table) gets each bound step with its name, the handler as "handler"."""
    step = wrap(plan, "handler", terminal) if wrap else terminal
    names: list[str] = []
    for stage in reversed(stages):
        bound = stage(plan, step)
        if bound is not step:
            name = getattr(bound, "__name__", "stage")
            names.append(name)
            bound = wrap(plan, name, bound) if wrap else bound
        step = bound
    plan.run = step
    plan.stages = tuple(reversed(names))
    return plan
