"""The gateway's Redis client: RESP2 on one pipelined connection per server and process.

redis-py's asyncio client costs here more per command than the gateway's whole work on
a cached read (a pool with a condition, a task per timed read, a generic parser): the
two scripts of a guest request (rate limits, cache) and the session read were most of
a request's CPU on Redis (make bench, py-spy). This client sends each command as soon
as it is asked, on one connection, and matches the answers in order (Redis answers a
connection's commands in order), so concurrent requests share one socket and no pool.

Three deployments, one interface (`connect(url)`; URLs in gateway/store/urls.py):
  - `LeanRedis`: one server (`redis://`, `rediss://`);
  - `LeanSentinel`: the master a set of Sentinels names (`redis+sentinel://`); asked again
    whenever the connection drops or the server stops being the master (READONLY), so a
    failover is followed without a restart;
  - `LeanCluster`: Redis Cluster (`redis+cluster://`): each command goes to the master of
    its key's slot (hash tags `{...}` keep keys together), MOVED and ASK are followed, the
    slot map is read again after a redirection or a lost node.
Nothing is retried after a lost connection (the command may have run): the caller's store
answers 503 and the next call reconnects. Redirections are retried (Redis did not run
the command).

Errors are redis-py's own classes, so the stores handle them as before:
`ConnectionError` (refused, dropped), `TimeoutError` (no answer within `timeout`: the
connection is dropped, since answers can no longer be matched) and `ResponseError`.
"""

from __future__ import annotations

import asyncio
import binascii
import builtins
import hashlib
import ssl
from collections import deque
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any, cast

from redis.exceptions import ConnectionError, ResponseError, TimeoutError

from gateway.store.urls import RedisAddress
from gateway.store.urls import parse as parse_address

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


class _Node:
    """One pipelined connection to one server, opened when first needed and again after
    it is lost. `must_be_master`: a server that does not say ROLE master is refused."""

    def __init__(
        self,
        host: str,
        port: int,
        *,
        timeout: float,
        tls: ssl.SSLContext | None,
        hello: list[tuple[Any, ...]],
        must_be_master: bool = False,
    ) -> None:
        self.host, self.port = host, port
        self._timeout = timeout
        self._tls = tls
        self._hello = hello
        self._must_be_master = must_be_master
        self._proto: _Protocol | None = None
        self._connecting: asyncio.Future[_Protocol] | None = None
        self.epoch = 0

    def __repr__(self) -> str:
        return f"_Node({self.host}:{self.port})"

    @property
    def lost(self) -> bool:
        return self._proto is not None and self._proto.lost

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
            self.epoch += 1

    @property
    def current(self) -> int | None:
        """The epoch of the open connection (one more each time it is opened), or None."""
        proto = self._proto
        return self.epoch if proto is not None and not proto.lost else None

    async def _connect(self) -> _Protocol:
        loop = asyncio.get_running_loop()
        proto: _Protocol | None = None
        try:
            async with asyncio.timeout(self._timeout):
                transport, proto = await loop.create_connection(
                    _Protocol,
                    self.host,
                    self.port,
                    ssl=self._tls,
                    server_hostname=self.host if self._tls else None,
                )
                sockname = transport.get_extra_info("sockname")
                if sockname is not None and sockname == transport.get_extra_info("peername"):
                    # TCP simultaneous open with itself: the port was free (the server
                    # down) and the kernel picked it as the source port. Every command
                    # would come back as its own reply.
                    raise ConnectionError("Redis could not be reached: connected to itself")
                for command in self._hello:
                    reply = await _send(proto, command, loop)
                    if isinstance(reply, ResponseError):
                        raise ConnectionError(f"Redis refused {command[0]}")
                if self._must_be_master:
                    role = await _send(proto, ("ROLE",), loop)
                    # A user without ROLE (ACL NOPERM) cannot tell: READONLY will.
                    refused = isinstance(role, ResponseError)
                    if not refused and not (isinstance(role, list) and role[:1] == [b"master"]):
                        raise ConnectionError("the server named as master is not the master")
        except BaseException as exc:
            if proto is not None:  # a handshake cut short: its socket must not stay open
                proto.fail(ConnectionError("connect abandoned"))
            if isinstance(exc, (TimeoutError, builtins.TimeoutError)):  # redis-py's, asyncio's
                raise TimeoutError("Redis did not answer the connect in time") from None
            if isinstance(exc, OSError):
                raise ConnectionError(f"Redis could not be reached: {exc.strerror}") from None
            if isinstance(exc, (ValueError, OverflowError, UnicodeError)):  # a bad address
                raise ConnectionError(f"Redis could not be reached: {exc}"[:200]) from None
            raise
        return proto

    async def pipeline(
        self, commands: list[tuple[Any, ...]], *, epoch: int | None = None
    ) -> list[Reply]:
        """Several commands sent in one write, their replies in order (errors as values).
        `epoch`: on that connection only (ConnectionError if it is gone): a WAIT counts
        the replicas of the writes made on its own connection."""
        if not commands:
            return []
        if epoch is not None and self.current != epoch:
            raise ConnectionError("the connection that made the writes is gone")
        data = b"".join(encode(args) for args in commands)  # before any waiter is queued
        proto = await self._connection()
        loop = asyncio.get_running_loop()
        waiters: list[asyncio.Future[Reply]] = []
        for _ in commands:
            waiter: asyncio.Future[Reply] = loop.create_future()
            proto.waiting.append(waiter)
            waiters.append(waiter)
        assert proto.transport is not None
        proto.transport.write(data)
        timer = loop.call_later(self._timeout, _expire, proto, waiters[-1])
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

    def drop(self) -> None:
        if self._proto is not None:
            self._proto.fail(ConnectionError("closed"))
            self._proto = None


