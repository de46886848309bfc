"""Resilience around calls to Punchh, unit by unit, on manual clocks and without a network:
backoff, the retry budget, the circuit breaker, route classes, the retry loop of
UpstreamClient (over a scripted Transport), the configuration keys, idempotency keys."""

from __future__ import annotations

import asyncio
import gc
import random
from collections.abc import Callable
from typing import Any

import pytest
from multidict import CIMultiDict, CIMultiDictProxy
from prometheus_client import CollectorRegistry

from gateway.config import ConfigError, load_config
from gateway.errors import (
    BadRequest,
    CircuitOpen,
    GatewayError,
    InternalError,
    Unprocessable,
    UpstreamError,
    UpstreamRetryRefused,
    UpstreamTimeout,
)
from gateway.metrics import Metrics
from gateway.resilience.breaker import CircuitBreaker, CircuitSettings, State
from gateway.resilience.idempotency import (
    Kept,
    MemoryIdempotencyBook,
    definite,
    fingerprint,
    parse_key,
)
from gateway.resilience.policy import CallSpec, Timeouts, replayable, route_class
from gateway.resilience.retry import RetryBudget, RetrySettings, backoff
from gateway.routes import PUNCHH_ROUTES, Route
from gateway.transports.base import AttemptTimeouts, UpstreamRequest, UpstreamResponse
from gateway.upstream import UpstreamClient
from tests.conftest import gateway_env
from tests.support.clock import ManualClock

# --- backoff ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("attempt", "ceiling"), [(1, 0.1), (2, 0.2), (3, 0.4), (4, 0.8), (5, 1.0), (9, 1.0)]
)
def test_backoff_is_full_jitter_up_to_the_capped_exponential(attempt: int, ceiling: float) -> None:
    assert backoff(attempt, 0.1, 1.0, lambda: 0.0) == 0.0
    assert backoff(attempt, 0.1, 1.0, lambda: 1.0) == pytest.approx(ceiling)
    assert backoff(attempt, 0.1, 1.0, lambda: 0.999999) == pytest.approx(ceiling, rel=1e-5)
    assert backoff(attempt, 0.1, 1.0, lambda: 0.5) == pytest.approx(ceiling / 2)


def test_backoff_samples_spread_over_the_whole_range() -> None:
    rng = random.Random(7)
    samples = [backoff(3, 0.1, 1.0, rng.random) for _ in range(2000)]
    assert all(0.0 <= s <= 0.4 for s in samples)
    assert min(samples) < 0.02
    assert max(samples) > 0.38


# --- retry budget -------------------------------------------------------------------------


def test_budget_allows_ratio_of_first_attempts() -> None:
    budget = RetryBudget(0.2, 0, 10, ManualClock())
    for _ in range(100):
        budget.deposit()
    assert [budget.withdraw() for _ in range(20)] == [True] * 20
    assert budget.withdraw() is False
    assert budget.withdraw() is False  # a refusal spends nothing, and gives nothing back


def test_budget_without_deposits_or_reserve_refuses() -> None:
    assert RetryBudget(0.2, 0, 10, ManualClock()).withdraw() is False


def test_budget_reserve_allows_min_per_second_over_the_window_with_no_deposits() -> None:
    budget = RetryBudget(0.2, 2, 10, ManualClock())
    assert [budget.withdraw() for _ in range(20)] == [True] * 20  # 2 a second, 10 s window
    assert budget.withdraw() is False


def test_budget_window_slides() -> None:
    clock = ManualClock()
    budget = RetryBudget(0.2, 0, 10, clock)
    for _ in range(100):
        budget.deposit()
    clock.advance(5)
    assert [budget.withdraw() for _ in range(20)] == [True] * 20
    assert budget.withdraw() is False
    clock.advance(5)  # the deposits are 10 s old now, the withdrawals 5 s
    for _ in range(100):
        budget.deposit()
    assert budget.withdraw() is False  # 20 live retries already, 20 allowed
    clock.advance(4)
    assert budget.withdraw() is False  # the withdrawals are 9 s old: still counted
    clock.advance(1)  # 10 s: gone
    assert [budget.withdraw() for _ in range(20)] == [True] * 20
    assert budget.withdraw() is False
    clock.advance(10)  # everything gone: no deposits left to spend
    assert budget.withdraw() is False


# --- circuit breaker ----------------------------------------------------------------------

BREAKER = CircuitSettings(
    enabled=True, failure_ratio=0.5, min_calls=10, window=10, consecutive=3, open_seconds=5.0
)


class Changes:
    def __init__(self) -> None:
        self.seen: list[tuple[str, State]] = []

    def __call__(self, family: str, state: State) -> None:
        self.seen.append((family, state))


def _breaker(
    clock: ManualClock, settings: CircuitSettings = BREAKER
) -> tuple[CircuitBreaker, Changes]:
    changes = Changes()
    return CircuitBreaker("auth", settings, clock, changes), changes


def state_of(breaker: CircuitBreaker) -> State:
    return breaker.state  # a call: mypy would narrow the attribute across assertions


def _call(breaker: CircuitBreaker, ok: bool) -> None:
    probe = breaker.before_call()
    breaker.record(ok, probe=probe)


