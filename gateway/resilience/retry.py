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


class RetryBudget:
    def __init__(
        self, ratio: float, min_per_second: int, window: int, clock: Callable[[], float]
    ) -> None:
        self._ratio = ratio
        self._reserve = min_per_second * window
        self._window = window
        self._clock = clock
        self._requests = [0] * window
        self._retries = [0] * window
        self._stamps = [-1] * window

    def _bucket(self) -> int:
        second = int(self._clock())
        i = second % self._window
        if self._stamps[i] != second:
            self._stamps[i], self._requests[i], self._retries[i] = second, 0, 0
        return i

    def _live(self, counts: list[int]) -> int:
        oldest = int(self._clock()) - self._window
        return sum(c for c, s in zip(counts, self._stamps, strict=True) if s > oldest)

    def deposit(self) -> None:
        """A first attempt was made."""
        self._requests[self._bucket()] += 1

    def withdraw(self) -> bool:
        """May one more retry be made now? Takes it from the budget when it may."""
        i = self._bucket()
        allowed = self._reserve + self._ratio * self._live(self._requests)
        if self._live(self._retries) + 1 > allowed:
            return False
        self._retries[i] += 1
        return True
