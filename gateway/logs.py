"""JSON log lines on stdout (twelve-factor: the log is an event stream the platform
collects; issue 20): message, level, logger, and the `extra` fields a caller gave.
stderr is left to the command line's own answers (check-config's problems, a port in use).

Callers pass only safe values (route templates, codes, ids); this module adds nothing
from requests by itself. The access log (`gateway.access`, one line per request) is
buffered: lines are formatted when logged and written together, at most FLUSH_SECONDS
later (the app flushes on that beat), when BUFFER_LINES are waiting, and at shutdown, so
a busy gateway makes one write for many requests instead of one each.
"""

from __future__ import annotations

import asyncio
import json
import logging
import sys
import time
from typing import TextIO

_STANDARD = set(vars(logging.makeLogRecord({}))) | {"message", "asctime", "taskName"}
ACCESS_LOGGER = "gateway.access"
FLUSH_SECONDS = 0.1
BUFFER_LINES = 512


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, object] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        line.update({k: v for k, v in vars(record).items() if k not in _STANDARD})
        if record.exc_info:
            line["exc"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str)


class BufferedHandler(logging.Handler):
    """Formats each record when it is logged; writes the waiting lines in one call."""

    def __init__(self, stream: TextIO) -> None:
        super().__init__()
        self.stream = stream
        self._lines: list[str] = []
        self.setFormatter(JsonFormatter())

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self._lines.append(self.format(record))
        except Exception:
            self.handleError(record)
            return
        if len(self._lines) >= BUFFER_LINES:
            self.flush()

    def flush(self) -> None:
        self.acquire()
        try:
            if self._lines:
                lines, self._lines = self._lines, []
                self.stream.write("\n".join(lines) + "\n")
                self.stream.flush()
        finally:
            self.release()


def configure_logging(level: str) -> None:
    """Every logger's lines, the sandbox's too, as JSON on stdout."""
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    access = logging.getLogger(ACCESS_LOGGER)
    access.handlers[:] = [BufferedHandler(sys.stdout)]
    access.propagate = False


def flush_access_log() -> None:
    for handler in logging.getLogger(ACCESS_LOGGER).handlers:
        handler.flush()


async def flush_access_log_every(seconds: float = FLUSH_SECONDS) -> None:
    """The beat that bounds how late an access-log line is written (a task of the app's)."""
    while True:
        await asyncio.sleep(seconds)
        flush_access_log()
