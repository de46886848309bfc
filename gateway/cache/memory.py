"""The response cache in this process's memory, bounded by entries and by bytes.

Generations come from one counter that only grows, so a tag whose generation was evicted
gets a new one, never an old one: an evicted generation can only make entries stale,
never bring a stale entry back.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from gateway.cache.policy import Entry
from gateway.expiring import ExpiringDict
from gateway.store.resp import Prefetch

GENERATION_TTL = 86400.0
_OVERHEAD = 256  # bytes counted per entry beyond its body


class MemoryResponseCache:
    """Entries in one dict in insertion order, bounded by bytes (each entry counts at least
    max_bytes / max_entries, so both bounds hold at once): when full, expired entries go
    first, then the oldest. Generations and learned identifiers in bounded expiring dicts
    (gateway/expiring.py): a dict look-up each on the hot path."""

    def __init__(self, *, max_entries: int, max_bytes: int, clock: Callable[[], float]) -> None:
        self._floor = max(1, max_bytes // max_entries)
        self._max_bytes = max_bytes
        self._bytes = 0
        # key → (entry, tags and their generations, expiry, bytes counted)
        self._entries: dict[str, tuple[Entry, Mapping[str, int], float, int]] = {}
        self._gens: ExpiringDict[str, int] = ExpiringDict(max_entries * 4)
        self._idents: ExpiringDict[str, str] = ExpiringDict(max_entries * 4)
        self._counter = itertools.count(1)
        self._clock = clock

    def _gen(self, tag: str, now: float) -> int:
        gen = self._gens.get(tag, now)
        if gen is None:
            gen = next(self._counter)
            self._gens.set(tag, gen, now + GENERATION_TTL, now)
        return gen

    async def get(self, key: str) -> Entry | None:
        item = self._entries.get(key)
        if item is None:
            return None
        entry, tags, until, _ = item
        now = self._clock()
        if until <= now or any(self._gen(tag, now) != gen for tag, gen in tags.items()):
            self._drop(key)
            return None
        return entry

    async def generations(self, tags: Sequence[str]) -> dict[str, int]:
        now = self._clock()
        return {tag: self._gen(tag, now) for tag in tags}

    async def put(self, key: str, entry: Entry, ttl: float, tags: Mapping[str, int]) -> None:
        size = max(self._floor, len(entry.body) + _OVERHEAD)
        if size > self._max_bytes:
            return  # larger than the whole cache: not kept
        now = self._clock()
        self._drop(key)
        if self._bytes + size > self._max_bytes:
            self._make_room(size, now)
        self._entries[key] = (entry, dict(tags), now + ttl, size)
        self._bytes += size

    def _drop(self, key: str) -> None:
        item = self._entries.pop(key, None)
        if item is not None:
            self._bytes -= item[3]

    def _make_room(self, size: int, now: float) -> None:
        for key in [k for k, item in self._entries.items() if item[2] <= now]:
            self._drop(key)
        for key in list(self._entries):  # then the oldest first
            if self._bytes + size <= self._max_bytes:
                break
            self._drop(key)

    async def invalidate(self, tags: Sequence[str]) -> None:
        now = self._clock()
        for tag in tags:
            self._gens.set(tag, next(self._counter), now + GENERATION_TTL, now)

    async def learn(self, idents: Sequence[str], user: str, ttl: float) -> None:
        now = self._clock()
        for ident in idents:
            self._idents.set(ident, user, now + GENERATION_TTL, now)

    async def users_for(self, idents: Sequence[str]) -> set[str]:
        now = self._clock()
        return {u for u in (self._idents.get(i, now) for i in idents) if u is not None}

    def prefetch_for(self, key: str) -> Prefetch | None:
        return None  # nothing to save: a look-up here is a dict read

    def entry_from(self, raw: Any) -> Entry | None:
        return None

    async def close(self) -> None:
        self._entries.clear()
        self._bytes = 0

    def __len__(self) -> int:
        return len(self._entries)
