"""A circuit breaker per upstream family (auth, oauth, mobile, password_less, pos).

closed     calls pass; outcomes are counted in a sliding window of `window` seconds.
           It opens when `consecutive` calls in a row failed, or when at least
           `min_calls` were made in the window and `failure_ratio` of them failed.
open       calls are refused at once (503 upstream_unavailable, Retry-After) for
           `open_seconds`; nothing reaches Punchh.
half_open  one probe call is let through; others are still refused. The probe's
           success closes the breaker, its failure opens it again.

A failure is a timeout, a connection error or a 5xx answer (500, 502, 503, 504);
Punchh's 4xx answers are successes here: Punchh is up and saying no. The state is kept
per process; `on_change` reports every transition (the metric).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from gateway import parsers as p
from gateway.errors import CircuitOpen
from gateway.resilience.window import SlidingCounts
from gateway.settings import key

State = Literal["closed", "open", "half_open"]
_CALLS, _FAILURES = 0, 1
STATE_VALUES: dict[State, int] = {"closed": 0, "half_open": 1, "open": 2}


@dataclass(frozen=True, slots=True)
class CircuitSettings:
    enabled: bool = key(
        "circuit.enabled",
        p.boolean,
        True,
        "A circuit breaker per upstream family: while open, calls answer 503 at once.",
        "GATEWAY_CIRCUIT_ENABLED",
    )
    failure_ratio: float = key(
        "circuit.failure_ratio",
        p.fraction,
        0.5,
        "Share of failed calls in the window that opens the breaker (with min_calls).",
        "GATEWAY_CIRCUIT_FAILURE_RATIO",
    )
    min_calls: int = key(
        "circuit.min_calls",
        p.integer(1, 1000000),
        20,
        "Calls in the window before failure_ratio is judged.",
        "GATEWAY_CIRCUIT_MIN_CALLS",
    )
    window: int = key(
        "circuit.window",
        p.integer(1, 3600),
        10,
        "Seconds of calls the failure ratio is computed over.",
        "GATEWAY_CIRCUIT_WINDOW",
    )
    consecutive: int = key(
        "circuit.consecutive_failures",
        p.integer(1, 100000),
        5,
        "Failed calls in a row (timeouts, connection errors, 5xx) that open the breaker.",
        "GATEWAY_CIRCUIT_CONSECUTIVE_FAILURES",
    )
    open_seconds: float = key(
        "circuit.open_seconds",
        p.seconds(0.1, 3600),
        5.0,
        "Seconds the breaker stays open before one probe call is let through (half-open).",
        "GATEWAY_CIRCUIT_OPEN_SECONDS",
    )


class CircuitBreaker:
    def __init__(
        self,
        family: str,
        settings: CircuitSettings,
        clock: Callable[[], float],
        on_change: Callable[[str, State], None] = lambda family, state: None,
    ) -> None:
        self.family = family
        self._s = settings
        self._clock = clock
        self._on_change = on_change
        self.state: State = "closed"
        self._opened_at = 0.0
        self._probe_out = False
        self._consecutive = 0
        self._window = SlidingCounts(settings.window, 2, clock)  # calls, failures

    @property
    def settings(self) -> CircuitSettings:
        return self._s

    def _move(self, state: State) -> None:
        if state != self.state:
            self.state = state
            self._on_change(self.family, state)

    def before_call(self) -> bool:
        """Raises CircuitOpen while open; returns True when this call is the half-open probe."""
        if self.state == "closed":
            return False
        left = self._opened_at + self._s.open_seconds - self._clock()
        if self.state == "open" and left <= 0:
            self._move("half_open")
        if self.state == "half_open" and not self._probe_out:
            self._probe_out = True
            return True
        raise CircuitOpen(self.family, max(1, math.ceil(left)))

    def record(self, ok: bool, *, probe: bool) -> None:
        if probe:
            self._probe_out = False
        if self.state == "half_open" and probe:
            if ok:
                self._close()
            else:
                self._open()
            return
        if self.state != "closed":
            return  # an answer to a call made before the breaker opened
        self._count(ok)
        self._consecutive = 0 if ok else self._consecutive + 1
        if not ok and self._tripped():
            self._open()

    def abandon(self, probe: bool) -> None:
        """A call ended without a verdict (cancelled, or never sent): a probe may go again."""
        if probe:
            self._probe_out = False

    def _count(self, ok: bool) -> None:
        self._window.add(_CALLS)
        if not ok:
            self._window.add(_FAILURES)

    def _tripped(self) -> bool:
        if self._consecutive >= self._s.consecutive:
            return True
        calls, failures = self._window.total(_CALLS), self._window.total(_FAILURES)
        return calls >= self._s.min_calls and failures >= self._s.failure_ratio * calls

    def _open(self) -> None:
        self._opened_at = self._clock()
        self._move("open")

    def _close(self) -> None:
        self._consecutive = 0
        self._window.clear()
        self._move("closed")