def test_breaker_opens_after_consecutive_failures(clock: ManualClock) -> None:
    breaker, changes = _breaker(clock)
    _call(breaker, False)
    _call(breaker, False)
    assert state_of(breaker) == "closed"
    assert changes.seen == []
    _call(breaker, False)
    assert state_of(breaker) == "open"
    assert changes.seen == [("auth", "open")]


def test_breaker_successes_reset_the_consecutive_count(clock: ManualClock) -> None:
    # Punchh's 4xx answers are recorded as successes: Punchh is up and saying no.
    breaker, _ = _breaker(clock)
    for ok in (False, False, True, False, False, True, False, False):
        _call(breaker, ok)
    assert state_of(breaker) == "closed"
    _call(breaker, False)
    assert state_of(breaker) == "open"


def test_breaker_ratio_needs_min_calls(clock: ManualClock) -> None:
    breaker, _ = _breaker(clock, _settings(consecutive=1000))
    for _ in range(9):
        _call(breaker, False)
    assert state_of(breaker) == "closed"  # 9 of 9 failed, but fewer than min_calls
    _call(breaker, False)
    assert state_of(breaker) == "open"


def test_breaker_opens_at_the_ratio_not_below(clock: ManualClock) -> None:
    breaker, _ = _breaker(clock, _settings(consecutive=1000))
    for ok in [True] * 6 + [False] * 5:
        _call(breaker, ok)
    assert state_of(breaker) == "closed"  # 5 of 11 failed: below one half
    _call(breaker, False)
    assert state_of(breaker) == "open"  # 6 of 12: exactly one half


def test_breaker_ratio_forgets_calls_older_than_the_window(clock: ManualClock) -> None:
    breaker, _ = _breaker(clock, _settings(consecutive=1000))
    for _ in range(9):
        _call(breaker, False)
    clock.advance(10)
    _call(breaker, False)
    assert state_of(breaker) == "closed"  # one call in the window


def test_open_breaker_refuses_with_503_retry_after(clock: ManualClock) -> None:
    breaker, _ = _breaker(clock)
    for _ in range(3):
        _call(breaker, False)
    with pytest.raises(CircuitOpen) as info:
        breaker.before_call()
    exc = info.value
    assert exc.status == 503
    assert exc.code == "upstream_unavailable"
    assert exc.headers["Retry-After"] == "5"
    assert exc.sent is False
    assert exc.outcome == "not_applied"
    clock.advance(4.7)
    with pytest.raises(CircuitOpen) as info:
        breaker.before_call()
    assert int(info.value.headers["Retry-After"]) == 1  # 0.3 s left: rounded up, at least 1


def test_half_open_lets_exactly_one_probe_through(clock: ManualClock) -> None:
    breaker, changes = _breaker(clock)
    for _ in range(3):
        _call(breaker, False)
    clock.advance(4.999)
    with pytest.raises(CircuitOpen):
        breaker.before_call()
    clock.advance(0.001)
    assert breaker.before_call() is True  # the probe
    assert state_of(breaker) == "half_open"
    with pytest.raises(CircuitOpen) as info:
        breaker.before_call()  # a second caller while the probe is out
    assert int(info.value.headers["Retry-After"]) >= 1
    breaker.record(True, probe=True)
    assert state_of(breaker) == "closed"
    assert breaker.before_call() is False
    assert changes.seen == [("auth", "open"), ("auth", "half_open"), ("auth", "closed")]


def test_failed_probe_opens_again_for_a_fresh_period(clock: ManualClock) -> None:
    breaker, changes = _breaker(clock)
    for _ in range(3):
        _call(breaker, False)
    clock.advance(6)
    assert breaker.before_call() is True
    clock.advance(1)
    breaker.record(False, probe=True)
    assert state_of(breaker) == "open"
    clock.advance(4.9)  # 4.9 s after the probe failed, 11.9 s after the first opening
    with pytest.raises(CircuitOpen):
        breaker.before_call()
    clock.advance(0.1)
    assert breaker.before_call() is True
    breaker.record(True, probe=True)
    assert changes.seen == [
        ("auth", "open"),
        ("auth", "half_open"),
        ("auth", "open"),
        ("auth", "half_open"),
        ("auth", "closed"),
    ]


def test_abandoned_probe_lets_another_go(clock: ManualClock) -> None:
    breaker, _ = _breaker(clock)
    for _ in range(3):
        _call(breaker, False)
    clock.advance(5)
    assert breaker.before_call() is True
    breaker.abandon(False)  # not the probe: changes nothing
    with pytest.raises(CircuitOpen):
        breaker.before_call()
    breaker.abandon(True)
    assert state_of(breaker) == "half_open"
    assert breaker.before_call() is True
    with pytest.raises(CircuitOpen):
        breaker.before_call()


