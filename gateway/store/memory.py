"""Sessions in this process's memory: bounded by count, each record expiring on its own
deadline on the injected clock. Locks are asyncio locks: one process, nobody else to exclude.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

from cachetools import TLRUCache

if TYPE_CHECKING:
    from gateway.sessions import Session


class MemorySessionStore:
    def __init__(self, *, max_sessions: int, clock: Callable[[], float]) -> None:
        self._clock = clock
        self._cache: TLRUCache[str, tuple[Session, float]] = TLRUCache(
            maxsize=max_sessions, ttu=lambda _k, v, _now: v[1], timer=clock
        )
        self._by_user: dict[str, set[str]] = {}
        # Weak: a lock lives while someone holds or waits for it, then goes.
        self._locks: weakref.WeakValueDictionary[str, asyncio.Lock] = weakref.WeakValueDictionary()

    async def get(self, sid: str) -> Session | None:
        entry = self._cache.get(sid)
        return entry[0] if entry else None

    async def put(self, session: Session, ttl: float) -> None:
        self._cache[session.sid] = (session, self._clock() + ttl)
        if session.user_id is not None:
            sids = self._by_user.setdefault(session.user_id, set())
            sids.intersection_update(self._cache.keys())  # forget evicted and expired ones
            sids.add(session.sid)

    async def replace(self, session: Session, ttl: float) -> bool:
        if self._cache.get(session.sid) is None:
            return False
        self._cache[session.sid] = (session, self._clock() + ttl)
        return True

    async def delete(self, sid: str) -> None:
        entry = self._cache.pop(sid, None)
        if entry and entry[0].user_id is not None:
            self._by_user.get(entry[0].user_id, set()).discard(sid)

    async def delete_user(self, user_id: str) -> int:
        sids = self._by_user.pop(user_id, set())
        return sum(self._cache.pop(sid, None) is not None for sid in sids)

    @asynccontextmanager
    async def lock(self, name: str, *, ttl: float, wait: float) -> AsyncIterator[bool]:
        lock = self._locks.get(name)
        if lock is None:
            lock = self._locks[name] = asyncio.Lock()
        try:
            await asyncio.wait_for(lock.acquire(), wait)
        except TimeoutError:
            yield False
            return
        try:
            yield True
        finally:
            lock.release()

    async def count(self) -> int:
        self._cache.expire()
        return len(self._cache)

    async def ping(self) -> None:
        return None

    async def close(self) -> None:
        self._cache.clear()
        self._by_user.clear()

    def __len__(self) -> int:
        return len(self._cache)
