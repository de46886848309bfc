"""aiohttp's `ClientSession`, tuned: one keep-alive pool, no cookie jar, no redirects,
no headers of its own. Per attempt: `sock_connect` for the connect timeout, a timer on
the status line for the first byte, a timer on the whole attempt for the total."""

from __future__ import annotations

import asyncio

import aiohttp
from yarl import URL

from gateway.errors import UpstreamError, UpstreamTimeout
from gateway.transports.base import (
    AttemptTimeouts,
    TransportSettings,
    UpstreamRequest,
    UpstreamResponse,
)


class AiohttpTransport:
    def __init__(self, settings: TransportSettings) -> None:
        self._settings = settings
        self._base = ""
        self._session: aiohttp.ClientSession | None = None

    async def start(self, base_url: str) -> None:
        s = self._settings
        self._base = base_url.rstrip("/")
        self._session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(
                limit=s.pool_size, keepalive_timeout=30, enable_cleanup_closed=True
            ),
            timeout=aiohttp.ClientTimeout(
                total=s.total_timeout, connect=s.connect_timeout, sock_connect=s.connect_timeout
            ),
            auto_decompress=True,
            skip_auto_headers=("User-Agent", "Content-Type", "Accept-Encoding"),
            cookie_jar=aiohttp.DummyCookieJar(),  # Punchh's cookies are nobody's business here
        )

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def send(self, request: UpstreamRequest, timeouts: AttemptTimeouts) -> UpstreamResponse:
        if self._session is None:
            raise RuntimeError("the transport was not started")
        url = URL(self._base + request.target, encoded=True)
        phase = "first_byte"
        loop = asyncio.get_running_loop()
        end = loop.time() + timeouts.total
        try:
            # One timer: first at the first byte's deadline, moved to the total's once
            # the status line is in (the request's context opens there, before the body).
            async with asyncio.timeout(min(timeouts.first_byte, timeouts.total)) as timer:
                async with self._session.request(
                    request.method,
                    url,
                    headers=dict(request.headers),
                    data=request.body,
                    allow_redirects=False,
                    timeout=aiohttp.ClientTimeout(
                        total=None, connect=timeouts.connect, sock_connect=timeouts.connect
                    ),
                ) as resp:
                    phase = "total"
                    timer.reschedule(end)
                    body = await resp.read()
            return UpstreamResponse(resp.status, resp.headers, body)
        except aiohttp.ConnectionTimeoutError:
            raise UpstreamTimeout(
                "Punchh could not be reached in time", kind="connect_timeout", sent=False
            ) from None
        except TimeoutError:
            raise UpstreamTimeout("Punchh did not answer in time", kind=phase) from None
        except aiohttp.ClientConnectorError:
            raise UpstreamError("Punchh could not be reached", kind="connect", sent=False) from None
        except (aiohttp.ServerDisconnectedError, aiohttp.ClientOSError):
            raise UpstreamError("Punchh closed the connection", kind="reset") from None
        except aiohttp.ClientError:
            raise UpstreamError(
                "Punchh sent an answer that could not be read", kind="protocol"
            ) from None
