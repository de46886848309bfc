"""The narrow client to Punchh: `send(UpstreamRequest, CallSpec) -> UpstreamResponse`.

Around the chosen transport (gateway/transports/: aiohttp or pyreqwest, `punchh.http_client`)
it adds, per call:

    circuit breaker   the family's breaker may refuse at once (503, nothing sent)
    concurrency cap   a slot per attempt (rate_limit.max_concurrent_upstream)
    timeouts          connect and first byte per attempt; total for the whole call
    retries           a failed attempt is sent again when that cannot apply it twice:
                      the call is replayable (a read, or a write with an external_uid), or
                      the attempt never left (connect failed). Never on a 4xx; never on an
                      answer with Retry-After (the rate limiter holds the route instead).
                      Full-jitter backoff, within the deadline and the retry budget.

Only `UpstreamTimeout` (504), `UpstreamError` (502, with a kind) and `CircuitOpen` or
`UpstreamOverloaded` (503) come out; each says whether the call may have applied
(`outcome`), over all its attempts. A 5xx that could not be retried is returned as is
(a 5xx of Punchh's says nothing about applying). A 4xx to the retry of a write whose
earlier attempt was sent is not Punchh's word on the write: it becomes
`UpstreamRetryRefused` (502, outcome unknown).
"""

from __future__ import annotations

import asyncio
import copy
import logging
import random
import time
from collections.abc import Awaitable, Callable

from gateway import tracing
from gateway.errors import (
    CircuitOpen,
    GatewayError,
    UpstreamError,
    UpstreamRetryRefused,
    UpstreamTimeout,
)
from gateway.metrics import FAMILIES, Metrics
from gateway.ratelimit.guards import ConcurrencyLimiter
from gateway.resilience.breaker import STATE_VALUES, CircuitBreaker, CircuitSettings, State
from gateway.resilience.policy import CallSpec, Timeouts
from gateway.resilience.retry import RETRYABLE_STATUSES, RetryBudget, RetrySettings, backoff
from gateway.timing import Timing
from gateway.transports.base import (
    AttemptTimeouts,
    Transport,
    TransportSettings,
    UpstreamRequest,
    UpstreamResponse,
)

__all__ = ["CallSpec", "UpstreamClient", "UpstreamRequest", "UpstreamResponse", "make_transport"]

log = logging.getLogger("gateway.upstream")
NO_RETRIES = RetrySettings(1, 0.05, 1.0, 0.0, 0)
_MIN_ATTEMPT = 0.05  # seconds: a retry needs at least this much of the deadline left


def make_transport(kind: str, settings: TransportSettings) -> Transport:
    if kind == "h1":
        from gateway.transports.h1 import H1Transport

        return H1Transport(settings)
    if kind == "pyreqwest":
        from gateway.transports.pyreqwest import PyreqwestTransport

        return PyreqwestTransport(settings)
    from gateway.transports.aiohttp import AiohttpTransport

    return AiohttpTransport(settings)