def test_late_answers_do_not_move_an_open_breaker(clock: ManualClock) -> None:
    breaker, changes = _breaker(clock)
    started = [breaker.before_call() for _ in range(5)]  # five calls out, none a probe
    assert started == [False] * 5
    for _ in range(3):
        breaker.record(False, probe=False)
    assert state_of(breaker) == "open"
    clock.advance(2)
    breaker.record(True, probe=False)  # answers of calls made before it opened
    breaker.record(False, probe=False)
    assert state_of(breaker) == "open"
    clock.advance(3)  # the open period was not restarted by the late failure
    assert breaker.before_call() is True
    breaker.record(True, probe=False)  # a late success during half-open closes nothing
    assert state_of(breaker) == "half_open"
    assert changes.seen == [("auth", "open"), ("auth", "half_open")]


def _settings(**changes: Any) -> CircuitSettings:
    values: dict[str, Any] = {
        "enabled": True,
        "failure_ratio": 0.5,
        "min_calls": 10,
        "window": 10,
        "consecutive": 3,
        "open_seconds": 5.0,
    }
    values.update(changes)
    return CircuitSettings(**values)


# --- route classes and replayable calls ---------------------------------------------------


def _route(method: str, path: str) -> Route:
    found = [r for r in PUNCHH_ROUTES if (r.method, r.path) == (method, path)]
    assert len(found) == 1, (method, path)
    return found[0]


AUTH_ROUTES = {
    "POST /api/auth/customers.json",
    "POST /api/auth/customers/sign_in",
    "POST /oauth/token",
    "POST /api2/password_less/token",
    "POST /api2/password_less/verify",
    "POST /api2/password_less/refresh_token",
    "POST /api2/password_less/sign_out",
    "POST /api2/signout",
    "POST /api2/mobile/users",
    "POST /api2/mobile/users/login",
    "DELETE /api2/mobile/users/logout",
}
POS_LOOKUPS = {"POST /api/pos/redemptions/possible", "POST /api/pos/discounts/lookup"}


def test_every_get_is_a_replayable_read() -> None:
    gets = [r for r in PUNCHH_ROUTES if r.method == "GET"]
    assert len(gets) >= 6
    for route in gets:
        assert route_class(route) == "read", route.name
        assert replayable(route, None), route.name


@pytest.mark.parametrize("name", sorted(POS_LOOKUPS))
def test_pos_lookups_are_replayable_reads(name: str) -> None:
    route = _route(*name.split(" "))
    assert route_class(route) == "read"
    assert replayable(route, {"location_id": 1})


def test_auth_class_is_exactly_the_sign_ins_sign_ups_otp_refresh_and_sign_outs() -> None:
    auth = {r.name for r in PUNCHH_ROUTES if route_class(r) == "auth"}
    assert auth == AUTH_ROUTES
    for route in PUNCHH_ROUTES:
        if route.name in AUTH_ROUTES:
            assert not replayable(route, {"external_uid": "x"}), route.name
        elif route.method != "GET" and route.name not in POS_LOOKUPS:
            assert route_class(route) == "write", route.name


@pytest.mark.parametrize(
    ("doc", "expected"),
    [
        (None, False),
        ({}, False),
        ({"external_uid": ""}, False),
        ({"external_uid": "  "}, False),
        ({"external_uid": None}, False),
        ({"external_uid": True}, False),
        ({"external_uid": False}, False),
        ({"external_uid": ["a"]}, False),
        ({"external_uid": "a"}, True),
        ({"external_uid": 7}, True),
    ],
)
def test_online_checkin_replayable_only_with_an_external_uid(
    doc: dict[str, Any] | None, expected: bool
) -> None:
    route = _route("POST", "/api/auth/checkins/online_order")
    assert route_class(route) == "write"
    assert replayable(route, doc) is expected


def test_profile_update_is_never_replayable() -> None:
    route = _route("PUT", "/api/auth/users")
    assert route_class(route) == "write"
    assert not replayable(route, None)
    assert not replayable(route, {"external_uid": "abc"})


def test_a_routes_call_spec_picks_the_class_timeouts() -> None:
    """The call template (built once per route) and the call's spec (per request)."""
    from gateway.call import call_spec, call_template
    from gateway.config import load_config
    from tests.conftest import gateway_env

    env = {
        f"PUNCHH_TIMEOUT_{cls}_{part}": str(value)
        for cls, first in (("READ", 1), ("WRITE", 4), ("AUTH", 7))
        for part, value in (("CONNECT", first), ("FIRST_BYTE", first + 1), ("TOTAL", first + 2))
    }
    cfg = load_config(None, gateway_env("http://127.0.0.1:9", **env))

    def spec_of(route: Route, doc: dict[str, str] | None) -> CallSpec:
        return call_spec(route, call_template(route, cfg), doc)

    spec = spec_of(_route("POST", "/api/pos/checkins"), {"external_uid": "u1"})
    assert spec == CallSpec("POST /api/pos/checkins", "pos", Timeouts(4, 5, 6), replayable=True)
    spec = spec_of(_route("POST", "/api2/mobile/users/login"), None)
    assert (spec.family, spec.timeouts, spec.replayable) == ("mobile", Timeouts(7, 8, 9), False)
    spec = spec_of(_route("GET", "/api/auth/users"), None)
    assert (spec.timeouts, spec.replayable) == (Timeouts(1, 2, 3), True)


