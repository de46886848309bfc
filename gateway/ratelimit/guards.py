"""Two guards that protect Punchh rather than budget clients, both per process:

- `Holds`: when Punchh answers a route 429 or 503 with `Retry-After`, the gateway answers
  that route itself (503 `upstream_busy`) until the time has passed, instead of piling on.
- `ConcurrencyLimiter`: at most N upstream calls at once, a short queue behind them, and
  503 `upstream_overloaded` beyond it.
"""

from __future__ import annotations

import asyncio
from collections import deque
from email.utils import parsedate_to_datetime

from gateway.errors import Overloaded

MAX_HOLD = 300.0  # never believe a Retry-After longer than five minutes


def retry_after_seconds(value: str | None, now: float) -> float | None:
    """RFC 9110 §10.2.3: delay-seconds or an HTTP-date; None when absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        return parsedate_to_datetime(value).timestamp() - now
    except (TypeError, ValueError):
        return None


class Holds:
    def __init__(self) -> None:
        self._until: dict[str, float] = {}

    def hold(self, route: str, seconds: float, now: float) -> None:
        if seconds > 0:
            self._until[route] = max(self._until.get(route, 0.0), now + min(seconds, MAX_HOLD))

    def remaining(self, route: str, now: float) -> float:
        until = self._until.get(route)
        if until is None:
            return 0.0
        if until <= now:
            del self._until[route]
            return 0.0
        return until - now


class ConcurrencyLimiter:
    """A slot is taken without awaiting while one is free (`take`); otherwise the call
    waits in a bounded queue (`wait`), and a released slot passes straight to the first
    waiter. Every taken slot is given back with `give`."""

    def __init__(self, limit: int, *, queue: int, timeout: float) -> None:
        self._queue, self._timeout = queue, timeout
        self._waiters: deque[asyncio.Future[None]] = deque()
        self.limit = limit
        self.in_flight = 0

    def take(self) -> bool:
        if self.in_flight < self.limit and not self._waiters:
            self.in_flight += 1
            return True
        return False

    async def wait(self) -> None:
        """Wait for a slot (then held, as after `take`); 503 overloaded when the queue is full
        or the wait too long."""
        if len(self._waiters) >= self._queue:
            raise Overloaded("too many calls to Punchh in flight", headers={"Retry-After": "1"})
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            async with asyncio.timeout(self._timeout):
                await waiter
        except BaseException as exc:
            if waiter.done() and not waiter.cancelled():
                self.give()  # the slot arrived as we gave up: pass it on
            if isinstance(exc, TimeoutError):
                raise Overloaded(
                    "too many calls to Punchh in flight", headers={"Retry-After": "1"}
                ) from None
            raise
        finally:
            if waiter in self._waiters:
                self._waiters.remove(waiter)

    def give(self) -> None:
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)  # the slot passes on: in_flight is unchanged
                return
        self.in_flight -= 1