def _send(
    proto: _Protocol, args: tuple[Any, ...], loop: asyncio.AbstractEventLoop
) -> asyncio.Future[Reply]:
    waiter: asyncio.Future[Reply] = loop.create_future()
    proto.waiting.append(waiter)
    assert proto.transport is not None
    proto.transport.write(encode(args))
    return waiter


def _expire(proto: _Protocol, last: asyncio.Future[Reply]) -> None:
    if not last.done():  # answers can no longer be matched on this connection
        proto.fail(TimeoutError("Redis did not answer in time"))


def _tls(address: RedisAddress) -> ssl.SSLContext | None:
    return ssl.create_default_context() if address.tls else None


def _hello(address: RedisAddress, *, select: bool = True) -> list[tuple[Any, ...]]:
    hello: list[tuple[Any, ...]] = []
    if address.password is not None:
        hello.append(
            ("AUTH", address.username, address.password)
            if address.username
            else ("AUTH", address.password)
        )
    if select and address.db:
        hello.append(("SELECT", address.db))
    return hello


_SHAS: dict[str, bytes] = {}


def script_sha(script: str) -> bytes:
    sha = _SHAS.get(script)
    if sha is None:
        # Redis names scripts by SHA-1: an identifier, not a security measure.
        digest = hashlib.sha1(script.encode(), usedforsecurity=False).hexdigest()
        sha = _SHAS[script] = digest.encode()
    return sha


