"""GCRA on a manual clock: bursts, refill, boundaries, peeks."""

from __future__ import annotations

import pytest

from gateway.ratelimit.gcra import Rate, gcra, give_back

RATE = Rate(limit=3, window=3.0)  # one unit per second, three at once


def _run(times: list[float], rate: Rate = RATE) -> list[bool]:
    tat: int | None = None
    allowed = []
    for now in times:
        d = gcra(tat, now, rate)
        if d.tat is not None:
            tat = d.tat
        allowed.append(d.allowed)
    return allowed


@pytest.mark.parametrize(
    ("times", "expected"),
    [
        ([0, 0, 0, 0], [True, True, True, False]),  # a burst of exactly `limit`
        ([0, 0, 0, 0.99, 1.0], [True, True, True, False, True]),  # one back per second
        ([0, 0, 0, 3, 3, 3, 3], [True, True, True, True, True, True, False]),  # full again
        ([0, 1, 2, 3, 4, 5, 6], [True] * 7),  # the steady rate is always fine
        # No boundary burst: a window edge gives no second full burst.
        ([2.9, 2.9, 2.9, 3.0, 3.0, 3.0], [True, True, True, False, False, False]),
    ],
)
def test_decisions(times: list[float], expected: list[bool]) -> None:
    assert _run([float(t) for t in times]) == expected


def test_remaining_retry_and_reset() -> None:
    d1 = gcra(None, 100.0, RATE)
    assert (d1.allowed, d1.remaining, d1.retry_after, d1.reset_after) == (True, 2, 0.0, 1.0)
    d2 = gcra(d1.tat, 100.0, RATE)
    d3 = gcra(d2.tat, 100.0, RATE)
    assert (d3.remaining, d3.reset_after) == (0, 3.0)
    d4 = gcra(d3.tat, 100.25, RATE)
    assert not d4.allowed
    assert d4.tat is None  # a refusal changes nothing
    assert d4.retry_after == pytest.approx(0.75)


def test_peek_consumes_nothing() -> None:
    tat = None
    for _ in range(10):
        d = gcra(tat, 0.0, RATE, take=False)
        assert d.allowed
        assert d.remaining == 3
        assert d.tat is None
    for _ in range(3):
        tat = gcra(tat, 0.0, RATE).tat
    assert not gcra(tat, 0.0, RATE, take=False).allowed


def test_a_stale_state_is_a_full_bucket() -> None:
    d = gcra(tat=10_000_000, now=1000.0, rate=RATE)
    assert (d.allowed, d.remaining) == (True, 2)


@pytest.mark.parametrize(("limit", "window"), [(5, 1.0), (300, 60.0), (7, 3600.0), (3, 1.0)])
def test_a_burst_gets_exactly_the_limit_near_todays_epoch(limit: int, window: float) -> None:
    now, rate, tat = 1_800_000_000.123456, Rate(limit, window), None
    allowed = 0
    for _ in range(limit + 3):
        d = gcra(tat, now, rate)
        if d.tat is not None:
            tat = d.tat
        allowed += d.allowed
    assert allowed == limit


def test_give_back() -> None:
    first = gcra(None, 10.0, RATE)
    assert give_back(first.tat, 10.0, RATE) is None  # back to a full bucket
    second = gcra(first.tat, 10.0, RATE)
    assert give_back(second.tat, 10.0, RATE) == first.tat
