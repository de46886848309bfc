"""What the upstream client reports a call's time to: the request's exchange
(gateway/exchange.py), passed explicitly, never through a context variable."""

from __future__ import annotations

from typing import Protocol


class Timing(Protocol):
    def upstream(self, seconds: float) -> None: ...
