"""The narrow client to Punchh: `send(UpstreamRequest) -> UpstreamResponse`, nothing else.

Around the chosen transport (gateway/transports/: aiohttp or pyreqwest, `punchh.http_client`)
it adds the cap on concurrent calls and the request's upstream timing. Only
`UpstreamTimeout` (504) and `UpstreamError` (502, with a kind) ever come out.
"""

from __future__ import annotations

import time

from gateway.ratelimit.guards import ConcurrencyLimiter
from gateway.timing import current
from gateway.transports.base import (
    Transport,
    TransportSettings,
    UpstreamRequest,
    UpstreamResponse,
)

__all__ = ["UpstreamClient", "UpstreamRequest", "UpstreamResponse", "make_transport"]


def make_transport(kind: str, settings: TransportSettings) -> Transport:
    if kind == "pyreqwest":
        from gateway.transports.pyreqwest import PyreqwestTransport

        return PyreqwestTransport(settings)
    from gateway.transports.aiohttp import AiohttpTransport

    return AiohttpTransport(settings)


class UpstreamClient:
    def __init__(
        self,
        *,
        connect_timeout: float,
        total_timeout: float,
        pool_size: int,
        limiter: ConcurrencyLimiter | None = None,
        http_client: str = "aiohttp",
    ) -> None:
        self.base_url = ""
        self.http_client = http_client
        self._limiter = limiter
        self._transport = make_transport(
            http_client, TransportSettings(connect_timeout, total_timeout, pool_size)
        )

    async def start(self, base_url: str) -> None:
        self.base_url = base_url.rstrip("/")
        await self._transport.start(self.base_url)

    async def close(self) -> None:
        await self._transport.close()

    async def send(self, request: UpstreamRequest) -> UpstreamResponse:
        if self._limiter is None:
            return await self._timed(request)
        async with self._limiter.slot():
            return await self._timed(request)

    async def _timed(self, request: UpstreamRequest) -> UpstreamResponse:
        started = time.perf_counter()
        try:
            return await self._transport.send(request)
        finally:
            timing = current.get()
            if timing is not None:
                timing.upstream(time.perf_counter() - started)
