"""The pid file `serve` writes, so `loyalty-gateway reload` finds the process to signal.

With GATEWAY_WORKERS=N it holds the supervising parent's pid: the parent passes SIGHUP on
to every worker, and each reloads. Written at start, removed at exit (only while it
still holds this process's pid); a file that cannot be written is logged, not fatal:
`kill -HUP <pid>` still reloads.
"""

from __future__ import annotations

import contextlib
import logging
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

from gateway.config import GatewayConfig

log = logging.getLogger("gateway")


def pid_file_path(cfg: GatewayConfig) -> Path:
    """server.pid_file, or loyalty-gateway-<port>.pid in the temporary directory."""
    given = cfg.server.pid_file
    return Path(given or Path(tempfile.gettempdir()) / f"loyalty-gateway-{cfg.server.port}.pid")


@contextlib.contextmanager
def holding_pid_file(cfg: GatewayConfig) -> Iterator[None]:
    path, pid = pid_file_path(cfg), os.getpid()
    try:
        path.write_text(f"{pid}\n")
    except OSError as exc:
        log.warning(
            "pid file not written: loyalty-gateway reload will not find this process "
            "(kill -HUP %d reloads)",
            pid,
            extra={"pid_file": str(path), "reason": exc.strerror},
        )
    try:
        yield
    finally:
        with contextlib.suppress(OSError, ValueError):
            if int(path.read_text().strip()) == pid:
                path.unlink()


class NotRunning(Exception):
    """No gateway process to signal: the message says why, for the operator."""


def running_pid(cfg: GatewayConfig) -> int:
    """The pid in the pid file, if that process is alive."""
    path = pid_file_path(cfg)
    try:
        text = path.read_text().strip()
    except OSError as exc:
        raise NotRunning(
            f"no gateway pid file at {path} ({exc.strerror}): is the gateway running, "
            "with this server.pid_file (GATEWAY_PID_FILE) and server.port?"
        ) from None
    if not text.isdigit():
        raise NotRunning(f"{path} holds no process id")
    pid = int(text)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        raise NotRunning(f"{path} names process {pid}, which is not running") from None
    except PermissionError:
        raise NotRunning(f"process {pid} ({path}) is another user's") from None
    return pid