# --- UpstreamClient's retry loop over a scripted transport ---------------------------------

Outcome = UpstreamResponse | Exception
REQUEST = UpstreamRequest("GET", "/api/auth/checkins/balance", {"X-Request-ID": "r1"}, None)
READ = CallSpec("GET /api/auth/checkins/balance", "auth", Timeouts(1.0, 5.0, 10.0), True)
WRITE = CallSpec("POST /api/auth/checkins/online_order", "auth", Timeouts(1.0, 5.0, 10.0), False)
RETRY = RetrySettings(
    max_attempts=3, backoff_base=0.1, backoff_max=1.0, budget_ratio=0.2, budget_min_per_second=10
)
NO_TRIP = _settings(consecutive=1000, min_calls=1000)


def answer(status: int, headers: dict[str, str] | None = None) -> UpstreamResponse:
    return UpstreamResponse(status, CIMultiDictProxy(CIMultiDict(headers or {})), b"{}")


def reset() -> UpstreamError:
    return UpstreamError("connection reset", kind="reset", sent=True)


def refused() -> UpstreamError:
    return UpstreamError("connection refused", kind="connect", sent=False)


class ScriptedTransport:
    """The Transport protocol over a list of outcomes; each attempt takes `takes` seconds of
    the manual clock (at most the attempt's total timeout) and is recorded."""

    def __init__(
        self,
        clock: ManualClock,
        script: list[Outcome],
        *,
        takes: float = 0.0,
        on_send: Callable[[], None] = lambda: None,
    ) -> None:
        self.clock = clock
        self.script = list(script)
        self.takes = takes
        self.on_send = on_send
        self.calls: list[tuple[float, AttemptTimeouts]] = []

    async def start(self, base_url: str) -> None:
        pass

    async def send(self, request: UpstreamRequest, timeouts: AttemptTimeouts) -> UpstreamResponse:
        self.calls.append((self.clock(), timeouts))
        self.on_send()
        self.clock.advance(min(self.takes, timeouts.total))
        outcome = self.script.pop(0)
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    async def close(self) -> None:
        pass


class Harness:
    def __init__(
        self,
        script: list[Outcome],
        *,
        retry: RetrySettings = RETRY,
        circuit: CircuitSettings = NO_TRIP,
        takes: float = 0.0,
    ) -> None:
        self.clock = ManualClock()
        self.registry = CollectorRegistry()
        metrics = Metrics(self.registry)
        metrics.prime(())
        self.sleeps: list[float] = []
        self.client = UpstreamClient(
            connect_timeout=1.0,
            total_timeout=10.0,
            pool_size=1,
            retry=retry,
            circuit=circuit,
            metrics=metrics,
            clock=self.clock,
            rng=lambda: 0.5,
            sleep=self._sleep,
        )
        self.transport = ScriptedTransport(self.clock, script, takes=takes)
        self.client._transport = self.transport

    async def _sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.clock.advance(seconds)

    def script(self, *outcomes: Outcome) -> None:
        self.transport.script.extend(outcomes)

    @property
    def attempts(self) -> int:
        return len(self.transport.calls)

    def metric(self, name: str, **labels: str) -> float:
        labels.setdefault("business", "default")  # the client's, as the metric says
        return self.registry.get_sample_value(f"loyalty_gateway_{name}", labels) or 0.0

    def retries(self, reason: str, spec: CallSpec = READ) -> float:
        return self.metric("upstream_retries_total", route=spec.route, reason=reason)

    def refused(self, reason: str) -> float:
        return self.metric("upstream_retries_refused_total", reason=reason)

    def circuit(self, family: str = "auth") -> float | None:
        return self.registry.get_sample_value(
            "loyalty_gateway_circuit_state", {"family": family, "business": "default"}
        )


async def test_replayable_read_is_retried_on_503_until_200() -> None:
    h = Harness([answer(503), answer(503), answer(200)])
    resp = await h.client.send(REQUEST, READ)
    assert resp.status == 200
    assert h.attempts == 3
    assert h.retries("status_503") == 2
    assert h.sleeps == [pytest.approx(0.05), pytest.approx(0.1)]  # rng 0.5 of 0.1, 0.2


async def test_sent_write_is_not_retried_and_its_outcome_is_unknown() -> None:
    h = Harness([reset(), answer(200)])
    with pytest.raises(UpstreamError) as info:
        await h.client.send(REQUEST, WRITE)
    assert info.value.outcome == "unknown"
    assert info.value.kind == "reset"
    assert h.attempts == 1
    assert h.retries("reset", WRITE) == 0


async def test_write_that_never_left_is_retried() -> None:
    h = Harness([refused(), answer(200)])
    resp = await h.client.send(REQUEST, WRITE)
    assert resp.status == 200
    assert h.attempts == 2
    assert h.retries("connect", WRITE) == 1


async def test_write_whose_connect_timed_out_is_retried() -> None:
    timeout = UpstreamTimeout("connect timeout", kind="connect_timeout", sent=False)
    h = Harness([timeout, answer(201)])
    assert (await h.client.send(REQUEST, WRITE)).status == 201
    assert h.retries("connect_timeout", WRITE) == 1


