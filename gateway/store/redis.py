"""Sessions in Redis, shared by every replica (redis-py asyncio, one pooled client).

Keys, under the configured prefix: `session:<sid>` (the record, expiring by TTL),
`user:<user id>` (the set of that guest's session ids, for revoke-all),
`lock:<name>` (SET NX PX with a random token, released by compare-and-delete).
Every Redis error or timeout becomes `StoreUnavailable` (503); nothing is deleted
because Redis could not be reached, and the pool reconnects by itself.
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

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from gateway.errors import StoreUnavailable
from gateway.session_record import Session
from gateway.store.codec import TokenCipher, UnreadableRecord, dump_session, load_session
from gateway.store.resp import LeanRedis

log = logging.getLogger("gateway.store")
RECENT_SECONDS = 0.5  # a logout on one replica is honoured by every other within this
RECENT_MAX = 4096

_RELEASE = (
    "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end return 0"
)


def make_redis_client(url: str, *, timeout: float, max_connections: int = 64) -> Any:
    pool = aioredis.BlockingConnectionPool.from_url(
        url,
        max_connections=max_connections,
        timeout=timeout,  # waiting for a free connection
        socket_timeout=timeout,
        socket_connect_timeout=timeout,
        health_check_interval=15,
    )
    # from_pool: closing the client closes its pool. No retries: one bounded wait, then 503.
    return aioredis.Redis.from_pool(pool)


class RedisClients:
    """One client, and so one connection pool, per Redis URL: the session store, the rate
    limits, the cache and the idempotency book on the same Redis share it (each store's
    `close` closes it; a second close does nothing)."""

    def __init__(self, *, timeout: float, max_connections: int = 128) -> None:
        self._timeout = timeout
        self._max = max_connections
        self._clients: dict[str, Any] = {}
        self._lean: dict[str, LeanRedis] = {}

    def __repr__(self) -> str:
        return f"RedisClients({len(self._clients)} pools)"  # URLs may hold passwords

    def client(self, url: str) -> Any:
        found = self._clients.get(url)
        if found is None:
            found = self._clients[url] = make_redis_client(
                url, timeout=self._timeout, max_connections=self._max
            )
        return found

    def lean(self, url: str) -> LeanRedis:
        """The hot path's client for `url` (gateway/store/resp.py): one connection."""
        found = self._lean.get(url)
        if found is None:
            found = self._lean[url] = LeanRedis(url, timeout=self._timeout)
        return found


