"""Retries: full-jitter exponential backoff, and a budget that keeps retries a bounded share
of the traffic (so a failing Punchh gets at most `1 + ratio` times its usual load, not
`max_attempts` times).

The budget is Finagle's: every first attempt deposits `ratio` of a retry, every retry
withdraws one, and `min_per_second` retries are always allowed, over a sliding window
of `window` seconds (one bucket a second).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from gateway import parsers as p
from gateway.resilience.window import SlidingCounts
from gateway.settings import key

RETRYABLE_STATUSES = frozenset({500, 502, 503, 504})


@dataclass(frozen=True, slots=True)
class RetrySettings:
    max_attempts: int = key(
        "retry.max_attempts",
        p.integer(1, 10),
        3,
        "Attempts per call to Punchh, the first included (1: no retries). Only reads, writes "
        "carrying an external_uid, and calls that never left are sent again.",
        "GATEWAY_RETRY_MAX_ATTEMPTS",
    )
    backoff_base: float = key(
        "retry.backoff_base",
        p.seconds(0.001, 10),
        0.05,
        "Backoff before retry n is random in [0, backoff_base * 2^(n-1)] (full jitter).",
        "GATEWAY_RETRY_BACKOFF_BASE",
    )
    backoff_max: float = key(
        "retry.backoff_max",
        p.seconds(0.001, 60),
        1.0,
        "Longest backoff before a retry, in seconds.",
        "GATEWAY_RETRY_BACKOFF_MAX",
    )
    budget_ratio: float = key(
        "retry.budget_ratio",
        p.fraction,
        0.2,
        "Retries allowed as a share of first attempts over the last 10 s, per process.",
        "GATEWAY_RETRY_BUDGET_RATIO",
    )
    budget_min_per_second: int = key(
        "retry.budget_min_per_second",
        p.integer(0, 10000),
        5,
        "Retries per second always allowed, whatever the ratio (over the same 10 s window).",
        "GATEWAY_RETRY_BUDGET_MIN_PER_SECOND",
    )
    budget_window: int = 10  # seconds: not a configuration key


def backoff(attempt: int, base: float, cap: float, rng: Callable[[], float]) -> float:
    """Seconds to wait before attempt `attempt + 1` ("full jitter"): uniform in
    [0, min(cap, base * 2**(attempt - 1))]."""
    return float(rng() * min(cap, base * 2 ** (attempt - 1)))


_REQUESTS, _RETRIES = 0, 1


class RetryBudget:
    def __init__(
        self, ratio: float, min_per_second: int, window: int, clock: Callable[[], float]
    ) -> None:
        self._ratio = ratio
        self._reserve = min_per_second * window
        self._counts = SlidingCounts(window, 2, clock)

    def deposit(self) -> None:
        """A first attempt was made."""
        self._counts.add(_REQUESTS)

    def withdraw(self) -> bool:
        """May one more retry be made now? Takes it from the budget when it may."""
        allowed = self._reserve + self._ratio * self._counts.total(_REQUESTS)
        if self._counts.total(_RETRIES) + 1 > allowed:
            return False
        self._counts.add(_RETRIES)
        return True
