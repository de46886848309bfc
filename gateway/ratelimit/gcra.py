"""GCRA, the generic cell rate algorithm (ITU-T I.371; as in Brandur Leach's `throttled`):
a token bucket without a refill timer and without boundary bursts.

A policy of `limit` per `window` seconds emits one unit every T = window / limit. The
state is one number, the theoretical arrival time (TAT). A request at `now` is allowed
iff max(TAT, now) + T - now <= window, i.e. at most `limit` at once, then one per T.
Arithmetic is in whole microseconds: floats near today's epoch (about 2e-7 s apart)
would drift by a request over a few hundred steps. T is rounded down to a microsecond,
so a burst gets exactly `limit`. Pure: the state, the time and the rate in; the
decision and the new state out.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

US = 1_000_000


@dataclass(frozen=True, slots=True)
class Rate:
    limit: int
    window: float
    window_us: int = field(init=False, repr=False, compare=False)  # computed once
    interval_us: int = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        window_us = round(self.window * US)
        object.__setattr__(self, "window_us", window_us)
        object.__setattr__(self, "interval_us", max(1, window_us // max(1, self.limit)))


@dataclass(slots=True)  # not frozen: two are made per request, and a frozen one costs 4x
class Decision:
    allowed: bool
    tat: int | None  # the new state in microseconds (None: unchanged)
    remaining: int  # requests still allowed right now
    retry_after: float  # seconds until the next request would be allowed (0 when allowed)
    reset_after: float  # seconds until the full quota is back


def gcra(tat: int | None, now: float, rate: Rate, *, take: bool = True) -> Decision:
    """`take=False` asks without consuming."""
    now_us = round(now * US)
    interval, window = rate.interval_us, rate.window_us
    start = max(tat if tat is not None else now_us, now_us)
    new_tat = start + interval
    if new_tat - now_us > window:
        return Decision(False, None, 0, (new_tat - now_us - window) / US, (start - now_us) / US)
    remaining = (window - (new_tat - now_us)) // interval
    if not take:
        return Decision(True, None, remaining + 1, 0.0, (start - now_us) / US)
    return Decision(True, new_tat, remaining, 0.0, (new_tat - now_us) / US)


def give_back(tat: int | None, now: float, rate: Rate) -> int | None:
    """Return one unit taken earlier (an attempt that turned out not to count)."""
    if tat is None:
        return None
    back = tat - rate.interval_us
    return back if back > round(now * US) else None


def seconds(value: float) -> int:
    """Whole seconds for a header, never 0 for a positive wait."""
    return max(0, math.ceil(value - 1e-9))
