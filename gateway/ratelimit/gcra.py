"""GCRA, the generic cell rate algorithm (ITU-T I.371; as in Brandur Leach's `throttled`):
a token bucket without a refill timer and without boundary bursts.

A policy of `limit` per `window` seconds emits one unit every T = window / limit. The
state is one number, the theoretical arrival time (TAT). A request at `now` is allowed
iff max(TAT, now) + T - now <= window, i.e. at most `limit` at once, then one per T.
Pure: the state, the time and the policy in; the decision and the new state out.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

EPSILON = 1e-9


@dataclass(frozen=True, slots=True)
class Rate:
    limit: int
    window: float

    @property
    def interval(self) -> float:
        return self.window / self.limit


@dataclass(frozen=True, slots=True)
class Decision:
    allowed: bool
    tat: float | None  # the new state (None: unchanged)
    remaining: int  # requests still allowed right now
    retry_after: float  # seconds until the next request would be allowed (0 when allowed)
    reset_after: float  # seconds until the full quota is back


def gcra(tat: float | None, now: float, rate: Rate, *, take: bool = True) -> Decision:
    """`take=False` asks without consuming (a peek: failure-counted policies check first
    and take only when Punchh says the attempt failed)."""
    start = max(tat if tat is not None else now, now)
    new_tat = start + rate.interval
    if new_tat - now > rate.window + EPSILON:
        retry = new_tat - now - rate.window
        return Decision(False, None, 0, retry, start - now)
    remaining = math.floor((rate.window - (new_tat - now)) / rate.interval + EPSILON)
    if not take:
        return Decision(True, None, remaining + 1, 0.0, start - now)
    return Decision(True, new_tat, remaining, 0.0, new_tat - now)
