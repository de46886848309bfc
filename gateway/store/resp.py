"""A lean Redis client for the hot path: RESP2 on one pipelined connection per process.

redis-py's asyncio client costs here more per command than the gateway's whole work on
a cached read (a pool with a condition, a task per timed read, a generic parser): the
two scripts of a guest request (rate limits, cache) and the session read were most of
a request's CPU on Redis (make bench, py-spy). This client sends each command as soon
as it is asked, on one connection, and matches the answers in order (Redis answers a
connection's commands in order), so concurrent requests share one socket and no pool.
It does only what the hot path needs: commands, EVALSHA with the script loaded on
NOSCRIPT, `redis://` and `rediss://` URLs with user, password and database.

Errors are redis-py's own classes, so the stores handle them as before:
`ConnectionError` (refused, dropped), `TimeoutError` (no answer within `timeout`: the
connection is dropped, since answers can no longer be matched) and `ResponseError`.
"""

from __future__ import annotations

import asyncio
import hashlib
import ssl
from collections import deque
from dataclasses import dataclass
from typing import Any, cast
from urllib.parse import unquote, urlsplit

from redis.exceptions import ConnectionError, ResponseError, TimeoutError

Reply = Any  # bytes | int | list[Reply] | None | ResponseError


class _Incomplete(Exception):
    pass


def encode(args: tuple[Any, ...]) -> bytes:
    parts = [b"*%d\r\n" % len(args)]
    for arg in args:
        data = arg if isinstance(arg, bytes) else str(arg).encode()
        parts.append(b"$%d\r\n%s\r\n" % (len(data), data))
    return b"".join(parts)


def parse(buf: bytes | bytearray, pos: int) -> tuple[Reply, int]:
    """One reply from `buf` at `pos`, and where the next starts; `_Incomplete` if cut."""
    end = buf.find(b"\r\n", pos)
    if end < 0:
        raise _Incomplete
    kind, line = buf[pos : pos + 1], bytes(buf[pos + 1 : end])
    pos = end + 2
    if kind == b"+":
        return line, pos
    if kind == b"-":
        return ResponseError(line.decode(errors="replace")), pos
    if kind == b":":
        return int(line), pos
    if kind == b"$":
        size = int(line)
        if size < 0:
            return None, pos
        if len(buf) < pos + size + 2:
            raise _Incomplete
        return bytes(buf[pos : pos + size]), pos + size + 2
    if kind == b"*":
        count = int(line)
        if count < 0:
            return None, pos
        items = []
        for _ in range(count):
            item, pos = parse(buf, pos)
            items.append(item)
        return items, pos
    raise ConnectionError(f"unexpected reply type {kind!r}")


class _Protocol(asyncio.Protocol):
    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.waiting: deque[asyncio.Future[Reply]] = deque()
        self.lost = False
        self._buf = bytearray()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass

    def data_received(self, data: bytes) -> None:
        self._buf += data
        pos = 0
        try:
            while self.waiting:
                reply, pos = parse(self._buf, pos)
                waiter = self.waiting.popleft()
                if not waiter.done():
                    waiter.set_result(reply)
        except _Incomplete:
            pass
        except (ValueError, ConnectionError):
            self.fail(ConnectionError("unreadable reply from Redis"))
            return
        del self._buf[:pos]

    def connection_lost(self, exc: Exception | None) -> None:
        self.fail(ConnectionError("Redis closed the connection"))

    def fail(self, error: Exception) -> None:
        self.lost = True
        while self.waiting:
            waiter = self.waiting.popleft()
            if not waiter.done():
                waiter.set_exception(error)
        if self.transport is not None:
            self.transport.abort()


