"""Counters the metrics work exports: requests refused per policy, store errors."""

from __future__ import annotations


class RateLimitStats:
    def __init__(self) -> None:
        self.limited: dict[str, int] = {}  # policy name → requests refused
        self.store_errors = 0

    def refused(self, policy: str) -> None:
        self.limited[policy] = self.limited.get(policy, 0) + 1