class RedisLink:
    """What the stores use, whatever the deployment: commands, pipelines and scripts."""

    clustered = False  # keys of different slots may be on different servers
    writes = 0  # pipelines sent: one round trip each (per server)

    async def pipeline(self, commands: list[tuple[Any, ...]]) -> list[Reply]:
        """Several commands, their replies in order (Redis errors as values); sent in one
        write to each server concerned."""
        raise NotImplementedError

    async def masters(self) -> list[_Node]:
        """Every server holding data (one, or each Cluster master): for SCAN and PING."""
        raise NotImplementedError

    async def aclose(self) -> None:
        raise NotImplementedError

    def connection_of(self, key: str) -> tuple[_Node, int] | None:
        """The open connection to the server holding `key`, with its epoch (None when
        there is none): what a write of `key` was just made on."""
        raise NotImplementedError

    async def wait_on(self, connection: tuple[_Node, int], replicas: int, ms: int) -> Reply:
        """WAIT on that very connection: how many replicas confirmed every write made on
        it so far. ConnectionError when it is gone (its writes are unconfirmed)."""
        node, epoch = connection
        self.writes += 1
        return (await node.pipeline([("WAIT", replicas, ms)], epoch=epoch))[0]

    async def execute(self, *args: Any) -> Reply:
        """One command's reply; a Redis error reply is raised as ResponseError."""
        reply = (await self.pipeline([args]))[0]
        if isinstance(reply, ResponseError):
            raise reply
        return reply

    async def evalsha(self, script: str, keys: list[Any], args: list[Any]) -> Reply:
        """EVALSHA, sent as EVAL (which loads it) where Redis does not know it (NOSCRIPT)."""
        reply = (await self.evalsha_many([(script, keys, args)]))[0]
        if isinstance(reply, ResponseError):
            raise reply
        return reply

    async def evalsha_many(self, calls: list[tuple[str, list[Any], list[Any]]]) -> list[Reply]:
        """Several scripts in one write (one round trip), replies in order, errors as
        values; a script a server does not know yet is sent again whole (EVAL)."""
        commands = [("EVALSHA", script_sha(s), len(k), *k, *a) for s, k, a in calls]
        replies = await self.pipeline(commands)
        unknown = [
            i
            for i, reply in enumerate(replies)
            if isinstance(reply, ResponseError) and str(reply).startswith("NOSCRIPT")
        ]
        if unknown:
            again = await self.pipeline(
                [
                    ("EVAL", calls[i][0], len(calls[i][1]), *calls[i][1], *calls[i][2])
                    for i in unknown
                ]
            )
            for i, reply in zip(unknown, again, strict=True):
                replies[i] = reply
        return replies

    def slot_groups(self, keys: list[str]) -> list[list[int]]:
        """`keys`' indexes in runs that one script may touch together (the same slot on a
        Cluster; all of them elsewhere)."""
        return [list(range(len(keys)))] if keys else []

    async def scan_batches(self, match: str, count: int = 1000) -> AsyncIterator[list[bytes]]:
        """The keys matching `match` on every master, a SCAN batch at a time (no server is
        blocked, nothing is held in memory but one batch)."""
        for node in await self.masters():
            cursor = b"0"
            while True:
                command = ("SCAN", cursor, "MATCH", match, "COUNT", count)
                reply = (await node.pipeline([command]))[0]
                if isinstance(reply, ResponseError):
                    raise reply
                cursor, keys = reply
                yield keys
                if cursor == b"0":
                    break

    async def scan(self, match: str) -> list[bytes]:
        """Every key matching `match` on every master (for small sets: tests, tools)."""
        return [key async for batch in self.scan_batches(match) for key in batch]

    async def count_keys(self, match: str) -> int:
        return sum([len(batch) async for batch in self.scan_batches(match)])

    async def ping(self, *, every: bool = False) -> None:
        """Answered when at least one master answers (readiness: a Cluster with one shard
        failing over still serves the others, and taking every replica out of service
        would not help); `every`: when each master answers (before a sign-in, whose
        session may land on any shard: Punchh must not grant what cannot be kept)."""
        nodes = await self.masters()
        replies = await asyncio.gather(
            *(node.pipeline([("PING",)]) for node in nodes), return_exceptions=True
        )
        errors: list[BaseException] = []
        for reply in replies:
            failed = reply if isinstance(reply, BaseException) else reply[0]
            if isinstance(failed, (ConnectionError, TimeoutError, ResponseError)):
                errors.append(failed)
            elif isinstance(failed, BaseException):
                raise failed
            elif not every:
                return
        if errors or not nodes:
            raise errors[0] if errors else ConnectionError("no Redis server is known")


