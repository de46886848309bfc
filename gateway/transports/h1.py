"""A lean HTTP/1.1 client on asyncio's Protocol: one request per keep-alive connection at a
time, the request written in one call, the answer parsed from the bytes as they arrive.

Measured inside the whole gateway (`make bench`), aiohttp's and pyreqwest's clients were
most of a check-in's CPU: their generality (cookie jars, redirects, streaming, tracing,
a task or a thread per call) costs more than everything the gateway does around the call.
This client does only what the gateway needs of Punchh: an absolute base URL (http or
https, TLS verified), requests with a known body, answers framed by Content-Length,
chunked transfer coding or the connection's end, and gzip or deflate content coding.

Per attempt, as the transport contract says (gateway/transports/base.py): `connect`
bounds the wait for a pooled connection or a new one (nothing sent: connect or
connect_timeout, `sent` false), `first_byte` bounds the wait for the status line and
`total` the whole attempt (first_byte or total, `sent` true); a connection that drops
after the request was written is `reset`, an answer that cannot be parsed `protocol`.
An idle connection older than `IDLE_SECONDS`, or one the server closed, is not reused.
"""

from __future__ import annotations

import asyncio
import ssl
import time
import zlib
from collections import deque
from typing import Any, cast
from urllib.parse import urlsplit

from multidict import CIMultiDict, CIMultiDictProxy

from gateway.errors import UpstreamError, UpstreamTimeout
from gateway.transports.base import (
    AttemptTimeouts,
    TransportSettings,
    UpstreamRequest,
    UpstreamResponse,
)

IDLE_SECONDS = 15.0  # below common keep-alive timeouts (nginx 75 s): a pooled socket is alive
MAX_HEAD = 64 * 1024
MAX_BODY = 16 * 1024 * 1024
_NO_BODY_STATUSES = frozenset({204, 304})
_BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})


class _ProtocolError(Exception):
    pass


