"""Per-request measurements shared across stages without threading them through every call:
a context variable set by the observing stage. Tasks started inside a request (a shared
token refresh) copy the context, so their upstream time is this request's too."""

from __future__ import annotations

from contextvars import ContextVar
from dataclasses import dataclass, field


@dataclass
class Timing:
    upstream_seconds: float = 0.0
    upstream_calls: int = 0
    notes: dict[str, str] = field(default_factory=dict)  # cache result, rate-limit decision

    def upstream(self, seconds: float) -> None:
        self.upstream_seconds += seconds
        self.upstream_calls += 1


current: ContextVar[Timing | None] = ContextVar("loyalty_gateway_timing", default=None)


def note(key: str, value: str) -> None:
    timing = current.get()
    if timing is not None:
        timing.notes[key] = value
