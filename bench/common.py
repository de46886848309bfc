"""What the bench scripts (run.py, soak.py) share. They run as scripts (`python bench/x.py`),
so this module is imported by its plain name."""

from __future__ import annotations

import signal
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType

from gateway.config import GatewayConfig, load_config
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


def in_process_config(upstream: str, prefix: str) -> GatewayConfig:
    """The gateway measured in the bench's own process (stages.py, tracing.py): memory
    stores, every rate limit out of reach, warnings only in the log."""
    config = Path(tempfile.mkdtemp(prefix=prefix)) / "gateway.toml"
    config.write_text("\n".join(["[rate_limit]", *unreachable_policies()]) + "\n")
    env = {
        "PUNCHH_BASE_URL": upstream,
        "PUNCHH_CLIENT_ID": "bench-client",
        "PUNCHH_CLIENT_SECRET": "bench-client-secret-value",
        "GATEWAY_SESSION_SECRET": "bench-session-secret-" + "s" * 32,
        "GATEWAY_LOG_LEVEL": "WARNING",
    }
    return load_config(str(config), env)


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
