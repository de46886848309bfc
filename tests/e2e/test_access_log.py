"""The access log: one JSON line per request, written in batches, never lost at shutdown."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import time

import aiohttp

from gateway.logs import BUFFER_LINES, BufferedHandler
from tests.conftest import gateway_env
from tests.support.process import gateway_process
from tests.support.recorder import Recorder


def _record(n: int) -> logging.LogRecord:
    return logging.makeLogRecord({"name": "gateway.access", "msg": "request", "n": n})


def test_lines_wait_for_a_flush_or_a_full_buffer() -> None:
    stream = io.StringIO()
    handler = BufferedHandler(stream)
    for n in range(3):
        handler.handle(_record(n))
    assert stream.getvalue() == ""  # formatted, not yet written
    handler.flush()
    assert [json.loads(line)["n"] for line in stream.getvalue().splitlines()] == [0, 1, 2]
    for n in range(BUFFER_LINES):
        handler.handle(_record(n))
    assert len(stream.getvalue().splitlines()) == 3 + BUFFER_LINES  # a full buffer writes


async def test_a_running_gateway_writes_its_lines_within_the_beat(recorder: Recorder) -> None:
    """Lines reach stdout while the process runs (the 100 ms beat), and the last ones at
    SIGTERM."""
    async with (
        gateway_process(gateway_env(recorder.url)) as gp,
        aiohttp.ClientSession(gp.url) as http,
    ):
        async with http.get("/healthz") as resp:
            assert resp.status == 200
        asked = time.monotonic()
        seen = False
        while not seen and time.monotonic() - asked < 2.0:
            seen = any('"route": "GET /healthz"' in line for line in gp.logs().splitlines())
            if not seen:
                await asyncio.sleep(0.02)
        assert seen, gp.logs()[-2000:]
        took = time.monotonic() - asked
        async with http.get("/healthz") as resp:
            assert resp.status == 200
    assert took < 1.0
    lines = [json.loads(line) for line in gp.logs().splitlines()]
    healthz = [r for r in lines if r.get("msg") == "request" and r["route"] == "GET /healthz"]
    assert len(healthz) == 2  # the second, written at shutdown
