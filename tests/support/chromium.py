"""Headless Chromium for the tests that need a real browser: found, or installed from Debian
(`chromium`), or the test skipped LOUDLY saying what was not checked.

`run_chromium` is one run to completion (`--dump-dom`, `--screenshot`); `devtools` keeps one
open with the DevTools protocol on a loopback port, for driving a page (tests/support/cdp.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import shutil
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
ENSURE_APT = ROOT / "scripts" / "ensure-apt.sh"
CHROMIUM_TIMEOUT = 25.0
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--hide-scrollbars",
)
DEVTOOLS_LINE = re.compile(rb"DevTools listening on (ws://\S+)")


def install_chromium() -> str:
    """Why Chromium could not be installed ("" when it now is)."""
    if ENSURE_APT.exists():
        steps = [["bash", str(ENSURE_APT), "chromium"]]
    elif shutil.which("apt-get") is None:
        return "apt-get is not available"
    else:
        apt = ["apt-get", "-o", "DPkg::Lock::Timeout=300"]
        steps = [[*apt, "update", "-qq"], [*apt, "install", "-y", "-qq", "chromium"]]
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for step in steps:
        try:
            done = subprocess.run(
                step, capture_output=True, text=True, timeout=900, env=env, check=False
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            return f"{' '.join(step)}: {exc}"
        if done.returncode != 0:
            return f"{' '.join(step)} failed:\n{(done.stderr or done.stdout)[-2000:]}"
    return ""


def find_chromium(unchecked: str) -> str:
    """The Chromium binary; installed from Debian when missing. When that is impossible the
    test is skipped, loudly: `unchecked` says what was therefore NOT checked."""
    found = shutil.which("chromium")
    if found is None:
        why = install_chromium()
        found = shutil.which("chromium")
        if found is None:
            pytest.skip(
                "!!! SKIPPED: the Debian package `chromium` could not be had, so "
                f"{unchecked} !!!\n{why or 'chromium is still not on PATH'}"
            )
    return found


async def run_chromium(binary: str, profile: Path, *args: str) -> bytes:
    """One headless Chromium run with a throwaway profile; its stdout."""
    proc = await asyncio.create_subprocess_exec(
        binary,
        *CHROMIUM_FLAGS,
        f"--user-data-dir={profile}",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        out, err = await asyncio.wait_for(proc.communicate(), CHROMIUM_TIMEOUT)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        raise
    assert proc.returncode == 0, f"chromium exited {proc.returncode}: {err.decode()[-2000:]}"
    return out


@contextlib.asynccontextmanager
async def devtools(binary: str, profile: Path) -> AsyncIterator[str]:
    """A headless Chromium with one blank page and the DevTools protocol on a loopback port
    it picks: the browser's websocket URL (ws://127.0.0.1:<port>/devtools/browser/<id>).
    No proxy: every test server is on this machine. Killed on the way out."""
    proc = await asyncio.create_subprocess_exec(
        binary,
        *CHROMIUM_FLAGS,
        f"--user-data-dir={profile}",
        "--remote-debugging-address=127.0.0.1",
        "--remote-debugging-port=0",
        "--no-proxy-server",
        "about:blank",
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    assert proc.stderr is not None
    said = bytearray()
    try:
        async with asyncio.timeout(CHROMIUM_TIMEOUT):
            while (found := DEVTOOLS_LINE.search(said)) is None:
                line = await proc.stderr.readline()
                assert line, f"chromium exited before DevTools listened: {said.decode()[-2000:]}"
                said += line
        # Chromium keeps writing to stderr: read it all, so it never blocks on a full pipe.
        drain = asyncio.create_task(proc.stderr.read())
        try:
            yield found.group(1).decode()
        finally:
            drain.cancel()
    finally:
        if proc.returncode is None:
            proc.kill()
        await proc.wait()
