"""The upstream concurrency cap: slots taken without waiting, a bounded queue, hand-over."""

from __future__ import annotations

import asyncio

import pytest

from gateway.errors import Overloaded
from gateway.ratelimit.guards import ConcurrencyLimiter


async def test_free_slots_are_taken_without_waiting_and_given_back() -> None:
    limiter = ConcurrencyLimiter(2, queue=1, timeout=1.0)
    assert limiter.take()
    assert limiter.take()
    assert not limiter.take()
    assert limiter.in_flight == 2
    limiter.give()
    assert limiter.in_flight == 1
    assert limiter.take()


async def test_a_released_slot_goes_to_the_first_waiter() -> None:
    limiter = ConcurrencyLimiter(1, queue=2, timeout=1.0)
    assert limiter.take()
    order: list[str] = []

    async def waiting(name: str) -> None:
        await limiter.wait()
        order.append(name)

    first = asyncio.ensure_future(waiting("first"))
    await asyncio.sleep(0)
    second = asyncio.ensure_future(waiting("second"))
    await asyncio.sleep(0)
    assert not limiter.take()  # waiters come before newcomers
    limiter.give()
    await first
    assert (order, limiter.in_flight) == (["first"], 1)
    limiter.give()
    await second
    assert (order, limiter.in_flight) == (["first", "second"], 1)
    limiter.give()
    assert limiter.in_flight == 0


async def test_a_full_queue_and_a_long_wait_are_503() -> None:
    limiter = ConcurrencyLimiter(1, queue=1, timeout=0.05)
    assert limiter.take()
    waiter = asyncio.ensure_future(limiter.wait())
    await asyncio.sleep(0)
    with pytest.raises(Overloaded):
        await limiter.wait()  # the queue holds one
    with pytest.raises(Overloaded):
        await waiter  # and nobody gave the slot back in time
    assert limiter.in_flight == 1
    limiter.give()
    assert limiter.in_flight == 0


async def test_a_cancelled_waiter_does_not_lose_the_slot_it_was_handed() -> None:
    limiter = ConcurrencyLimiter(1, queue=2, timeout=1.0)
    assert limiter.take()
    waiter = asyncio.ensure_future(limiter.wait())
    await asyncio.sleep(0)
    limiter.give()  # handed over to the waiter...
    waiter.cancel()  # ...which is cancelled before it runs
    with pytest.raises(asyncio.CancelledError):
        await waiter
    assert limiter.in_flight == 0
    assert limiter.take()
