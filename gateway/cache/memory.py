"""The response cache in this process's memory, bounded by entries and by bytes.

Generations come from one counter that only grows, so a tag whose generation was evicted
gets a new one, never an old one: an evicted generation can only make entries stale,
never bring a stale entry back.
"""

from __future__ import annotations

import contextlib
import itertools
from collections.abc import Callable, Mapping, Sequence

from cachetools import TLRUCache, TTLCache

from gateway.cache.policy import Entry

GENERATION_TTL = 86400.0
_OVERHEAD = 256  # bytes counted per entry beyond its body


class MemoryResponseCache:
    def __init__(self, *, max_entries: int, max_bytes: int, clock: Callable[[], float]) -> None:
        # Each entry costs at least max_bytes / max_entries: both bounds hold at once.
        floor = max(1, max_bytes // max_entries)
        self._entries: TLRUCache[str, tuple[Entry, Mapping[str, int], float]] = TLRUCache(
            maxsize=max_bytes,
            ttu=lambda _k, v, _now: v[2],
            timer=clock,
            getsizeof=lambda v: max(floor, len(v[0].body) + _OVERHEAD),
        )
        self._gens: TTLCache[str, int] = TTLCache(
            maxsize=max_entries * 4, ttl=GENERATION_TTL, timer=clock
        )
        self._idents: TTLCache[str, str] = TTLCache(
            maxsize=max_entries * 4, ttl=GENERATION_TTL, timer=clock
        )
        self._counter = itertools.count(1)
        self._clock = clock

    def _gen(self, tag: str) -> int:
        gen = self._gens.get(tag)
        if gen is None:
            gen = self._gens[tag] = next(self._counter)
        return gen

    async def get(self, key: str) -> Entry | None:
        item = self._entries.get(key)
        if item is None:
            return None
        entry, tags, _ = item
        if any(self._gen(tag) != gen for tag, gen in tags.items()):
            self._entries.pop(key, None)
            return None
        return entry

    async def generations(self, tags: Sequence[str]) -> dict[str, int]:
        return {tag: self._gen(tag) for tag in tags}

    async def put(self, key: str, entry: Entry, ttl: float, tags: Mapping[str, int]) -> None:
        with contextlib.suppress(ValueError):  # larger than the whole cache: not kept
            self._entries[key] = (entry, dict(tags), self._clock() + ttl)

    async def invalidate(self, tags: Sequence[str]) -> None:
        for tag in tags:
            self._gens[tag] = next(self._counter)

    async def learn(self, idents: Sequence[str], user: str, ttl: float) -> None:
        for ident in idents:
            self._idents[ident] = user

    async def users_for(self, idents: Sequence[str]) -> set[str]:
        return {u for u in (self._idents.get(i) for i in idents) if u is not None}

    async def close(self) -> None:
        self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)