class LeanRedis(RedisLink):
    """One Redis server (`redis://`, `rediss://`)."""

    def __init__(self, url: str, *, timeout: float) -> None:
        address = parse_address(url)
        if address.kind != "single":
            raise ValueError("a redis:// or rediss:// URL is needed")
        host, port = address.hosts[0]
        self._node = _Node(host, port, timeout=timeout, tls=_tls(address), hello=_hello(address))
        self.writes = 0

    def __repr__(self) -> str:
        return f"LeanRedis({self._node.host}:{self._node.port})"  # never the password

    @property
    def _proto(self) -> _Protocol | None:
        return self._node._proto

    async def pipeline(self, commands: list[tuple[Any, ...]]) -> list[Reply]:
        self.writes += 1
        return await self._node.pipeline(commands)

    async def masters(self) -> list[_Node]:
        return [self._node]

    def connection_of(self, key: str) -> tuple[_Node, int] | None:
        epoch = self._node.current
        return (self._node, epoch) if epoch is not None else None

    async def aclose(self) -> None:
        self._node.drop()


# Replies saying this server no longer takes writes: it was demoted, or is not ready.
_NOT_MASTER = ("READONLY", "MASTERDOWN", "LOADING")


class LeanSentinel(RedisLink):
    """The master a set of Sentinels names for a service (`redis+sentinel://`): asked on
    connect, and again after the connection is lost or the server answers READONLY (it
    was demoted: a failover happened)."""

    def __init__(self, url: str, *, timeout: float, sentinel_password: str | None = None) -> None:
        address = parse_address(url)
        if address.kind != "sentinel" or address.service is None:
            raise ValueError("a redis+sentinel:// URL is needed")
        self._address = address
        # The Sentinels' own password (their requirepass), not the data nodes'.
        self._sentinel_hello: list[tuple[Any, ...]] = (
            [("AUTH", sentinel_password)] if sentinel_password else []
        )
        self._sentinels = list(address.hosts)
        self._timeout = timeout
        self._node: _Node | None = None
        self._finding: asyncio.Future[_Node] | None = None
        self.writes = 0

    def __repr__(self) -> str:
        return f"LeanSentinel({self._address.service}, {len(self._sentinels)} sentinels)"

    async def _master(self) -> _Node:
        node = self._node
        if node is not None and not node.lost:
            return node
        if self._finding is None:
            self._finding = asyncio.ensure_future(self._find())
            self._finding.add_done_callback(self._found)
        return await asyncio.shield(self._finding)

    def _found(self, future: asyncio.Future[_Node]) -> None:
        self._finding = None
        if not future.cancelled() and future.exception() is None:
            self._node = future.result()

    async def _find(self) -> _Node:
        """The master: each Sentinel is asked in turn (the one that led to the master last
        time first) until the server one names is reachable and says ROLE master: a
        stale Sentinel (restarted from an old file, on the minority side of a partition)
        is passed over, not followed."""
        if self._node is not None:
            self._node.drop()
            self._node = None
        last: Exception = ConnectionError("no Sentinel answered")
        tried: set[tuple[str, int]] = set()
        for host, port in list(self._sentinels):
            try:
                address = await self._ask(host, port)
            except (ConnectionError, TimeoutError) as exc:
                last = exc
                continue
            if address in tried:
                continue
            tried.add(address)
            node = _Node(
                address[0],
                address[1],
                timeout=self._timeout,
                tls=_tls(self._address),
                hello=_hello(self._address),
                must_be_master=True,
            )
            try:
                await node._connection()  # connected, authenticated, and ROLE master
            except (ConnectionError, TimeoutError) as exc:
                node.drop()
                last = exc
                continue
            self._sentinels.remove((host, port))
            self._sentinels.insert(0, (host, port))
            return node
        raise ConnectionError(f"no Sentinel named a reachable master ({last})")

    async def _ask(self, host: str, port: int) -> tuple[str, int]:
        """What one Sentinel says the master of the service is."""
        sentinel = _Node(
            host, port, timeout=self._timeout, tls=_tls(self._address), hello=self._sentinel_hello
        )
        try:
            command = ("SENTINEL", "get-master-addr-by-name", self._address.service)
            reply = (await sentinel.pipeline([command]))[0]
        finally:
            sentinel.drop()
        if isinstance(reply, list) and len(reply) == 2:
            try:
                found = reply[0].decode(), int(reply[1])
            except (AttributeError, TypeError, ValueError, UnicodeDecodeError):
                raise ConnectionError("unreadable Sentinel answer") from None
            if not found[0] or not 0 < found[1] < 65536:
                raise ConnectionError("unreadable Sentinel answer")
            return found
        raise ConnectionError(f"Sentinel does not know the service: {reply!r}"[:200])

    async def pipeline(self, commands: list[tuple[Any, ...]]) -> list[Reply]:
        self.writes += 1
        node = await self._master()
        try:
            replies = await node.pipeline(commands)
        except (ConnectionError, TimeoutError):
            if self._node is node:
                self._node = None  # ask the Sentinels again next time
            raise
        for reply in replies:
            if isinstance(reply, ResponseError) and str(reply).startswith(_NOT_MASTER):
                node.drop()
                if self._node is node:
                    self._node = None
                raise ConnectionError(f"the master stopped taking writes: {str(reply)[:40]}")
        return replies

    async def masters(self) -> list[_Node]:
        return [await self._master()]

    def connection_of(self, key: str) -> tuple[_Node, int] | None:
        node = self._node
        epoch = node.current if node is not None else None
        return (node, epoch) if node is not None and epoch is not None else None

    async def aclose(self) -> None:
        if self._node is not None:
            self._node.drop()
            self._node = None


