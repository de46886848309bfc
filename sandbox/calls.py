"""Counts the requests the sandbox received, per ``"METHOD /path"`` (path without query).

One counter per business, fed with the request's business (the primary unless the
pipeline chose another). The outermost stage after that choice, so faulted and rejected
requests count too; ``/__sandbox/`` routes don't. Read by ``GET /__sandbox/calls``,
zeroed by ``POST /__sandbox/calls/reset``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware

SANDBOX_PREFIX = "/__sandbox/"


class CallCounter:
    def __init__(self) -> None:
        self._counts: Counter[str] = Counter()

    def record(self, method: str, path: str) -> None:
        self._counts[f"{method} {path}"] += 1

    def snapshot(self) -> dict[str, int]:
        return dict(self._counts)

    def reset(self) -> None:
        self._counts.clear()


def make_calls_middleware(counter_of: Callable[[web.Request], CallCounter]) -> Middleware:
    @web.middleware
    async def calls(request: web.Request, handler: Handler) -> web.StreamResponse:
        if not request.path.startswith(SANDBOX_PREFIX):
            counter_of(request).record(request.method, request.path)
        return await handler(request)

    return calls
