"""One raw TCP connection to a gateway: send any bytes, read HTTP/1.1 answers by hand, and
time how long the gateway keeps a stalled connection open."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from dataclasses import dataclass
from typing import Any

from multidict import CIMultiDict
from yarl import URL


@dataclass
class Answer:
    status: int
    headers: CIMultiDict[str]
    body: bytes
    raw: bytes  # status line, headers and body as they came

    def json(self) -> Any:
        return json.loads(self.body)


class RawConnection:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    @classmethod
    async def open(cls, url: str) -> RawConnection:
        u = URL(url)
        assert u.host is not None
        assert u.port is not None
        reader, writer = await asyncio.open_connection(u.host, u.port)
        return cls(reader, writer)

    async def send(self, data: bytes) -> None:
        self.writer.write(data)
        await self.writer.drain()

    async def get(self, path: str) -> Answer:
        await self.send(f"GET {path} HTTP/1.1\r\nHost: gateway\r\n\r\n".encode())
        return await self.answer()

    async def answer(self, within: float = 5.0) -> Answer:
        head = await asyncio.wait_for(self.reader.readuntil(b"\r\n\r\n"), within)
        status_line, *lines = head.decode("latin-1").split("\r\n")
        headers: CIMultiDict[str] = CIMultiDict()
        for line in lines:
            if line:
                name, _, value = line.partition(":")
                headers.add(name.strip(), value.strip())
        length = int(headers.get("Content-Length", "0"))
        body = await asyncio.wait_for(self.reader.readexactly(length), within)
        return Answer(int(status_line.split()[1]), headers, body, head + body)

    async def closed_after(self, limit: float) -> float:
        """Seconds until the gateway closes the connection (it sends nothing more first);
        fails when it is still open after `limit` seconds."""
        started = time.monotonic()
        try:
            rest = await asyncio.wait_for(self.reader.read(), limit)
        except ConnectionResetError:
            rest = b""
        except TimeoutError:
            raise AssertionError(f"the connection is still open after {limit} s") from None
        assert rest == b"", rest
        return time.monotonic() - started

    async def close(self) -> None:
        self.writer.close()
        with contextlib.suppress(ConnectionError):
            await self.writer.wait_closed()
