"""aiohttp's `ClientSession`, tuned: one keep-alive pool, no cookie jar, no redirects,
no headers of its own."""

from __future__ import annotations

import aiohttp
from yarl import URL

from gateway.errors import UpstreamError, UpstreamTimeout
from gateway.transports.base import TransportSettings, UpstreamRequest, UpstreamResponse


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

    async def send(self, request: UpstreamRequest) -> UpstreamResponse:
        if self._session is None:
            raise RuntimeError("the transport was not started")
        url = URL(self._base + request.target, encoded=True)
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