async def test_write_timing_out_after_sending_is_not_retried() -> None:
    h = Harness([UpstreamTimeout("slow", kind="first_byte", sent=True), answer(200)])
    with pytest.raises(UpstreamTimeout) as info:
        await h.client.send(REQUEST, WRITE)
    assert (h.attempts, info.value.outcome) == (1, "unknown")


async def test_write_never_connecting_fails_not_applied() -> None:
    h = Harness([refused(), refused(), refused(), answer(200)])
    with pytest.raises(UpstreamError) as info:
        await h.client.send(REQUEST, WRITE)
    assert info.value.outcome == "not_applied"
    assert h.attempts == 3


async def test_an_earlier_sent_attempt_makes_the_outcome_unknown() -> None:
    h = Harness([reset(), refused(), refused()])
    with pytest.raises(UpstreamError) as info:
        await h.client.send(REQUEST, READ)
    assert info.value.kind == "connect"  # the last attempt's error...
    assert info.value.sent is False
    assert info.value.outcome == "unknown"  # ...but the first one may have applied
    assert h.attempts == 3


@pytest.mark.parametrize("status", [400, 401, 404, 409, 412, 422, 429])
async def test_4xx_is_never_retried(status: int) -> None:
    h = Harness([answer(status), answer(200)])
    assert (await h.client.send(REQUEST, READ)).status == status
    assert h.attempts == 1


async def test_5xx_with_retry_after_is_not_retried() -> None:
    h = Harness([answer(503, {"Retry-After": "2"}), answer(200)])
    resp = await h.client.send(REQUEST, READ)
    assert (resp.status, resp.headers["Retry-After"]) == (503, "2")
    assert h.attempts == 1


@pytest.mark.parametrize("max_attempts", [1, 2, 4])
async def test_max_attempts_is_respected(max_attempts: int) -> None:
    retry = RetrySettings(max_attempts, 0.01, 0.1, 1.0, 100)
    h = Harness([answer(502)] * 10, retry=retry)
    assert (await h.client.send(REQUEST, READ)).status == 502
    assert h.attempts == max_attempts
    assert h.retries("status_502") == max_attempts - 1


async def test_no_attempt_starts_after_the_deadline() -> None:
    # total 1.0; each attempt takes 0.3 s (or what is left of the deadline); backoffs
    # (rng 0.5) are 0.1, 0.2, 0.4, 0.8...: attempts at 0, 0.4, 0.9; then 0.4 s of backoff
    # would end past the deadline, so the call ends with the third answer.
    retry = RetrySettings(10, 0.2, 1.0, 1.0, 100)
    spec = CallSpec(READ.route, "auth", Timeouts(1.0, 1.0, 1.0), replayable=True)
    h = Harness([answer(503)] * 10, retry=retry, takes=0.3)
    start = h.clock()
    resp = await h.client.send(REQUEST, spec)
    assert resp.status == 503
    starts = [at - start for at, _ in h.transport.calls]
    assert all(at < 1.0 for at in starts), starts
    for at, timeouts in h.transport.calls:
        assert timeouts.total <= start + 1.0 - at + 1e-9
    assert starts == [pytest.approx(0.0), pytest.approx(0.4), pytest.approx(0.9)]


async def test_spent_budget_refuses_retries() -> None:
    retry = RetrySettings(3, 0.01, 0.1, budget_ratio=0.2, budget_min_per_second=0)
    h = Harness([answer(200)] * 10, retry=retry)
    for _ in range(10):
        await h.client.send(REQUEST, READ)
    h.script(answer(503), answer(503), answer(503))  # 11 first attempts: 2.2 retries
    assert (await h.client.send(REQUEST, READ)).status == 503
    assert h.attempts == 13
    assert h.refused("budget") == 0
    h.script(answer(503), answer(200))  # 12 first attempts: 2.4, and 2 spent
    assert (await h.client.send(REQUEST, READ)).status == 503
    assert h.attempts == 14
    assert h.refused("budget") == 1
    assert h.retries("status_503") == 2


async def test_breaker_opening_between_attempts_ends_with_the_last_answer() -> None:
    h = Harness([answer(503), answer(503), answer(200)], circuit=_settings(consecutive=2))
    resp = await h.client.send(REQUEST, READ)
    assert resp.status == 503  # not CircuitOpen: Punchh's own answer
    assert h.attempts == 2
    assert h.refused("circuit_open") == 1
    assert h.client.breakers["auth"].state == "open"


async def test_breaker_opening_between_attempts_gives_the_last_error() -> None:
    h = Harness([reset(), refused(), answer(200)], circuit=_settings(consecutive=2))
    with pytest.raises(UpstreamError) as info:
        await h.client.send(REQUEST, READ)
    assert not isinstance(info.value, CircuitOpen)
    assert (info.value.kind, info.value.outcome) == ("connect", "unknown")
    assert h.attempts == 2
    assert h.refused("circuit_open") == 1


