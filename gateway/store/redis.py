"""Sessions in Redis, shared by every replica: one server, Sentinel or Cluster
(gateway/store/resp.py).

Keys, under the configured prefix (the key layout: docs/operations.md, "Key layout"):
  - `session:{<tag>}<id>`: the record, expiring by TTL. A session id is `{<tag>}<random>`
    (gateway/tokens.py), the tag naming its guest: the braces are the Redis hash tag, so on
    a Cluster every session of one guest and its index share a slot, and guests spread
    over every slot;
  - `user:{<tag>}<user id>`: the set of that guest's session ids (revoke-all, the
    per-guest limit), written in the same script as the record;
  - `lock:refresh:{<tag>}<id>`: SET NX PX with a random token, released by
    compare-and-delete.
Ids made before hash tags (no braces) keep their keys (`session:<id>`, index
`user:<user id>`): they are read, refreshed and ended as before, so an upgrade logs no one
out.
Every Redis error or timeout becomes `StoreUnavailable` (503); nothing is deleted
because Redis could not be reached, and the client reconnects by itself (following a
Sentinel or Cluster failover). Session writes can wait for replicas (`WAIT`,
store.wait_replicas): a write the guest was told about survives a failover.
A session read is kept in this process for `RECENT_SECONDS` (0.5 s): a guest's requests
in a burst read Redis once; what another replica changed (a logout, refreshed tokens)
is seen within that, and the token refresh always reads past it (`fresh`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from redis.exceptions import ConnectionError, RedisError

from gateway import tracing
from gateway.errors import StoreUnavailable
from gateway.session_record import Session
from gateway.store.codec import TokenCipher, UnreadableRecord, dump_session, load_session
from gateway.store.resp import RedisLink, connect, script_sha
from gateway.tokens import guest_tag

log = logging.getLogger("gateway.store")
RECENT_SECONDS = 0.5  # a logout on one replica is honoured by every other within this
RECENT_MAX = 4096
WAIT_PAUSE_SECONDS = 5.0  # after replicas did not confirm a write in time

_RELEASE = (
    "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end return 0"
)

# The record and, for a guest, the guest's index: one atomic step (KEYS share a slot).
_PUT = """
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
if #KEYS < 2 then return 0 end
redis.call('SADD', KEYS[2], ARGV[3])
redis.call('PEXPIRE', KEYS[2], ARGV[2], 'NX')
redis.call('PEXPIRE', KEYS[2], ARGV[2], 'GT')
return redis.call('SCARD', KEYS[2])
"""

_PUT_SHA = script_sha(_PUT)
_SCRIPTS = {_PUT_SHA: _PUT}


class _Flight:
    """A WAIT sent, covering the writes acknowledged before it (`covers`)."""

    __slots__ = ("covers", "done")

    def __init__(self, covers: int) -> None:
        self.covers = covers
        self.done: asyncio.Future[Any] = asyncio.get_running_loop().create_future()


class _WaitBook:
    __slots__ = ("acknowledged", "flight")

    def __init__(self) -> None:
        self.acknowledged = 0  # writes acknowledged on this server's connection
        self.flight: _Flight | None = None


class RedisClients:
    """One client per Redis URL, shared by the session store, the rate limits, the cache
    and the idempotency book on the same Redis (each store's `close` closes it; a second
    close does nothing); `own` gives a store a connection of its own (the session writes
    that wait for replicas: WAIT holds its connection); `writer` gives every business's
    session store (issue 18) the same one, with one book of its WAITs."""

    def __init__(self, *, timeout: float, sentinel_password: str | None = None) -> None:
        self._timeout = timeout
        self._sentinel_password = sentinel_password
        self._links: dict[str, RedisLink] = {}
        self._writers: dict[str, tuple[RedisLink, dict[Any, _WaitBook]]] = {}

    def __repr__(self) -> str:
        return f"RedisClients({len(self._links)} clients)"  # URLs may hold passwords

    def link(self, url: str) -> RedisLink:
        found = self._links.get(url)
        if found is None:
            found = self._links[url] = self.own(url)
        return found

    def own(self, url: str) -> RedisLink:
        return connect(url, timeout=self._timeout, sentinel_password=self._sentinel_password)

    def writer(self, url: str) -> tuple[RedisLink, dict[Any, _WaitBook]]:
        """The session writes' own connection to `url` and the book of its WAITs, shared
        by every session store on it: forty businesses are one writer and one WAIT at a
        time per connection, not forty."""
        found = self._writers.get(url)
        if found is None:
            found = self._writers[url] = (self.own(url), {})
        return found


class RedisSessionStore:
    def __init__(
        self,
        client: RedisLink,
        *,
        prefix: str,
        cipher: TokenCipher,
        sleep: Callable[[float], Any] = asyncio.sleep,
        clock: Callable[[], float] = time.monotonic,
        max_per_user: int = 10,
        writer: RedisLink | None = None,
        waits: dict[Any, _WaitBook] | None = None,
        wait_replicas: int = 0,
        wait_timeout: float = 0.1,
    ) -> None:
        self._redis = client
        # Session writes go through `writer` (its own connection) when they wait for
        # replicas: WAIT holds the connection it is sent on until they confirm.
        self._writer = writer or client
        self._wait = wait_replicas
        self._wait_ms = max(1, int(wait_timeout * 1000))
        self._wait_paused_until = 0.0
        # connection → the WAITs of its writes (shared with the writer's other stores)
        self._waits: dict[Any, _WaitBook] = waits if waits is not None else {}
        self._per_user = max_per_user
        self._clock = clock
        # sid → (until when, the session): read again after RECENT_SECONDS. Another
        # replica's logout or refresh is seen here within that; this replica's at once.
        self._recent: dict[str, tuple[float, Session]] = {}
        self._prefix = prefix
        self._cipher = cipher
        self._sleep = sleep

    def __repr__(self) -> str:
        return f"RedisSessionStore(prefix={self._prefix!r})"

    def session_key(self, sid: str) -> str:
        return f"{self._prefix}session:{sid}"

    def user_key(self, user_id: str) -> str:
        return f"{self._prefix}user:{{{guest_tag(user_id)}}}{user_id}"

    def _legacy_user_key(self, user_id: str) -> str:
        return f"{self._prefix}user:{user_id}"

    def _remember(self, session: Session, ttl: float) -> None:
        """Kept until RECENT_SECONDS from now, or the record's own end if sooner."""
        if len(self._recent) >= RECENT_MAX:
            self._recent.clear()
        self._recent[session.sid] = (self._clock() + min(RECENT_SECONDS, ttl), session)

    async def _write(self, commands: list[tuple[Any, ...]], key: str) -> list[Any]:
        """Session writes (on the writer's connection), then, when configured and not
        paused, the wait for replicas on that same connection (`_replicated`)."""
        replies = await self._writer.pipeline(commands) if commands else []
        first = commands[0] if commands else ("",)
        if first[0] == "EVALSHA" and str(replies[0]).startswith("NOSCRIPT"):
            again = [("EVAL", _SCRIPTS[first[1]], *first[2:]), *commands[1:]]
            replies = await self._writer.pipeline(again)
        for reply in replies:
            if isinstance(reply, RedisError):
                raise reply
        if self._wait > 0 and self._clock() >= self._wait_paused_until:
            connection = self._writer.connection_of(key)
            if connection is None:  # lost since: what it wrote may not be replicated
                raise ConnectionError("the connection that made the write is gone")
            await self._replicated(connection)
        return replies

    async def _replicated(self, connection: tuple[Any, int]) -> None:
        """WAIT for `store.wait_replicas` replicas to have every write acknowledged so far
        on `connection` (a WAIT counts its own connection's writes), grouped: one WAIT at a
        time per connection, covering every write acknowledged before it was sent (WAIT
        holds the connection it is sent on, so a WAIT per write would queue a burst of
        sign-ins behind each other).
          - A WAIT that fails (the connection lost, no answer in store.timeout) raises:
            the write may be lost with its master, so the guest is not told it was made
            (the store's 503);
          - fewer replicas than asked within store.wait_timeout (a replica down, or none
            yet after a failover): the store cannot do better, the write stands; one
            WARNING, and waits pause for WAIT_PAUSE_SECONDS, so a lost replica costs one
            slow write, not every one."""
        book = self._waits.get(connection)
        if book is None:
            for gone in [c for c, b in self._waits.items() if b.flight is None]:
                del self._waits[gone]  # books of connections since replaced, or idle
            book = self._waits[connection] = _WaitBook()
        book.acknowledged += 1
        mine = book.acknowledged
        while True:
            flight = book.flight
            if flight is None:
                flight = book.flight = _Flight(book.acknowledged)
                confirmed: Any = ConnectionError("the wait was cancelled")
                try:
                    confirmed = await self._writer.wait_on(connection, self._wait, self._wait_ms)
                except RedisError as exc:
                    confirmed = exc
                finally:
                    book.flight = None
                    flight.done.set_result(confirmed)
            else:
                confirmed = await asyncio.shield(flight.done)
            if flight.covers >= mine:
                break
        if isinstance(confirmed, RedisError):
            raise confirmed
        short = not isinstance(confirmed, int) or confirmed < self._wait
        if short and self._clock() >= self._wait_paused_until:
            self._wait_paused_until = self._clock() + WAIT_PAUSE_SECONDS
            log.warning(
                "session write not confirmed by replicas in time; waits paused",
                extra={"confirmed": confirmed if isinstance(confirmed, int) else -1},
            )

    async def get(self, sid: str, *, fresh: bool = False) -> Session | None:
        if not fresh:
            hit = self._recent.get(sid)
            if hit is not None and self._clock() < hit[0]:
                return hit[1]
        key = self.session_key(sid)
        try:
            with tracing.redis("PIPELINE", "sessions"):
                raw, ttl_ms = await self._redis.pipeline([("GET", key), ("PTTL", key)])
            for reply in (raw, ttl_ms):
                if isinstance(reply, RedisError):
                    raise reply
        except RedisError as exc:
            raise _unavailable(exc) from None
        if raw is None:
            self._recent.pop(sid, None)
            return None
        try:
            session = load_session(raw, self._cipher, sid)
        except UnreadableRecord as exc:
            # Another store key, tampering, or a record copied from another session's key.
            log.warning("session record unreadable", extra={"reason": str(exc)})
            return None
        self._remember(session, max(0, int(ttl_ms)) / 1000)
        return session

    async def put(self, session: Session, ttl: float) -> None:
        ms = max(1, int(ttl * 1000))
        key, raw = self.session_key(session.sid), dump_session(session, self._cipher)
        user = session.user_id
        keys = [key] if user is None else [key, self.user_key(user)]
        try:
            if user is None or session.sid.startswith("{" + guest_tag(user) + "}"):
                (count,) = await self._write(
                    [("EVALSHA", _PUT_SHA, len(keys), *keys, raw, ms, session.sid)], key
                )
            else:  # an id without its guest's tag: two slots on a Cluster, two steps
                replies = await self._write(
                    [
                        ("SADD", keys[1], session.sid),
                        ("PEXPIRE", keys[1], ms, "NX"),
                        ("PEXPIRE", keys[1], ms, "GT"),
                        ("SCARD", keys[1]),
                        ("SET", key, raw, "PX", ms),
                    ],
                    key,
                )
                count = replies[3]
        except RedisError as exc:
            raise _unavailable(exc) from None
        self._remember(session, ttl)
        if user is not None and int(count) > self._per_user:
            try:  # best effort: the sign-in is done and kept; the next one trims again
                await self._trim(user, session.sid)
            except RedisError as exc:
                log.warning("per-guest session trim failed", extra={"error": str(exc)})

    async def _trim(self, user_id: str, newest: str) -> None:
        """End the guest's oldest sessions beyond `max_per_user` (by sign-in time; one that
        does not open counts as oldest; ids whose record expired leave the set). Two
        sign-ins of one guest on two replicas at the same instant may each keep one more:
        the next sign-in trims again."""
        user_key = self.user_key(user_id)
        sids = sorted(s.decode() for s in await self._redis.execute("SMEMBERS", user_key))
        raws = await self._redis.pipeline([("GET", self.session_key(sid)) for sid in sids])
        live: list[tuple[float, str]] = []
        gone: list[str] = []
        for sid, raw in zip(sids, raws, strict=True):
            if isinstance(raw, RedisError):
                raise raw
            if raw is None:
                gone.append(sid)
                continue
            try:
                live.append((load_session(raw, self._cipher, sid).created_at, sid))
            except UnreadableRecord:
                live.append((float("-inf"), sid))
        live.sort(key=lambda item: (item[1] == newest, item[0]), reverse=True)  # keep: newest
        ended = [sid for _, sid in live[self._per_user :]]
        for sid in ended:
            self._recent.pop(sid, None)
        if ended or gone:
            commands: list[tuple[Any, ...]] = [("DEL", self.session_key(sid)) for sid in ended]
            commands.append(("SREM", user_key, *ended, *gone))
            await self._write(commands, user_key)
        if ended:
            log.info("sessions over the per-guest limit ended", extra={"count": len(ended)})

    async def replace(self, session: Session, ttl: float) -> bool:
        key, raw = self.session_key(session.sid), dump_session(session, self._cipher)
        try:
            # XX: only if it still exists, so a logout in between is never undone.
            ms = max(1, int(ttl * 1000))
            (done,) = await self._write([("SET", key, raw, "PX", ms, "XX")], key)
        except RedisError as exc:
            raise _unavailable(exc) from None
        kept = done is not None
        if kept:
            self._remember(session, ttl)
        else:
            self._recent.pop(session.sid, None)
        return kept

    async def delete(self, sid: str) -> None:
        self._recent.pop(sid, None)
        try:
            raw = await self._writer.execute("GETDEL", self.session_key(sid))
            if raw is None:
                return
            try:
                user_id = load_session(raw, self._cipher, sid).user_id
            except UnreadableRecord:
                user_id = None
            commands: list[tuple[Any, ...]] = []
            if user_id is not None:
                commands.append(("SREM", self.user_key(user_id), sid))
                if not sid.startswith("{"):
                    commands.insert(0, ("SREM", self._legacy_user_key(user_id), sid))
            # The wait for replicas (after these) covers the GETDEL too: one connection.
            await self._write(commands, self.session_key(sid))
        except RedisError as exc:
            raise _unavailable(exc) from None

    async def delete_user(self, user_id: str) -> int:
        for sid in [s for s, (_, kept) in self._recent.items() if kept.user_id == user_id]:
            del self._recent[sid]
        indexes = [self._legacy_user_key(user_id), self.user_key(user_id)]
        try:
            listed = await self._redis.pipeline([("SMEMBERS", key) for key in indexes])
            sids: set[bytes] = set()
            for members in listed:
                if isinstance(members, RedisError):
                    raise members
                sids.update(members)
            # One DEL a key (ids made before hash tags are on other slots), the index last.
            commands: list[tuple[Any, ...]] = [("DEL", self.session_key(s.decode())) for s in sids]
            commands += [("DEL", key) for key in indexes]
            replies = await self._write(commands, indexes[1])
        except RedisError as exc:
            raise _unavailable(exc) from None
        return sum(int(r) for r in replies[: len(sids)])

    @asynccontextmanager
    async def lock(self, name: str, *, ttl: float, wait: float) -> AsyncIterator[bool]:
        key, token = f"{self._prefix}lock:{name}", secrets.token_hex(16)
        loop = asyncio.get_running_loop()
        deadline, delay = loop.time() + wait, 0.005
        acquired = False
        try:
            while True:
                ms = max(1, int(ttl * 1000))
                if await self._redis.execute("SET", key, token, "NX", "PX", ms) is not None:
                    acquired = True
                    break
                if loop.time() >= deadline:
                    break
                await self._sleep(delay)
                delay = min(delay * 2, 0.1)
        except RedisError as exc:
            raise _unavailable(exc) from None
        try:
            yield acquired
        finally:
            if acquired:
                with contextlib.suppress(RedisError):  # if not now, it expires after ttl
                    await self._redis.evalsha(_RELEASE, [key], [token])

    async def count(self) -> int:
        """SCAN over this prefix's session keys on every master: O(keys), so the caller
        caches it."""
        try:
            return await self._redis.count_keys(f"{self._prefix}session:*")
        except RedisError as exc:
            raise _unavailable(exc) from None

    async def ping(self, *, every: bool = False) -> None:
        try:
            await self._redis.ping(every=every)
        except RedisError as exc:
            raise _unavailable(exc) from None

    async def close(self) -> None:
        await self._redis.aclose()
        if self._writer is not self._redis:
            await self._writer.aclose()


def _unavailable(exc: RedisError) -> StoreUnavailable:
    log.warning("session store unavailable", extra={"error": type(exc).__name__})
    return StoreUnavailable("the session store is unavailable; try again shortly")
