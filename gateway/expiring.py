"""A bounded dict whose entries each carry an expiry time: what the memory stores need,
at the cost of a dict look-up and a comparison.

cachetools' TLRUCache does the same with a heap and a linked list per write; on the
hot path (two rate-limit buckets and a verified token per request) that was most of
their cost. Here an expired entry goes when it is read, and when the dict is full a sweep
drops every expired entry and then, if it is still full, the oldest-written tenth.
Time is passed in, never read.
"""

from __future__ import annotations

from typing import Generic, TypeVar

K = TypeVar("K")
V = TypeVar("V")


class ExpiringDict(Generic[K, V]):
    __slots__ = ("_items", "_max")

    def __init__(self, max_size: int) -> None:
        if max_size < 1:
            raise ValueError("max_size must be at least 1")
        self._items: dict[K, tuple[V, float]] = {}
        self._max = max_size

    def get(self, key: K, now: float) -> V | None:
        item = self._items.get(key)
        if item is None:
            return None
        if item[1] <= now:
            del self._items[key]
            return None
        return item[0]

    def set(self, key: K, value: V, until: float, now: float) -> None:
        items = self._items
        if len(items) >= self._max and key not in items:
            self._make_room(now)
        items[key] = (value, until)

    def pop(self, key: K) -> None:
        self._items.pop(key, None)

    def clear(self) -> None:
        self._items.clear()

    def _make_room(self, now: float) -> None:
        items = self._items
        for key in [k for k, (_, until) in items.items() if until <= now]:
            del items[key]
        if len(items) >= self._max:
            for key in list(items)[: max(1, self._max // 10)]:  # oldest written first
                del items[key]

    def __len__(self) -> int:
        return len(self._items)