async def test_retries_metric_counts_only_attempts_sent_again() -> None:
    # "Calls to Punchh sent again": a retry the opening breaker stopped was not sent.
    h = Harness([answer(503), answer(503), answer(200)], circuit=_settings(consecutive=2))
    await h.client.send(REQUEST, READ)
    assert h.retries("status_503") == h.attempts - 1


async def test_4xx_answers_keep_the_breaker_closed() -> None:
    retry = RetrySettings(1, 0.01, 0.1, 1.0, 100)
    h = Harness([answer(503), answer(404), answer(503), answer(422), answer(503)], retry=retry)
    h.client.breakers["auth"] = CircuitBreaker("auth", _settings(consecutive=2), h.clock)
    for _ in range(5):
        await h.client.send(REQUEST, READ)
    assert h.client.breakers["auth"].state == "closed"


async def test_circuit_state_gauge_through_a_cycle() -> None:
    retry = RetrySettings(1, 0.01, 0.1, 1.0, 100)
    h = Harness([answer(500), answer(504)], retry=retry, circuit=_settings(consecutive=2))
    assert h.circuit() == 0
    await h.client.send(REQUEST, READ)
    assert h.circuit() == 0
    await h.client.send(REQUEST, READ)
    assert h.circuit() == 2
    with pytest.raises(CircuitOpen) as info:
        await h.client.send(REQUEST, READ)
    assert info.value.outcome == "not_applied"
    assert h.attempts == 2  # nothing sent while open
    assert h.circuit("pos") == 0  # one breaker per family
    h.clock.advance(5)
    during: list[float | None] = []
    h.transport.on_send = lambda: during.append(h.circuit())
    h.script(answer(200))
    assert (await h.client.send(REQUEST, READ)).status == 200
    assert during == [1]
    assert h.circuit() == 0
    for state in ("open", "half_open", "closed"):
        transitions = h.metric("circuit_transitions_total", family="auth", state=state)
        assert transitions == 1, state


# --- configuration ------------------------------------------------------------------------


def _config_env(**extra: str) -> dict[str, str]:
    return gateway_env("https://sandbox.punchh.com", **extra)


def _problems(env: dict[str, str]) -> list[str]:
    with pytest.raises(ConfigError) as info:
        load_config(None, env)
    return info.value.problems


def test_class_timeouts_from_the_env() -> None:
    cfg = load_config(
        None,
        _config_env(
            PUNCHH_TIMEOUT_READ_CONNECT="0.5",
            PUNCHH_TIMEOUT_READ_FIRST_BYTE="2",
            PUNCHH_TIMEOUT_READ_TOTAL="4",
            PUNCHH_TIMEOUT_AUTH_TOTAL="7",
            PUNCHH_TIMEOUT_AUTH_FIRST_BYTE="3",
        ),
    )
    assert cfg.resilience.timeouts["read"] == Timeouts(0.5, 2.0, 4.0)
    assert cfg.resilience.timeouts["auth"] == Timeouts(3.0, 3.0, 7.0)


def test_class_zeros_inherit_the_general_timeouts() -> None:
    cfg = load_config(
        None,
        _config_env(
            PUNCHH_CONNECT_TIMEOUT="1.5",
            PUNCHH_TOTAL_TIMEOUT="12",
            PUNCHH_TIMEOUT_READ_CONNECT="0",
            PUNCHH_TIMEOUT_READ_TOTAL="0",
            PUNCHH_TIMEOUT_READ_FIRST_BYTE="0",
        ),
    )
    t = cfg.resilience.timeouts
    assert t["read"] == Timeouts(1.5, 12.0, 12.0)
    assert t["write"] == Timeouts(1.5, 6.0, 12.0)  # first_byte default 6, total 0 -> 12
    assert t["auth"] == Timeouts(1.5, 12.0, 12.0)


def test_first_byte_and_connect_are_clamped_to_the_total() -> None:
    cfg = load_config(
        None,
        _config_env(
            PUNCHH_TIMEOUT_WRITE_TOTAL="3",
            PUNCHH_TIMEOUT_WRITE_FIRST_BYTE="6",
            PUNCHH_TIMEOUT_WRITE_CONNECT="5",
        ),
    )
    assert cfg.resilience.timeouts["write"] == Timeouts(3.0, 3.0, 3.0)


def test_retry_and_circuit_settings_from_the_env() -> None:
    cfg = load_config(
        None,
        _config_env(
            GATEWAY_RETRY_MAX_ATTEMPTS="4",
            GATEWAY_RETRY_BACKOFF_BASE="0.02",
            GATEWAY_RETRY_BACKOFF_MAX="0.5",
            GATEWAY_RETRY_BUDGET_RATIO="0.1",
            GATEWAY_RETRY_BUDGET_MIN_PER_SECOND="3",
            GATEWAY_CIRCUIT_CONSECUTIVE_FAILURES="7",
            GATEWAY_CIRCUIT_OPEN_SECONDS="2.5",
        ),
    )
    r, c = cfg.resilience.retry, cfg.resilience.circuit
    assert (r.max_attempts, r.backoff_base, r.backoff_max) == (4, 0.02, 0.5)
    assert (r.budget_ratio, r.budget_min_per_second) == (0.1, 3)
    assert (c.consecutive, c.open_seconds, c.enabled) == (7, 2.5, True)