class LeanRedis:
    def __init__(self, url: str, *, timeout: float) -> None:
        u = urlsplit(url)
        if u.scheme not in ("redis", "rediss"):
            raise ValueError("a redis:// or rediss:// URL is needed")
        self._host = u.hostname or "127.0.0.1"
        self._port = u.port or 6379
        self._ssl = ssl.create_default_context() if u.scheme == "rediss" else None
        self._hello: list[tuple[Any, ...]] = []
        if u.password:
            user = unquote(u.username) if u.username else None
            password = unquote(u.password)
            self._hello.append(("AUTH", user, password) if user else ("AUTH", password))
        db = u.path.strip("/")
        if db and db != "0":
            self._hello.append(("SELECT", int(db)))
        self._timeout = timeout
        self._proto: _Protocol | None = None
        self._connecting: asyncio.Future[_Protocol] | None = None
        self._shas: dict[str, bytes] = {}
        self.writes = 0  # pipelines sent: one round trip each

    def __repr__(self) -> str:
        return f"LeanRedis({self._host}:{self._port})"  # never the password

    async def _connection(self) -> _Protocol:
        proto = self._proto
        if proto is not None and not proto.lost:
            return proto
        if self._connecting is None:  # one connect for everyone waiting
            self._connecting = asyncio.ensure_future(self._connect())
            self._connecting.add_done_callback(self._connected)
        return await asyncio.shield(self._connecting)

    def _connected(self, future: asyncio.Future[_Protocol]) -> None:
        self._connecting = None
        if not future.cancelled() and future.exception() is None:
            self._proto = future.result()

    async def _connect(self) -> _Protocol:
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(self._timeout):
                _, proto = await loop.create_connection(
                    _Protocol,
                    self._host,
                    self._port,
                    ssl=self._ssl,
                    server_hostname=self._host if self._ssl else None,
                )
                for command in self._hello:
                    reply = await self._send(proto, command, loop)
                    if isinstance(reply, ResponseError):
                        proto.fail(ConnectionError(f"{command[0]} refused"))
                        raise ConnectionError(f"Redis refused {command[0]}")
        except TimeoutError:
            raise TimeoutError("Redis did not answer the connect in time") from None
        except OSError as exc:
            raise ConnectionError(f"Redis could not be reached: {exc.strerror}") from None
        return proto

    def _send(
        self, proto: _Protocol, args: tuple[Any, ...], loop: asyncio.AbstractEventLoop
    ) -> asyncio.Future[Reply]:
        waiter: asyncio.Future[Reply] = loop.create_future()
        proto.waiting.append(waiter)
        assert proto.transport is not None
        proto.transport.write(encode(args))
        return waiter

    async def execute(self, *args: Any) -> Reply:
        """One command's reply; a Redis error reply is raised as ResponseError."""
        replies = await self.pipeline([args])
        reply = replies[0]
        if isinstance(reply, ResponseError):
            raise reply
        return reply

    async def pipeline(self, commands: list[tuple[Any, ...]]) -> list[Reply]:
        """Several commands sent in one write, their replies in order (errors as values)."""
        proto = await self._connection()
        loop = asyncio.get_running_loop()
        waiters: list[asyncio.Future[Reply]] = []
        for _ in commands:
            waiter: asyncio.Future[Reply] = loop.create_future()
            proto.waiting.append(waiter)
            waiters.append(waiter)
        assert proto.transport is not None
        proto.transport.write(b"".join(encode(args) for args in commands))
        self.writes += 1
        timer = loop.call_later(self._timeout, self._expire, proto, waiters[-1])
        replies: list[Reply] = []
        try:
            for waiter in waiters:
                replies.append(await waiter)
        except BaseException:
            for waiter in waiters:  # the rest: failed with it, or never to be awaited now
                if not waiter.done():
                    waiter.cancel()  # its reply is skipped in order when it comes
                elif not waiter.cancelled():
                    waiter.exception()  # retrieved: no "never retrieved" warning
            raise
        finally:
            timer.cancel()
        return replies

    def _expire(self, proto: _Protocol, last: asyncio.Future[Reply]) -> None:
        if not last.done():  # answers can no longer be matched on this connection
            proto.fail(TimeoutError("Redis did not answer in time"))

    def _sha(self, script: str) -> bytes:
        sha = self._shas.get(script)
        if sha is None:
            # Redis names scripts by SHA-1: an identifier, not a security measure.
            digest = hashlib.sha1(script.encode(), usedforsecurity=False).hexdigest()
            sha = self._shas[script] = digest.encode()
        return sha

    async def evalsha(self, script: str, keys: list[Any], args: list[Any]) -> Reply:
        """EVALSHA, loading the script once when Redis does not know it (NOSCRIPT)."""
        reply = (await self.evalsha_many([(script, keys, args)]))[0]
        if isinstance(reply, ResponseError):
            raise reply
        return reply

    async def evalsha_many(self, calls: list[tuple[str, list[Any], list[Any]]]) -> list[Reply]:
        """Several scripts in one write (one round trip), replies in order, errors as
        values; a script Redis does not know yet is loaded and run again on its own."""
        commands = [("EVALSHA", self._sha(s), len(k), *k, *a) for s, k, a in calls]
        replies = await self.pipeline(commands)
        for i, (script, _, _) in enumerate(calls):
            reply = replies[i]
            if isinstance(reply, ResponseError) and str(reply).startswith("NOSCRIPT"):
                await self.execute("SCRIPT", "LOAD", script)
                replies[i] = (await self.pipeline([commands[i]]))[0]
        return replies

    async def aclose(self) -> None:
        if self._proto is not None:
            self._proto.fail(ConnectionError("closed"))
            self._proto = None


@dataclass(slots=True)
class Prefetch:
    """A read that rides in the same write as another call (one round trip for both):
    the cached-answer read sent with the rate-limit draw. Its reply is kept here."""

    client: LeanRedis
    script: str
    keys: list[Any]
    args: list[Any]
    cache_key: str
    reply: Reply = None
    done: bool = False
