"""The last gateway-made errors, for the status page: a bounded ring, newest first."""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class RecentError:
    at: float
    request_id: str
    route: str
    status: int
    code: str
    message: str  # gateway messages hold no secrets (gateway/errors.py)


class RecentErrors:
    def __init__(self, size: int = 50) -> None:
        self._ring: deque[RecentError] = deque(maxlen=size)

    def add(self, request_id: str, route: str, status: int, code: str, message: str) -> None:
        self._ring.append(RecentError(time.time(), request_id, route, status, code, message))

    def newest_first(self) -> list[RecentError]:
        return list(reversed(self._ring))