class RedisSessionStore:
    def __init__(
        self,
        client: Any,
        *,
        prefix: str,
        cipher: TokenCipher,
        sleep: Callable[[float], Any] = asyncio.sleep,
        clock: Callable[[], float] = time.monotonic,
        fast: LeanRedis | None = None,
        max_per_user: int = 10,
    ) -> None:
        self._redis = client
        self._per_user = max_per_user
        self._fast = fast  # the session read goes through it when given
        self._clock = clock
        # sid → (until when, the session): read again after RECENT_SECONDS. Another
        # replica's logout or refresh is seen here within that; this replica's at once.
        self._recent: dict[str, tuple[float, Session]] = {}
        self._prefix = prefix
        self._cipher = cipher
        self._sleep = sleep
        self._release = client.register_script(_RELEASE)

    def __repr__(self) -> str:
        return f"RedisSessionStore(prefix={self._prefix!r})"

    def _key(self, kind: str, name: str) -> str:
        return f"{self._prefix}{kind}:{name}"

    def _remember(self, session: Session, ttl: float) -> None:
        """Kept until RECENT_SECONDS from now, or the record's own end if sooner."""
        if len(self._recent) >= RECENT_MAX:
            self._recent.clear()
        self._recent[session.sid] = (self._clock() + min(RECENT_SECONDS, ttl), session)

    async def get(self, sid: str, *, fresh: bool = False) -> Session | None:
        if not fresh:
            hit = self._recent.get(sid)
            if hit is not None and self._clock() < hit[0]:
                return hit[1]
        key = self._key("session", sid)
        try:
            if self._fast is not None:
                raw, ttl_ms = await self._fast.pipeline([("GET", key), ("PTTL", key)])
                for reply in (raw, ttl_ms):
                    if isinstance(reply, RedisError):
                        raise reply
            else:
                async with self._redis.pipeline(transaction=False) as pipe:
                    pipe.get(key)
                    pipe.pttl(key)
                    raw, ttl_ms = await pipe.execute()
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
        try:
            async with self._redis.pipeline(transaction=True) as pipe:
                pipe.set(
                    self._key("session", session.sid), dump_session(session, self._cipher), px=ms
                )
                if session.user_id is not None:
                    user_key = self._key("user", session.user_id)
                    pipe.sadd(user_key, session.sid)
                    pipe.pexpire(user_key, ms, nx=True)
                    pipe.pexpire(user_key, ms, gt=True)
                    pipe.scard(user_key)
                replies = await pipe.execute()
        except RedisError as exc:
            raise _unavailable(exc) from None
        self._remember(session, ttl)
        if session.user_id is not None and int(replies[-1]) > self._per_user:
            try:  # best effort: the sign-in is done and kept; the next one trims again
                await self._trim(session.user_id, session.sid)
            except RedisError as exc:
                log.warning("per-guest session trim failed", extra={"error": str(exc)})

    async def _trim(self, user_id: str, newest: str) -> None:
        """End the guest's oldest sessions beyond `max_per_user` (by sign-in time; one that
        does not open counts as oldest; ids whose record expired leave the set). Two
        sign-ins of one guest on two replicas at the same instant may each keep one more:
        the next sign-in trims again."""
        user_key = self._key("user", user_id)
        sids = sorted(s.decode() for s in await self._redis.smembers(user_key))
        async with self._redis.pipeline(transaction=False) as pipe:
            for sid in sids:
                pipe.get(self._key("session", sid))
            raws = await pipe.execute()
        live: list[tuple[float, str]] = []
        gone: list[str] = []
        for sid, raw in zip(sids, raws, strict=True):
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
            async with self._redis.pipeline(transaction=False) as pipe:
                if ended:
                    pipe.delete(*(self._key("session", sid) for sid in ended))
                pipe.srem(user_key, *ended, *gone)
                await pipe.execute()
        if ended:
            log.info("sessions over the per-guest limit ended", extra={"count": len(ended)})

    async def replace(self, session: Session, ttl: float) -> bool:
        key, raw = self._key("session", session.sid), dump_session(session, self._cipher)
        try:
            # XX: only if it still exists, so a logout in between is never undone.
            kept = bool(await self._redis.set(key, raw, px=max(1, int(ttl * 1000)), xx=True))
        except RedisError as exc:
            raise _unavailable(exc) from None
        if kept:
            self._remember(session, ttl)
        else:
            self._recent.pop(session.sid, None)
        return kept

    async def delete(self, sid: str) -> None:
        self._recent.pop(sid, None)
        try:
            raw = await self._redis.getdel(self._key("session", sid))
            if raw is None:
                return
            try:
                user_id = load_session(raw, self._cipher, sid).user_id
            except UnreadableRecord:
                return
            if user_id is not None:
                await self._redis.srem(self._key("user", user_id), sid)
        except RedisError as exc:
            raise _unavailable(exc) from None

    async def delete_user(self, user_id: str) -> int:
        for sid in [s for s, (_, kept) in self._recent.items() if kept.user_id == user_id]:
            del self._recent[sid]
        user_key = self._key("user", user_id)
        try:
            sids = await self._redis.smembers(user_key)
            keys = [self._key("session", s.decode()) for s in sids]
            deleted = int(await self._redis.delete(*keys)) if keys else 0
            await self._redis.delete(user_key)
        except RedisError as exc:
            raise _unavailable(exc) from None
        return deleted

    @asynccontextmanager
    async def lock(self, name: str, *, ttl: float, wait: float) -> AsyncIterator[bool]:
        key, token = self._key("lock", name), secrets.token_hex(16)
        loop = asyncio.get_running_loop()
        deadline, delay = loop.time() + wait, 0.005
        acquired = False
        try:
            while True:
                if await self._redis.set(key, token, nx=True, px=max(1, int(ttl * 1000))):
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
                    await self._release(keys=[key], args=[token])

    async def count(self) -> int:
        """SCAN over this prefix's session keys: O(keys), so the caller caches it."""
        try:
            total = 0
            async for _ in self._redis.scan_iter(match=self._key("session", "*"), count=1000):
                total += 1
            return total
        except RedisError as exc:
            raise _unavailable(exc) from None

    async def ping(self) -> None:
        try:
            await self._redis.ping()
        except RedisError as exc:
            raise _unavailable(exc) from None

    async def close(self) -> None:
        await self._redis.aclose()
        if self._fast is not None:
            await self._fast.aclose()


def _unavailable(exc: RedisError) -> StoreUnavailable:
    log.warning("session store unavailable", extra={"error": type(exc).__name__})
    return StoreUnavailable("the session store is unavailable; try again shortly")
