"""The narrow client to Punchh: one pooled aiohttp `ClientSession` per app.

`send(UpstreamRequest) -> UpstreamResponse`, nothing else. aiohttp's errors never
escape: a timeout is `UpstreamTimeout` (504), anything else on the wire is
`UpstreamError` (502) with a `kind` (connect, reset, protocol) for metrics.
Kept narrow on purpose: the performance work may swap the HTTP client behind it.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass

import aiohttp
from multidict import CIMultiDictProxy
from yarl import URL

from gateway.errors import UpstreamError, UpstreamTimeout
from gateway.ratelimit.guards import ConcurrencyLimiter
from gateway.timing import current


@dataclass(frozen=True, slots=True)
class UpstreamRequest:
    method: str
    target: str  # encoded path plus "?query": exactly the bytes that were signed
    headers: Mapping[str, str]
    body: bytes | None


@dataclass(frozen=True, slots=True)
class UpstreamResponse:
    status: int
    headers: CIMultiDictProxy[str]
    body: bytes


class UpstreamClient:
    def __init__(
        self,
        *,
        connect_timeout: float,
        total_timeout: float,
        pool_size: int,
        limiter: ConcurrencyLimiter | None = None,
    ) -> None:
        self.base_url = ""
        self._limiter = limiter
        self._timeout = aiohttp.ClientTimeout(
            total=total_timeout, connect=connect_timeout, sock_connect=connect_timeout
        )
        self._pool_size = pool_size
        self._session: aiohttp.ClientSession | None = None

    async def start(self, base_url: str) -> None:
        self.base_url = base_url.rstrip("/")
        connector = aiohttp.TCPConnector(
            limit=self._pool_size, keepalive_timeout=30, enable_cleanup_closed=True
        )
        self._session = aiohttp.ClientSession(
            connector=connector,
            timeout=self._timeout,
            auto_decompress=True,
            skip_auto_headers=("User-Agent", "Content-Type", "Accept-Encoding"),
            cookie_jar=aiohttp.DummyCookieJar(),  # Punchh's cookies are nobody's business here
        )

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def send(self, request: UpstreamRequest) -> UpstreamResponse:
        if self._limiter is None:
            return await self._timed(request)
        async with self._limiter.slot():
            return await self._timed(request)

    async def _timed(self, request: UpstreamRequest) -> UpstreamResponse:
        started = time.perf_counter()
        try:
            return await self._send(request)
        finally:
            timing = current.get()
            if timing is not None:
                timing.upstream(time.perf_counter() - started)

    async def _send(self, request: UpstreamRequest) -> UpstreamResponse:
        if self._session is None:
            raise RuntimeError("UpstreamClient.start() was not awaited")
        url = URL(self.base_url + request.target, encoded=True)
        try:
            async with self._session.request(
                request.method,
                url,
                headers=dict(request.headers),
                data=request.body,
                allow_redirects=False,
            ) as resp:
                body = await resp.read()
                return UpstreamResponse(resp.status, resp.headers, body)
        except TimeoutError:
            raise UpstreamTimeout("Punchh did not answer in time") from None
        except aiohttp.ClientConnectorError:
            raise UpstreamError("Punchh could not be reached", kind="connect") from None
        except (aiohttp.ServerDisconnectedError, aiohttp.ClientOSError):
            raise UpstreamError("Punchh closed the connection", kind="reset") from None
        except aiohttp.ClientError:
            raise UpstreamError(
                "Punchh sent an answer that could not be read", kind="protocol"
            ) from None
