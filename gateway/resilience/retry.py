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

from gateway.resilience.window import SlidingCounts

RETRYABLE_STATUSES = frozenset({500, 502, 503, 504})


@dataclass(frozen=True, slots=True)
class RetrySettings:
    max_attempts: int  # attempts in all, the first included
    backoff_base: float
    backoff_max: float
    budget_ratio: float
    budget_min_per_second: int
    budget_window: int = 10


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