SLOTS = 16384


def key_slot(key: str | bytes) -> int:
    """The Cluster slot of a key: CRC16 (XMODEM) of its hash tag (`{...}`) or whole name."""
    data = key if isinstance(key, bytes) else key.encode()
    start = data.find(b"{")
    if start >= 0:
        end = data.find(b"}", start + 1)
        if end > start + 1:
            data = data[start + 1 : end]
    return binascii.crc_hqx(data, 0) % SLOTS


_KEYLESS = frozenset({"PING", "WAIT", "SCRIPT", "CLUSTER", "INFO", "ROLE", "TIME", "ASKING"})


def _key_of(args: tuple[Any, ...]) -> Any:
    name = args[0]
    if name in ("EVALSHA", "EVAL"):
        return args[3] if int(args[2]) > 0 else None
    if name in _KEYLESS or len(args) < 2:
        return None
    return args[1]


Address = tuple[str, int]


def _redirection(text: str, asked: Address) -> tuple[str, int, Address] | None:
    """`MOVED <slot> <host>:<port>` or `ASK ...` (an empty host: the server asked)."""
    if not text.startswith(("MOVED ", "ASK ")):
        return None
    try:
        kind, slot, target = text.split(" ", 2)
        host, _, port = target.rpartition(":")
        where = (host or asked[0], int(port))
        number = int(slot)
    except ValueError:
        return None
    return (kind, number, where) if 0 <= number < SLOTS and 0 < where[1] < 65536 else None


