"""What the bench scripts (run.py, soak.py) share. They run as scripts (`python bench/x.py`),
so this module is imported by its plain name."""

from __future__ import annotations

import signal
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

from gateway.ratelimit.policies import BUILT_IN

UNREACHABLE_LIMIT, UNREACHABLE_WINDOW = 1_000_000, 1  # the largest limit config accepts, per 1 s


def unreachable_policies() -> list[str]:
    """TOML lines that put every built-in rate-limit policy out of reach: the limiter runs
    (its cost is measured), it never refuses."""
    lines: list[str] = []
    for policy in BUILT_IN:
        lines += [
            "",
            f"[rate_limit.policies.{policy.name}]",
            f"limit = {UNREACHABLE_LIMIT}",
            f"window = {UNREACHABLE_WINDOW}",
        ]
    return lines


@contextmanager
def terminable() -> Iterator[None]:
    """SIGTERM and SIGHUP unwind like Ctrl-C does, so that everything started is stopped."""

    def leave(signum: int, _frame: FrameType | None) -> None:
        raise SystemExit(128 + signum)

    old = {s: signal.signal(s, leave) for s in (signal.SIGTERM, signal.SIGHUP)}
    try:
        yield
    finally:
        for s, handler in old.items():
            signal.signal(s, handler)