class UpstreamClient:
    def __init__(
        self,
        *,
        connect_timeout: float,
        total_timeout: float,
        pool_size: int,
        limiter: ConcurrencyLimiter | None = None,
        http_client: str = "h1",
        retry: RetrySettings = NO_RETRIES,
        circuit: CircuitSettings | None = None,
        metrics: Metrics | None = None,
        business: str = "default",
        clock: Callable[[], float] = time.monotonic,
        rng: Callable[[], float] = random.random,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.base_url = ""
        self.http_client = http_client
        self._limiter = limiter
        self._transport = make_transport(
            http_client, TransportSettings(connect_timeout, total_timeout, pool_size)
        )
        self._default = Timeouts(connect_timeout, total_timeout, total_timeout)
        self._retry = retry
        self._budget = RetryBudget(
            retry.budget_ratio, retry.budget_min_per_second, retry.budget_window, clock
        )
        self._metrics = metrics
        self.business = business  # the metrics' label
        self._clock, self._rng, self._sleep = clock, rng, sleep
        self.breakers: dict[str, CircuitBreaker] = (
            {f: CircuitBreaker(f, circuit, clock, self._changed) for f in FAMILIES}
            if circuit is not None and circuit.enabled
            else {}
        )

    async def start(self, base_url: str) -> None:
        self.base_url = base_url.rstrip("/")
        await self._transport.start(self.base_url)

    async def close(self) -> None:
        await self._transport.close()

    def reconfigured(
        self,
        *,
        connect_timeout: float,
        total_timeout: float,
        retry: RetrySettings,
        circuit: CircuitSettings | None,
    ) -> UpstreamClient:
        """A client with new timeouts and retry and circuit settings (a live reload) over
        this one's connections, concurrency cap and metrics: calls in flight finish on this
        one's settings. The breakers keep their state unless their settings changed; so
        does the retry budget. Close one of the two only: they share the transport."""
        twin = copy.copy(self)
        twin._default = Timeouts(connect_timeout, total_timeout, total_timeout)
        if retry != self._retry:
            twin._retry = retry
            twin._budget = RetryBudget(
                retry.budget_ratio, retry.budget_min_per_second, retry.budget_window, self._clock
            )
        on = circuit is not None and circuit.enabled
        was = next(iter(self.breakers.values()), None)
        if not on:
            twin.breakers = {}
        elif was is None or was.settings != circuit:
            assert circuit is not None
            twin.breakers = {
                f: CircuitBreaker(f, circuit, self._clock, twin._changed) for f in FAMILIES
            }
        return twin

    def announce(self) -> None:
        """The circuit gauge set to this client's breakers' states (a reload's client, once
        swapped in: its breakers may be new, closed, or none)."""
        if self._metrics is None:
            return
        for f in FAMILIES:
            breaker = self.breakers.get(f)
            state: State = breaker.state if breaker is not None else "closed"
            self._metrics.circuit_state.labels(f, self.business).set(STATE_VALUES[state])

    def _changed(self, family: str, state: State) -> None:
        log.warning(
            "circuit breaker %s",
            state,
            extra={"family": family, "state": state, "business": self.business},
        )
        if self._metrics is not None:
            self._metrics.circuit_state.labels(family, self.business).set(STATE_VALUES[state])
            self._metrics.circuit_transitions.labels(family, state, self.business).inc()

    async def send(
        self,
        request: UpstreamRequest,
        spec: CallSpec | None = None,
        *,
        timing: Timing | None = None,
    ) -> UpstreamResponse:
        spec = spec or CallSpec("", "", self._default, replayable=False)
        deadline = self._clock() + spec.timeouts.total
        breaker = self.breakers.get(spec.family)
        self._budget.deposit()
        sent_before = False  # did an earlier attempt leave (and so perhaps apply)?
        result: UpstreamResponse | UpstreamError | UpstreamTimeout | None = None
        reason = ""
        try:
            attempt = 0
            while True:
                attempt += 1
                try:
                    probe = breaker.before_call() if breaker is not None else False
                except CircuitOpen:
                    if result is None:
                        raise
                    self._refused("circuit_open")  # the breaker opened between attempts
                    return _give(result)
                if result is not None:  # this attempt is a retry: the budget decides
                    if not self._budget.withdraw():
                        if breaker is not None:
                            breaker.abandon(probe)
                        self._refused("budget")
                        return _give(result)
                    self._count_retry(spec, reason, attempt, request)
                result = await self._attempt(
                    request, spec.timeouts, deadline, breaker, probe, timing, spec.route, attempt
                )
                if isinstance(result, UpstreamResponse):
                    if result.status not in RETRYABLE_STATUSES:
                        if sent_before and not spec.read and result.status >= 400:
                            # Punchh's "no" is to the retry: an earlier attempt may have
                            # applied the write. Only a 2xx settles it.
                            retry_after = result.headers.get("Retry-After")
                            raise UpstreamRetryRefused(result.status, retry_after)
                        return result
                    sent, reason = True, f"status_{result.status}"
                else:
                    sent, reason = result.sent, result.kind
                sent_before = sent_before or sent
                pause = backoff(
                    attempt, self._retry.backoff_base, self._retry.backoff_max, self._rng
                )
                left = deadline - self._clock() - pause
                if not self._may_retry(spec, attempt, result, sent, left):
                    return _give(result)
                await self._sleep(pause)
        except GatewayError as exc:
            if exc.outcome == "not_applied" and sent_before:
                exc.outcome = "unknown"
            raise

    async def _attempt(
        self,
        request: UpstreamRequest,
        timeouts: Timeouts,
        deadline: float,
        breaker: CircuitBreaker | None,
        probe: bool,
        timing: Timing | None,
        route: str = "",
        attempt: int = 1,
    ) -> UpstreamResponse | UpstreamError | UpstreamTimeout:
        """One attempt (`attempt`: its number); with tracing on, a span of its own
        (sampled requests) and `traceparent` (every request) in what Punchh gets."""
        left = max(0.001, deadline - self._clock())
        each = AttemptTimeouts(
            connect=min(timeouts.connect, left),
            first_byte=min(timeouts.first_byte, left),
            total=left,
        )
        try:
            if tracing.TRACER is None:
                result = await self._limited(request, each, timing)
            else:
                result = await tracing.attempt(
                    lambda sent: self._limited(sent, each, timing),
                    request,
                    route,
                    attempt - 1,
                    self.base_url,
                )
        except (UpstreamError, UpstreamTimeout) as exc:
            if breaker is not None:
                breaker.record(False, probe=probe)
            return exc
        except BaseException:  # cancelled, or refused by the concurrency cap: no verdict
            if breaker is not None:
                breaker.abandon(probe)
            raise
        if breaker is not None:
            breaker.record(result.status not in RETRYABLE_STATUSES, probe=probe)
        return result

    async def _limited(
        self, request: UpstreamRequest, each: AttemptTimeouts, timing: Timing | None
    ) -> UpstreamResponse:
        limiter = self._limiter
        if limiter is None:
            return await self._timed(request, each, timing)
        if not limiter.take():
            await limiter.wait()
        try:
            return await self._timed(request, each, timing)
        finally:
            limiter.give()

    async def _timed(
        self, request: UpstreamRequest, each: AttemptTimeouts, timing: Timing | None
    ) -> UpstreamResponse:
        if timing is None:
            return await self._transport.send(request, each)
        started = time.perf_counter()
        try:
            return await self._transport.send(request, each)
        finally:
            timing.upstream(time.perf_counter() - started)

    def _may_retry(
        self,
        spec: CallSpec,
        attempt: int,
        result: UpstreamResponse | GatewayError,
        sent: bool,
        left_after_pause: float,
    ) -> bool:
        if attempt >= self._retry.max_attempts or left_after_pause < _MIN_ATTEMPT:
            return False
        if sent and not spec.replayable:
            return False
        return not (isinstance(result, UpstreamResponse) and "Retry-After" in result.headers)

    def _refused(self, reason: str) -> None:
        if self._metrics is not None:
            self._metrics.retries_refused.labels(reason, self.business).inc()

    def _count_retry(
        self, spec: CallSpec, reason: str, attempt: int, request: UpstreamRequest
    ) -> None:
        """A retry about to be sent: `attempt` is its number (2 for the first retry)."""
        if self._metrics is not None:
            self._metrics.retries.labels(spec.route or "internal", reason, self.business).inc()
        log.info(
            "retrying a call to Punchh",
            extra={
                "route": spec.route,
                "attempt": attempt,
                "reason": reason,
                "request_id": request.headers.get("X-Request-ID", ""),
            },
        )


def _give(result: UpstreamResponse | UpstreamError | UpstreamTimeout) -> UpstreamResponse:
    if isinstance(result, UpstreamResponse):
        return result
    raise result
