"""Sessions in this process's memory: bounded by count, each record expiring on its own
deadline on the injected clock. Locks are asyncio locks: one process, nobody else to exclude.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

from gateway.store.compact import deadline_of, pack, unpack

if TYPE_CHECKING:
    from gateway.session_record import Session


DECODED_MAX = 1024


class MemorySessionStore:
    """sid → one compact string (gateway/store/compact.py) starting with its deadline:
    one dict entry and one string a session. Expired entries go on read, and in a sweep
    when the table is full; if still full, the earliest-expiring tenth goes."""

    def __init__(self, *, max_sessions: int, clock: Callable[[], float]) -> None:
        self._clock = clock
        self._max = max_sessions
        self._items: dict[str, str] = {}
        # The last sessions decoded, by sid, with the record they were decoded from: a hot
        # session is read on every request and its record rarely changes (decoding is a
        # split and a dozen conversions). Bounded: at most DECODED_MAX of them.
        self._decoded: dict[str, tuple[str, Session]] = {}
        # Weak: a lock lives while someone holds or waits for it, then goes.
        self._locks: weakref.WeakValueDictionary[str, asyncio.Lock] = weakref.WeakValueDictionary()

    def _live(self, sid: str) -> str | None:
        raw = self._items.get(sid)
        if raw is not None and deadline_of(raw) <= self._clock():
            del self._items[sid]
            return None
        return raw

    async def get(self, sid: str, *, fresh: bool = False) -> Session | None:
        raw = self._live(sid)
        if raw is None:
            return None
        hit = self._decoded.get(sid)
        if hit is not None and hit[0] is raw:
            return hit[1]
        session = unpack(sid, raw)
        if len(self._decoded) >= DECODED_MAX:
            self._decoded.clear()
        self._decoded[sid] = (raw, session)
        return session

    async def put(self, session: Session, ttl: float) -> None:
        if session.sid not in self._items and len(self._items) >= self._max:
            self._make_room()
        self._items[session.sid] = pack(session, self._clock() + ttl)

    async def replace(self, session: Session, ttl: float) -> bool:
        if self._live(session.sid) is None:
            return False
        self._items[session.sid] = pack(session, self._clock() + ttl)
        return True

    def _sweep(self) -> None:
        now = self._clock()
        for sid in [k for k, raw in self._items.items() if deadline_of(raw) <= now]:
            del self._items[sid]

    def _make_room(self) -> None:
        self._sweep()
        if len(self._items) >= self._max:
            oldest = sorted(self._items, key=lambda k: deadline_of(self._items[k]))
            for sid in oldest[: max(1, self._max // 10)]:
                del self._items[sid]

    async def delete(self, sid: str) -> None:
        self._items.pop(sid, None)

    async def delete_user(self, user_id: str) -> int:
        # A scan, not an index: revoke-all is rare, and an index per guest cost ~300 bytes
        # a session (bench/session_memory.py); 100k sessions scan in tens of milliseconds.
        self._sweep()
        sids = [k for k, raw in self._items.items() if unpack(k, raw).user_id == user_id]
        for sid in sids:
            del self._items[sid]
        return len(sids)

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
        self._sweep()
        return len(self._items)

    async def ping(self) -> None:
        return None

    async def close(self) -> None:
        self._items.clear()

    def __len__(self) -> int:
        return len(self._items)
