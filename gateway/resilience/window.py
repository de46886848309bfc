"""Counters over a sliding window of whole seconds: one bucket a second, `seconds` buckets.
The retry budget and the circuit breaker both judge the last few seconds with it."""

from __future__ import annotations

from collections.abc import Callable


class SlidingCounts:
    def __init__(self, seconds: int, counters: int, clock: Callable[[], float]) -> None:
        self._seconds = seconds
        self._clock = clock
        self._stamps = [-1] * seconds  # the second each bucket holds
        self._counts = [[0] * counters for _ in range(seconds)]

    def add(self, counter: int, n: int = 1) -> None:
        second = int(self._clock())
        i = second % self._seconds
        if self._stamps[i] != second:
            self._stamps[i] = second
            self._counts[i] = [0] * len(self._counts[i])
        self._counts[i][counter] += n

    def total(self, counter: int) -> int:
        oldest = int(self._clock()) - self._seconds
        return sum(
            c[counter] for c, s in zip(self._counts, self._stamps, strict=True) if s > oldest
        )

    def clear(self) -> None:
        self._stamps = [-1] * self._seconds
