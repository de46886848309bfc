"""Two guards that protect Punchh rather than budget clients, both per process:

- `Holds`: when Punchh answers a route 429 or 503 with `Retry-After`, the gateway answers
  that route itself (503 `upstream_busy`) until the time has passed, instead of piling on.
- `ConcurrencyLimiter`: at most N upstream calls at once, a short queue behind them, and
  503 `upstream_overloaded` beyond it.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from email.utils import parsedate_to_datetime

from gateway.errors import GatewayError

MAX_HOLD = 300.0  # never believe a Retry-After longer than five minutes


class UpstreamBusy(GatewayError):
    status = 503
    default_code = "upstream_busy"


class Overloaded(GatewayError):
    status = 503
    default_code = "upstream_overloaded"


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
    def __init__(self, limit: int, *, queue: int, timeout: float) -> None:
        self._slots = asyncio.Semaphore(limit)
        self._queue, self._timeout = queue, timeout
        self._waiting = 0
        self.limit = limit
        self.in_flight = 0

    @asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        if self._slots.locked():
            if self._waiting >= self._queue:
                raise Overloaded("too many calls to Punchh in flight", headers={"Retry-After": "1"})
            self._waiting += 1
            try:
                await asyncio.wait_for(self._slots.acquire(), self._timeout)
            except TimeoutError:
                raise Overloaded(
                    "too many calls to Punchh in flight", headers={"Retry-After": "1"}
                ) from None
            finally:
                self._waiting -= 1
        else:
            await self._slots.acquire()
        self.in_flight += 1
        try:
            yield
        finally:
            self.in_flight -= 1
            self._slots.release()