class LeanCluster(RedisLink):
    """Redis Cluster (`redis+cluster://`): a command goes to the master of its key's slot
    (a keyless one, such as WAIT, follows the command before it); a pipeline is split by
    server and sent to each at once. MOVED updates the slot and resends, ASK resends once
    to the importing server; the slot map is read again (CLUSTER SLOTS, at most every
    REFRESH_SECONDS) after a redirection or a lost server."""

    REFRESH_SECONDS = 0.1
    REDIRECTS = 5

    def __init__(self, url: str, *, timeout: float) -> None:
        address = parse_address(url)
        if address.kind != "cluster":
            raise ValueError("a redis+cluster:// URL is needed")
        self._address = address
        self._seeds: list[Address] = list(address.hosts)
        self._timeout = timeout
        self._nodes: dict[Address, _Node] = {}
        self._slots: list[Address] | None = None
        self._stale = False
        self._refreshed = 0.0
        self._refreshing: asyncio.Future[None] | None = None
        self.writes = 0
        self.clustered = True

    def __repr__(self) -> str:
        return f"LeanCluster({len(self._seeds)} seeds, {len(self._nodes)} nodes)"

    def _node(self, address: Address) -> _Node:
        node = self._nodes.get(address)
        if node is None:
            node = self._nodes[address] = _Node(
                address[0],
                address[1],
                timeout=self._timeout,
                tls=_tls(self._address),
                hello=_hello(self._address, select=False),
            )
        return node

    async def _slot_map(self) -> list[Address]:
        loop = asyncio.get_running_loop()
        due = self._stale and loop.time() - self._refreshed >= self.REFRESH_SECONDS
        if self._slots is None or due:
            if self._refreshing is None:
                self._refreshing = asyncio.ensure_future(self._refresh())
                self._refreshing.add_done_callback(self._refreshed_done)
            try:
                await asyncio.shield(self._refreshing)
            except (ConnectionError, TimeoutError):
                if self._slots is None:
                    raise
        assert self._slots is not None
        return self._slots

    def _refreshed_done(self, future: asyncio.Future[None]) -> None:
        self._refreshing = None
        if not future.cancelled():
            future.exception()  # retrieved: the callers saw it

    async def _refresh(self) -> None:
        known = list(dict.fromkeys(self._slots)) if self._slots else []
        lost = [a for a in known if self._nodes.get(a) is not None and self._nodes[a].lost]
        candidates = [a for a in known if a not in lost] + self._seeds + lost
        last: Exception = ConnectionError("no Redis Cluster node answered")
        for address in dict.fromkeys(candidates):
            try:
                reply = (await self._node(address).pipeline([("CLUSTER", "SLOTS")]))[0]
            except (ConnectionError, TimeoutError) as exc:
                last = exc
                continue
            if isinstance(reply, ResponseError) or not reply:
                last = ConnectionError(f"CLUSTER SLOTS refused: {str(reply)[:60]}")
                continue
            slots: list[Address] = [address] * SLOTS
            covered = 0
            try:
                for start, end, master, *_ in reply:
                    host = master[0].decode() or address[0]
                    where = (host, int(master[1]))
                    first, last_slot = int(start), int(end)
                    if not 0 <= first <= last_slot < SLOTS or not 0 < where[1] < 65536:
                        raise ValueError("slot or port out of range")
                    slots[first : last_slot + 1] = [where] * (last_slot - first + 1)
                    covered += last_slot - first + 1
            except (AttributeError, TypeError, ValueError, IndexError, UnicodeDecodeError):
                last = ConnectionError("unreadable CLUSTER SLOTS answer")
                continue
            masters = set(slots)
            for gone in [a for a in self._nodes if a not in masters and a != address]:
                self._nodes.pop(gone).drop()
            self._slots = slots
            self._stale = covered < SLOTS
            self._refreshed = asyncio.get_running_loop().time()
            return
        self._stale = True
        self._refreshed = asyncio.get_running_loop().time()
        raise ConnectionError(f"no Redis Cluster node gave the slot map ({last})")

    def slot_groups(self, keys: list[str]) -> list[list[int]]:
        groups: list[list[int]] = []
        last = -1
        for i, key in enumerate(keys):
            slot = key_slot(key)
            if slot != last:
                groups.append([])
                last = slot
            groups[-1].append(i)
        return groups

    async def pipeline(self, commands: list[tuple[Any, ...]]) -> list[Reply]:
        if not commands:
            return []
        slots = await self._slot_map()
        replies: list[Reply] = [None] * len(commands)
        pending = list(range(len(commands)))
        asking: dict[int, Address] = {}
        for attempt in range(self.REDIRECTS + 1):
            batches: dict[Address, list[int]] = {}
            where = slots[0]
            for i in pending:
                key = _key_of(commands[i])
                if i in asking:
                    where = asking[i]
                elif key is not None:
                    where = slots[key_slot(key)]
                batches.setdefault(where, []).append(i)
            self.writes += len(batches)
            results = await asyncio.gather(
                *(
                    self._batch(a, [commands[i] for i in idx], idx, asking)
                    for a, idx in batches.items()
                ),
                return_exceptions=True,
            )
            failure: BaseException | None = None
            redirected: list[int] = []
            asking = {}
            for (address, idx), result in zip(batches.items(), results, strict=True):
                if isinstance(result, BaseException):
                    if isinstance(result, (ConnectionError, TimeoutError)):
                        self._stale = True  # a lost master: its replica may have taken over
                    failure = failure or result
                    continue
                for i, reply in zip(idx, result, strict=True):
                    replies[i] = reply
                    if isinstance(reply, ResponseError):
                        text = str(reply)
                        redirect = _redirection(text, address)
                        if redirect is not None:
                            kind, slot, moved_to = redirect
                            if kind == "MOVED":
                                slots[slot] = moved_to
                                self._stale = True
                            else:
                                asking[i] = moved_to
                            redirected.append(i)
                        elif text.startswith("TRYAGAIN") and attempt < self.REDIRECTS:
                            redirected.append(i)
                        elif text.startswith("CLUSTERDOWN"):
                            self._stale = True
            if failure is not None:
                raise failure
            if not redirected or attempt == self.REDIRECTS:
                break
            pending = redirected
            if any(str(replies[i]).startswith("TRYAGAIN") for i in redirected):
                await asyncio.sleep(0.02)
        return replies

    async def _batch(
        self,
        address: Address,
        commands: list[tuple[Any, ...]],
        idx: list[int],
        asking: dict[int, Address],
    ) -> list[Reply]:
        if not any(i in asking for i in idx):
            return await self._node(address).pipeline(commands)
        sent: list[tuple[Any, ...]] = []
        for i, command in zip(idx, commands, strict=True):
            if i in asking:
                sent.append(("ASKING",))
            sent.append(command)
        replies = await self._node(address).pipeline(sent)
        out: list[Reply] = []
        at = 0
        for i in idx:
            if i in asking:
                at += 1  # ASKING's own +OK
            out.append(replies[at])
            at += 1
        return out

    def connection_of(self, key: str) -> tuple[_Node, int] | None:
        if self._slots is None:
            return None
        node = self._nodes.get(self._slots[key_slot(key)])
        epoch = node.current if node is not None else None
        return (node, epoch) if node is not None and epoch is not None else None

    async def masters(self) -> list[_Node]:
        return [self._node(a) for a in dict.fromkeys(await self._slot_map())]

    async def aclose(self) -> None:
        for node in self._nodes.values():
            node.drop()
        self._nodes.clear()


def connect(url: str, *, timeout: float, sentinel_password: str | None = None) -> RedisLink:
    """The client for a Redis URL: one server, Sentinel or Cluster (gateway/store/urls.py);
    `sentinel_password`: what the Sentinels require, if they do (store.sentinel_password)."""
    kind = parse_address(url).kind
    if kind == "sentinel":
        return LeanSentinel(url, timeout=timeout, sentinel_password=sentinel_password)
    if kind == "cluster":
        return LeanCluster(url, timeout=timeout)
    return LeanRedis(url, timeout=timeout)


@dataclass(slots=True)
class Prefetch:
    """A read that rides in the same write as another call (one round trip for both):
    the cached-answer read sent with the rate-limit draw. Its reply is kept here."""

    client: RedisLink
    script: str
    keys: list[Any]
    args: list[Any]
    cache_key: str
    reply: Reply = None
    done: bool = False