def test_backoff_base_above_max_is_refused() -> None:
    problems = _problems(_config_env(GATEWAY_RETRY_BACKOFF_BASE="2", GATEWAY_RETRY_BACKOFF_MAX="1"))
    assert len(problems) == 1
    assert problems[0].startswith("retry.backoff_base")


def test_budget_ratio_above_one_is_refused() -> None:
    problems = _problems(_config_env(GATEWAY_RETRY_BUDGET_RATIO="1.5"))
    assert len(problems) == 1
    assert problems[0].startswith("retry.budget_ratio")


def test_shutdown_settings_from_the_env() -> None:
    cfg = load_config(None, _config_env(GATEWAY_SHUTDOWN_GRACE="1.5", GATEWAY_DRAIN_TIMEOUT="7"))
    assert (cfg.server.shutdown_grace, cfg.server.drain_timeout) == (1.5, 7.0)
    defaults = load_config(None, _config_env())
    assert (defaults.server.shutdown_grace, defaults.server.drain_timeout) == (3.0, 25.0)


# --- idempotency keys ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "key"),
    [
        ("abc", "abc"),
        ("  order-42:retry_1  ", "order-42:retry_1"),
        ('"8e03978e-40d5-43e8-bc93-6894a57f9324"', "8e03978e-40d5-43e8-bc93-6894a57f9324"),
        ("x" * 255, "x" * 255),
        ("!#$%&'()*+,./;<=>?@[]^`{|}~", "!#$%&'()*+,./;<=>?@[]^`{|}~"),
    ],
)
def test_parse_key_accepts_tokens_and_quoted_strings(raw: str, key: str) -> None:
    assert parse_key(raw) == key


@pytest.mark.parametrize(
    "raw", ["", "   ", '""', "x" * 256, "a b", "clé", "a\x00b", "a\tb", "a\x7fb", '"a b"']
)
def test_parse_key_rejects(raw: str) -> None:
    with pytest.raises(BadRequest) as info:
        parse_key(raw)
    assert (info.value.status, info.value.code) == (400, "invalid_idempotency_key")


def test_fingerprint_covers_method_path_query_and_body() -> None:
    base = fingerprint("POST", "/api/auth/checkins/online_order", "a=1", {"x": 1, "y": [1, 2]})
    variants = [
        fingerprint("PUT", "/api/auth/checkins/online_order", "a=1", {"x": 1, "y": [1, 2]}),
        fingerprint("POST", "/api/auth/redemptions/online_order", "a=1", {"x": 1, "y": [1, 2]}),
        fingerprint("POST", "/api/auth/checkins/online_order", "a=2", {"x": 1, "y": [1, 2]}),
        fingerprint("POST", "/api/auth/checkins/online_order", "a=1", {"x": 2, "y": [1, 2]}),
        fingerprint("POST", "/api/auth/checkins/online_order", "a=1", {"x": 1, "y": [2, 1]}),
        fingerprint("POST", "/api/auth/checkins/online_order", "a=1", None),
    ]
    assert len({base, *variants}) == 7
    same = fingerprint("POST", "/api/auth/checkins/online_order", "a=1", {"y": [1, 2], "x": 1})
    assert same == base
    nested_a = fingerprint("POST", "/p", "", {"o": {"a": 1, "b": {"c": 2, "d": 3}}})
    nested_b = fingerprint("POST", "/p", "", {"o": {"b": {"d": 3, "c": 2}, "a": 1}})
    assert nested_a == nested_b


KEPT = Kept(200, (("Content-Type", "application/json"),), b'{"points": 5}')


def _book(clock: ManualClock, ttl: int = 60) -> MemoryIdempotencyBook:
    return MemoryIdempotencyBook(ttl=ttl, max_entries=100, clock=clock)


async def test_book_joins_the_same_request_and_refuses_a_different_one(clock: ManualClock) -> None:
    book = _book(clock)
    assert await book.claim("k1", "print-a") is None
    joined = await book.claim("k1", "print-a")
    assert isinstance(joined, asyncio.Future)
    assert not joined.done()
    with pytest.raises(Unprocessable) as info:
        await book.claim("k1", "print-b")
    assert (info.value.status, info.value.code) == (422, "idempotency_key_reused")
    assert await book.claim("k2", "print-b") is None  # another key is another request
    await book.finish("k1", KEPT, keep=True)
    assert await joined == KEPT
    assert await book.claim("k1", "print-a") == KEPT
    with pytest.raises(Unprocessable) as info:
        await book.claim("k1", "print-b")
    assert info.value.code == "idempotency_key_reused"


async def test_book_answer_not_kept_runs_again(clock: ManualClock) -> None:
    book = _book(clock)
    assert await book.claim("k", "p") is None
    await book.finish("k", Kept(503, (), b"{}"), keep=False)
    assert await book.claim("k", "p") is None  # runs again...
    assert isinstance(await book.claim("k", "p"), asyncio.Future)  # ...and is in flight again