class _Connection(asyncio.Protocol):
    """One keep-alive connection; `answer` is the future of the request in flight."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.answer: asyncio.Future[UpstreamResponse] | None = None
        self.closed = False
        self.reusable = True
        self.idle_since = 0.0
        self.head_seen = False  # the status line of the current answer has arrived
        self._buf = bytearray()
        self._method = "GET"
        self._head: tuple[int, CIMultiDict[str]] | None = None
        self._length: int | None = None  # Content-Length; None: chunked or until close
        self._chunked = False

    # -- asyncio.Protocol
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass

    def data_received(self, data: bytes) -> None:
        self._buf += data
        if self.answer is None or self.answer.done():
            self.reusable = False  # bytes nobody asked for: never reuse this connection
            return
        try:
            self._parse()
        except _ProtocolError as exc:
            self.reusable = False
            self._fail(UpstreamError(f"Punchh sent an unreadable answer ({exc})", kind="protocol"))

    def eof_received(self) -> bool:
        return False  # close our side too; connection_lost follows

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.reusable = False
        if self.answer is not None and not self.answer.done():
            if self._head is not None and self._length is None and not self._chunked:
                self._finish(bytes(self._buf))  # framed by the connection's end
                return
            self._fail(UpstreamError("Punchh closed the connection", kind="reset"))

    # -- one exchange
    def send(self, method: str, data: bytes, answer: asyncio.Future[UpstreamResponse]) -> None:
        self._buf.clear()
        self._method, self.answer, self.head_seen = method, answer, False
        self._head, self._length, self._chunked = None, None, False
        assert self.transport is not None
        self.transport.write(data)

    def abort(self) -> None:
        self.reusable = False
        if self.transport is not None:
            self.transport.abort()

    def _fail(self, error: Exception) -> None:
        if self.answer is not None and not self.answer.done():
            self.answer.set_exception(error)

    def _parse(self) -> None:
        buf = self._buf
        while self._head is None:
            end = buf.find(b"\r\n\r\n")
            if end < 0:
                if len(buf) > MAX_HEAD:
                    raise _ProtocolError("header section too large")
                return
            head = bytes(buf[:end]).decode("latin-1")
            del buf[: end + 4]
            status, headers = _parse_head(head)
            if 100 <= status < 200:
                continue  # an interim answer (100 Continue): the real one follows
            self.head_seen = True
            self._head = (status, headers)
            self._frame(status, headers)
        if self._chunked:
            body = _dechunk(buf)
            if body is not None:
                self._finish(body)
        elif self._length is not None:
            if len(buf) >= self._length:
                if len(buf) > self._length:
                    self.reusable = False
                self._finish(bytes(buf[: self._length]))
        elif len(buf) > MAX_BODY:
            raise _ProtocolError("answer too large")

    def _frame(self, status: int, headers: CIMultiDict[str]) -> None:
        if self._method == "HEAD" or status in _NO_BODY_STATUSES:
            self._length = 0
            return
        coding = headers.get("Transfer-Encoding")
        if coding is not None:
            if coding.strip().lower() != "chunked":
                raise _ProtocolError("unsupported transfer coding")
            self._chunked = True
            return
        length = headers.get("Content-Length")
        if length is None:
            self.reusable = False  # framed by the connection's end
            return
        if not length.strip().isdigit() or int(length) > MAX_BODY:
            raise _ProtocolError("bad Content-Length")
        self._length = int(length)

    def _finish(self, body: bytes) -> None:
        assert self._head is not None
        assert self.answer is not None
        status, headers = self._head
        if headers.get("Connection", "").lower() == "close":
            self.reusable = False
        coding = headers.get("Content-Encoding")
        if coding is not None and body:
            try:
                body = _decode(coding, body)
            except (zlib.error, _ProtocolError) as exc:
                self.reusable = False
                self._fail(UpstreamError(f"unreadable answer ({exc})", kind="protocol"))
                return
        if not self.answer.done():
            self.answer.set_result(UpstreamResponse(status, CIMultiDictProxy(headers), body))


def _parse_head(head: str) -> tuple[int, CIMultiDict[str]]:
    lines = head.split("\r\n")
    parts = lines[0].split(" ", 2)
    if len(parts) < 2 or not parts[0].startswith("HTTP/1.") or not parts[1].isdigit():
        raise _ProtocolError("bad status line")
    headers: CIMultiDict[str] = CIMultiDict()
    for line in lines[1:]:
        name, sep, value = line.partition(":")
        if not sep or not name or name != name.strip():
            raise _ProtocolError("bad header line")
        headers.add(name, value.strip())
    return int(parts[1]), headers


def _dechunk(buf: bytearray) -> bytes | None:
    """The whole body once the last chunk is in, else None (called again on more bytes)."""
    out, pos = bytearray(), 0
    while True:
        eol = buf.find(b"\r\n", pos)
        if eol < 0:
            return None
        size_text = bytes(buf[pos:eol]).split(b";", 1)[0].strip()
        try:
            size = int(size_text, 16)
        except ValueError:
            raise _ProtocolError("bad chunk size") from None
        if size < 0 or len(out) + size > MAX_BODY:
            raise _ProtocolError("answer too large")
        start = eol + 2
        if size == 0:
            end = buf.find(b"\r\n\r\n", eol)  # trailers, then the empty line
            if end < 0 and buf[start : start + 2] != b"\r\n":
                return None
            return bytes(out)
        if len(buf) < start + size + 2:
            return None
        out += buf[start : start + size]
        if buf[start + size : start + size + 2] != b"\r\n":
            raise _ProtocolError("bad chunk end")
        pos = start + size + 2


def _decode(coding: str, body: bytes) -> bytes:
    coding = coding.strip().lower()
    if coding in ("gzip", "x-gzip"):
        return zlib.decompress(body, 16 + zlib.MAX_WBITS)
    if coding == "deflate":
        try:
            return zlib.decompress(body)
        except zlib.error:
            return zlib.decompress(body, -zlib.MAX_WBITS)
    if coding == "identity":
        return body
    raise _ProtocolError(f"unsupported content coding {coding!r}")


class H1Transport:
    def __init__(self, settings: TransportSettings) -> None:
        self._settings = settings
        self._host = ""
        self._port = 0
        self._ssl: ssl.SSLContext | None = None
        self._authority = b""
        self._idle: deque[_Connection] = deque()
        self._open = 0  # connections open or being opened
        self._waiters: deque[asyncio.Future[None]] = deque()
        self._started = False

    async def start(self, base_url: str) -> None:
        url = urlsplit(base_url.rstrip("/"))
        if url.scheme not in ("http", "https") or not url.hostname:
            raise ValueError(f"not an http(s) base URL: {base_url!r}")
        if url.path not in ("", "/"):
            raise ValueError("the h1 client takes a base URL without a path")
        self._host = url.hostname
        self._port = url.port or (443 if url.scheme == "https" else 80)
        self._ssl = ssl.create_default_context() if url.scheme == "https" else None
        default = 443 if url.scheme == "https" else 80
        host = f"[{self._host}]" if ":" in self._host else self._host
        authority = host if self._port == default else f"{host}:{self._port}"
        self._authority = authority.encode("ascii")
        self._started = True

    async def close(self) -> None:
        self._started = False
        while self._idle:
            conn = self._idle.pop()
            if conn.transport is not None:
                conn.transport.close()
        self._open = 0

    async def send(self, request: UpstreamRequest, timeouts: AttemptTimeouts) -> UpstreamResponse:
        if not self._started:
            raise RuntimeError("the transport was not started")
        data = self._encode(request)
        loop = asyncio.get_running_loop()
        started = loop.time()
        conn = await self._acquire(loop, started + timeouts.connect)
        answer: asyncio.Future[UpstreamResponse] = loop.create_future()
        end = started + timeouts.total
        later: list[asyncio.TimerHandle] = []  # the total's timer, once the head is in
        first = min(started + timeouts.first_byte, end)
        timer = loop.call_at(first, self._expire, conn, answer, end, later)
        try:
            conn.send(request.method, data, answer)
            try:
                resp = await answer
            except asyncio.CancelledError:
                conn.abort()  # cancelled mid-call: the connection's state is unknown
                raise
        finally:
            timer.cancel()
            for handle in later:
                handle.cancel()
            self._release(conn)
        return resp

    def _expire(
        self,
        conn: _Connection,
        answer: asyncio.Future[Any],
        end: float,
        later: list[asyncio.TimerHandle],
    ) -> None:
        """At the first-byte deadline: a status line in moves the timer to the total's."""
        if answer.done():
            return
        loop = asyncio.get_running_loop()
        if conn.head_seen and loop.time() < end:
            later.append(loop.call_at(end, self._expire, conn, answer, end, later))
            return
        conn.abort()
        kind = "total" if conn.head_seen else "first_byte"
        answer.set_exception(UpstreamTimeout("Punchh did not answer in time", kind=kind))

    def _encode(self, request: UpstreamRequest) -> bytes:
        lines = [f"{request.method} {request.target} HTTP/1.1"]
        lines += [f"{name}: {value}" for name, value in request.headers.items()]
        body = request.body
        if body is not None:
            lines.append(f"Content-Length: {len(body)}")
        elif request.method in _BODY_METHODS:
            lines.append("Content-Length: 0")
        head = "\r\n".join(lines)
        breaks = len(lines) - 1  # exactly the separators: no value may hold a line break
        if head.count("\n") != breaks or head.count("\r") != breaks:
            raise UpstreamError("a header value holds a line break", kind="protocol", sent=False)
        return b"".join(
            (head.encode("utf-8"), b"\r\nHost: ", self._authority, b"\r\n\r\n", body or b"")
        )

    async def _acquire(self, loop: asyncio.AbstractEventLoop, deadline: float) -> _Connection:
        now = time.monotonic()
        while self._idle:
            conn = self._idle.pop()  # the most recently used: the warmest
            if conn.reusable and not conn.closed and now - conn.idle_since < IDLE_SECONDS:
                return conn
            self._drop(conn)
        while self._open >= self._settings.pool_size:
            waiter: asyncio.Future[None] = loop.create_future()
            self._waiters.append(waiter)
            try:
                async with asyncio.timeout_at(deadline):
                    await waiter
            except TimeoutError:
                raise UpstreamTimeout(
                    "no connection to Punchh was free in time", kind="connect_timeout", sent=False
                ) from None
            finally:
                if waiter in self._waiters:
                    self._waiters.remove(waiter)
            if self._idle:
                return await self._acquire(loop, deadline)
        self._open += 1
        try:
            return await self._connect(loop, deadline)
        except BaseException:
            self._open -= 1
            self._wake()
            raise

    async def _connect(self, loop: asyncio.AbstractEventLoop, deadline: float) -> _Connection:
        try:
            async with asyncio.timeout_at(deadline):
                _, conn = await loop.create_connection(
                    _Connection,
                    self._host,
                    self._port,
                    ssl=self._ssl,
                    server_hostname=self._host if self._ssl else None,
                )
        except TimeoutError:
            raise UpstreamTimeout(
                "Punchh could not be reached in time", kind="connect_timeout", sent=False
            ) from None
        except (OSError, ssl.SSLError):
            raise UpstreamError("Punchh could not be reached", kind="connect", sent=False) from None
        return conn

    def _release(self, conn: _Connection) -> None:
        answer = conn.answer
        finished = answer is not None and answer.done() and not answer.cancelled()
        ok = finished and answer is not None and answer.exception() is None
        if ok and conn.reusable and not conn.closed and self._started:
            conn.answer = None
            conn.idle_since = time.monotonic()
            self._idle.append(conn)
            self._wake()
            return
        self._drop(conn)

    def _drop(self, conn: _Connection) -> None:
        if conn.transport is not None and not conn.closed:
            conn.transport.abort()
        conn.closed = True
        self._open = max(0, self._open - 1)
        self._wake()

    def _wake(self) -> None:
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return
