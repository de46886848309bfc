"""The pid file `serve` writes, so `loyalty-gateway reload` finds the process to signal.

With GATEWAY_WORKERS=N it holds the supervising parent's pid: the parent passes SIGHUP on
to every worker, and each reloads. The file is held under an exclusive lock (flock) for
the life of the process, so that:

- a second gateway started with the same pid file (`make run` typed twice) leaves the
  first one's alone: it says so, and its own start goes on (and fails on the port);
- `reload` trusts the pid only while a process holds the lock: a file left by a killed
  gateway, or written by anyone else, is refused, never signalled;
- it is opened without following a symbolic link (a link planted in a shared /tmp
  truncates nothing), and `reload` signals only a process whose command line is the
  gateway's.

A file that cannot be written is logged, not fatal: `kill -HUP <pid>` still reloads.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import logging
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

from gateway.config import GatewayConfig

log = logging.getLogger("gateway")
_FLAGS = os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC


def pid_file_path(cfg: GatewayConfig) -> Path:
    """server.pid_file, or loyalty-gateway-<port>.pid in the temporary directory."""
    given = cfg.server.pid_file
    return Path(given or Path(tempfile.gettempdir()) / f"loyalty-gateway-{cfg.server.port}.pid")


@contextlib.contextmanager
def holding_pid_file(cfg: GatewayConfig) -> Iterator[None]:
    """This process's pid in the file, under its lock, until the block ends."""
    path, pid = pid_file_path(cfg), os.getpid()
    fd = _locked(path, pid)
    try:
        yield
    finally:
        if fd is not None:
            with contextlib.suppress(OSError):
                path.unlink()  # ours: we hold its lock
            os.close(fd)


def _locked(path: Path, pid: int) -> int | None:
    """The file opened, locked and holding `pid`; None (and one line) when it cannot be."""
    try:
        fd = os.open(path, _FLAGS, 0o644)
    except OSError as exc:
        _not_written(path, pid, exc.strerror or str(exc))
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
        os.close(fd)
        held = exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN)
        _not_written(path, pid, "another gateway holds it" if held else str(exc))
        return None
    os.ftruncate(fd, 0)
    os.write(fd, f"{pid}\n".encode())
    return fd


def _not_written(path: Path, pid: int, reason: str) -> None:
    log.warning(
        "pid file not written: loyalty-gateway reload will not find this process "
        "(kill -HUP %d reloads)",
        pid,
        extra={"pid_file": str(path), "reason": reason},
    )


class NotRunning(Exception):
    """No gateway process to signal: the message says why, for the operator."""


def running_pid(cfg: GatewayConfig) -> int:
    """The pid in the pid file, if a gateway process holds its lock."""
    path = pid_file_path(cfg)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError as exc:
        raise NotRunning(
            f"no gateway pid file at {path} ({exc.strerror}): is the gateway running, "
            "with this server.pid_file (GATEWAY_PID_FILE) and server.port?"
        ) from None
    try:
        if _unlocked(fd):
            raise NotRunning(f"{path} is held by no running gateway (left by one that died?)")
        text = os.read(fd, 32).decode("ascii", "replace").strip()
    finally:
        os.close(fd)
    if not text.isdigit():
        raise NotRunning(f"{path} holds no process id")
    pid = int(text)
    if not _is_gateway(pid):
        raise NotRunning(f"process {pid} ({path}) is not a loyalty-gateway")
    return pid


def _unlocked(fd: int) -> bool:
    """Whether no process holds the file's exclusive lock (a shared one is then ours)."""
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except OSError as exc:
        if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN):
            return False
        raise
    fcntl.flock(fd, fcntl.LOCK_UN)
    return True


def _is_gateway(pid: int) -> bool:
    """Its command line runs the gateway (`loyalty-gateway serve`, `python -m gateway`)."""
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    return any(part.endswith(b"loyalty-gateway") for part in argv) or b"gateway" in argv
