"""Sessions in this process's memory: bounded by count and per guest, each record expiring
on its own deadline on the injected clock. Locks are asyncio locks: one process, nobody
else to exclude.

Who goes when there is no room (issue 15, finding 5: one account signing in over and over
must not log other guests out):
- a guest holds at most `max_per_user` sessions: a sign-in beyond that ends the guest's
  oldest;
- when the table is full (`max_sessions`), expired records go first, then the least
  recently used, taken from guests with more than one session before any guest's only
  one. "Used" is "written": a session is rewritten when the manager touches it, at most
  once a minute, so recency has that resolution and reads cost nothing extra.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

from gateway.store.compact import deadline_of, pack, unpack, user_of

if TYPE_CHECKING:
    from gateway.session_record import Session


DECODED_MAX = 1024
EVICT_SHARE = 100  # a full table frees 1/EVICT_SHARE of its room at once: one scan buys many


def _user_key(user_id: str) -> int | str:
    """A numeric guest id as an int (28 bytes, not ~55): only where the string is the int's
    own spelling, so two spellings never share a key."""
    if (
        user_id.isascii()
        and user_id.isdigit()
        and len(user_id) < 19
        and str(int(user_id)) == user_id
    ):
        return int(user_id)
    return user_id


class MemorySessionStore:
    """sid → one compact string (gateway/store/compact.py) starting with its deadline:
    one dict entry and one string a session, in the order they were last written (the
    oldest write first); guest → their sids, oldest first."""

    def __init__(
        self, *, max_sessions: int, clock: Callable[[], float], max_per_user: int = 10
    ) -> None:
        self._clock = clock
        self._max = max_sessions
        self._per_user = max_per_user
        self._items: dict[str, str] = {}
        # guest → their session id, or their ids in creation order when more than one. A
        # lone id is the very string keying `_items` and a numeric guest id is an int key
        # (Punchh's are): ~70 bytes a guest (bench/session_memory.py).
        self._users: dict[int | str, str | tuple[str, ...]] = {}
        # The last sessions decoded, by sid, with the record they were decoded from: a hot
        # session is read on every request and its record rarely changes (decoding is a
        # split and a dozen conversions). Bounded: at most DECODED_MAX of them.
        self._decoded: dict[str, tuple[str, Session]] = {}
        # Weak: a lock lives while someone holds or waits for it, then goes.
        self._locks: weakref.WeakValueDictionary[str, asyncio.Lock] = weakref.WeakValueDictionary()

    def _live(self, sid: str) -> str | None:
        raw = self._items.get(sid)
        if raw is not None and deadline_of(raw) <= self._clock():
            self._drop(sid)
            return None
        return raw

    def _mine(self, user_id: str) -> tuple[str, ...]:
        held = self._users.get(_user_key(user_id), ())
        return (held,) if isinstance(held, str) else held

    def _set_mine(self, user_id: str, sids: tuple[str, ...]) -> None:
        if not sids:
            self._users.pop(_user_key(user_id), None)
        else:
            self._users[_user_key(user_id)] = sids[0] if len(sids) == 1 else sids

    def _drop(self, sid: str) -> None:
        raw = self._items.pop(sid, None)
        if raw is None:
            return
        user_id = user_of(raw)
        if user_id is not None:
            self._set_mine(user_id, tuple(s for s in self._mine(user_id) if s != sid))

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
        sid, user_id = session.sid, session.user_id
        if sid in self._items:
            self._drop(sid)
        if user_id is not None:
            mine = tuple(s for s in self._mine(user_id) if self._live(s) is not None)
            for oldest in mine[: max(0, len(mine) - self._per_user + 1)]:
                self._drop(oldest)  # the guest's oldest session ends first
        if len(self._items) >= self._max:
            self._make_room()
        if user_id is not None:
            self._set_mine(user_id, (*self._mine(user_id), sid))
        self._items[sid] = pack(session, self._clock() + ttl)

    async def replace(self, session: Session, ttl: float) -> bool:
        sid = session.sid
        old = self._live(sid)
        if old is None:
            return False
        if user_of(old) == session.user_id:
            del self._items[sid]  # written again: to the end of the order, most recent
        else:  # another guest's record now (never in the gateway's own flows): re-indexed
            self._drop(sid)
            if session.user_id is not None:
                self._set_mine(session.user_id, (*self._mine(session.user_id), sid))
        self._items[sid] = pack(session, self._clock() + ttl)
        return True

    def _sweep(self) -> None:
        now = self._clock()
        for sid in [k for k, raw in self._items.items() if deadline_of(raw) <= now]:
            self._drop(sid)

    def _make_room(self) -> None:
        self._sweep()
        need = len(self._items) - self._max + max(1, self._max // EVICT_SHARE)
        if need <= 0:
            return
        # Least recently written first, from guests with sessions to spare (each keeps
        # one); then, if that was not enough, anyone's, still least recently written.
        crowded = {u: sids for u, sids in self._users.items() if isinstance(sids, tuple)}
        spare = {u: len(sids) - 1 for u, sids in crowded.items()}
        owner = {sid: u for u, sids in crowded.items() for sid in sids}
        chosen: list[str] = []
        if owner:
            for sid in self._items:
                user_id = owner.get(sid)
                if user_id is not None and spare[user_id] > 0:
                    spare[user_id] -= 1
                    chosen.append(sid)
                    if len(chosen) == need:
                        break
        if len(chosen) < need:
            taken = set(chosen)
            rest = (sid for sid in self._items if sid not in taken)
            chosen += [sid for sid, _ in zip(rest, range(need - len(chosen)), strict=False)]
        for sid in chosen:
            self._drop(sid)

    async def delete(self, sid: str) -> None:
        self._drop(sid)

    async def delete_user(self, user_id: str) -> int:
        sids = [s for s in self._mine(user_id) if self._live(s) is not None]
        for sid in sids:
            self._drop(sid)
        return len(sids)

    def sessions_of(self, user_id: str) -> tuple[str, ...]:
        """The guest's live session ids, oldest first."""
        return tuple(s for s in self._mine(user_id) if self._live(s) is not None)

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

    async def ping(self, *, every: bool = False) -> None:
        return None

    async def close(self) -> None:
        self._items.clear()
        self._users.clear()

    def __len__(self) -> int:
        return len(self._items)
