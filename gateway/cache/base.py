"""The response-cache contract. A backend error is `CacheUnavailable`: the cache stage then
serves from Punchh (fail-open); a cache never turns an answer into an error."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from gateway.cache.policy import Entry
from gateway.store.resp import Prefetch


class CacheUnavailable(Exception):
    pass


class ResponseCache(Protocol):
    async def get(self, key: str) -> Entry | None:
        """The entry, if present and none of its tags was invalidated since it was stored."""

    async def generations(self, tags: Sequence[str]) -> dict[str, int]:
        """The current generation of each tag (read before fetching what will be stored)."""

    async def put(self, key: str, entry: Entry, ttl: float, tags: Mapping[str, int]) -> None: ...

    async def invalidate(self, tags: Sequence[str]) -> None: ...

    async def learn(self, idents: Sequence[str], user: str, ttl: float) -> None:
        """Remember which user a guest identifier (phone, email, ...) belongs to."""

    async def users_for(self, idents: Sequence[str]) -> set[str]: ...

    def prefetch_for(self, key: str) -> Prefetch | None:
        """`get(key)` as a command the rate-limit draw can carry, or None where that saves
        nothing."""

    def entry_from(self, raw: Any) -> Entry | None:
        """The entry a prefetched read's reply holds."""

    async def close(self) -> None: ...