async def test_book_forgets_after_the_ttl(clock: ManualClock) -> None:
    book = _book(clock, ttl=60)
    assert await book.claim("k", "p") is None
    await book.finish("k", KEPT, keep=True)
    clock.advance(59)
    assert await book.claim("k", "p") == KEPT
    clock.advance(2)
    assert await book.claim("k", "p") is None
    await book.finish("k", KEPT, keep=True)
    assert len(book) == 1


async def test_book_with_ttl_zero_keeps_nothing(clock: ManualClock) -> None:
    book = _book(clock, ttl=0)
    assert await book.claim("k", "p") is None
    await book.finish("k", KEPT, keep=True)
    assert await book.claim("k", "p") is None


async def test_book_failure_reaches_the_waiting_request(clock: ManualClock) -> None:
    book = _book(clock)
    assert await book.claim("k", "p") is None
    waiting = await book.claim("k", "p")
    assert isinstance(waiting, asyncio.Future)
    error = UpstreamTimeout("Punchh did not answer", kind="first_byte", sent=True)
    await book.fail("k", error)
    with pytest.raises(UpstreamTimeout) as info:
        await waiting
    assert info.value is error
    assert await book.claim("k", "p") is None  # a failed request may be repeated


async def test_book_unexpected_failure_is_internal_with_unknown_outcome(
    clock: ManualClock,
) -> None:
    book = _book(clock)
    assert await book.claim("k", "p") is None
    waiting = await book.claim("k", "p")
    assert isinstance(waiting, asyncio.Future)
    await book.fail("k", RuntimeError("boom"))
    with pytest.raises(GatewayError) as info:
        await waiting
    assert isinstance(info.value, InternalError)
    assert info.value.outcome == "unknown"
    assert "boom" not in info.value.message


async def test_book_failure_without_waiters_is_quiet(clock: ManualClock) -> None:
    loop = asyncio.get_running_loop()
    reported: list[dict[str, Any]] = []
    loop.set_exception_handler(lambda _loop, context: reported.append(context))
    try:
        book = _book(clock)
        assert await book.claim("k", "p") is None
        await book.fail("k", asyncio.CancelledError())
        assert await book.claim("k", "p") is None
        assert len(book) == 1
        del book
        gc.collect()  # a future whose exception nobody retrieved complains when collected
    finally:
        loop.set_exception_handler(None)
    assert reported == []


def test_kept_drops_per_answer_headers() -> None:
    headers = CIMultiDict(
        {
            "Content-Type": "application/json",
            "x-request-id": "abc12345",
            "Content-Length": "13",
            "Date": "Mon, 01 Jan 2029 00:00:00 GMT",
            "Server": "Python/3.11 aiohttp",
            "SET-COOKIE": "lg_session=abc",
            "X-Cache": "MISS",
        }
    )
    kept = Kept.of(201, headers, b'{"points": 5}')
    assert kept.status == 201
    assert kept.body == b'{"points": 5}'
    assert kept.headers == (("Content-Type", "application/json"), ("X-Cache", "MISS"))


DEDUPED_WRITE = CallSpec(WRITE.route, "auth", Timeouts(1.0, 5.0, 10.0), replayable=True)
TRUE_READ = CallSpec(READ.route, "auth", Timeouts(1.0, 5.0, 10.0), replayable=True, read=True)


@pytest.mark.parametrize("status", [400, 409, 422, 429])
async def test_a_4xx_to_the_retry_of_a_sent_write_is_not_punchhs_word_on_it(status: int) -> None:
    """The first attempt may have applied (reset after sending); Punchh's 4xx answers the
    retry only. Passing it on would tell the client "not applied" about a write that was."""
    h = Harness([reset(), answer(status, {"Retry-After": "2"})])
    with pytest.raises(UpstreamRetryRefused) as info:
        await h.client.send(REQUEST, DEDUPED_WRITE)
    error = info.value
    assert (error.status, error.code, error.outcome) == (502, "upstream_retry_refused", "unknown")
    assert error.headers == {"Retry-After": "2"}
    assert h.attempts == 2


async def test_a_4xx_is_passed_on_when_no_earlier_attempt_could_have_applied() -> None:
    h = Harness([refused(), answer(422)])  # the first attempt never left
    assert (await h.client.send(REQUEST, WRITE)).status == 422
    h = Harness([reset(), answer(404)])  # a read applies nothing
    assert (await h.client.send(REQUEST, TRUE_READ)).status == 404
    h = Harness([reset(), answer(200)])  # a 2xx settles a deduplicated write
    assert (await h.client.send(REQUEST, DEDUPED_WRITE)).status == 200


@pytest.mark.parametrize(
    ("status", "retry_after", "kept"),
    [
        (200, None, True),
        (201, None, True),
        (422, None, True),  # the same body is refused the same way again
        (404, None, True),
        (429, None, False),  # later it may go through
        (429, "1", False),
        (401, None, False),  # a new token may make it work
        (412, None, False),  # the gateway's signature: fixed by configuration
        (200, "5", False),
        (500, None, False),
        (503, None, False),
    ],
)
def test_only_answers_a_repeat_would_get_again_are_kept(
    status: int, retry_after: str | None, kept: bool
) -> None:
    assert definite(status, retry_after) is kept
