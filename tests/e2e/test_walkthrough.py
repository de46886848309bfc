"""`make run`'s setup (config/gateway.dev.toml, embedded sandbox) serves the README walk-through."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from tests.support.process import GatewayProcess, free_port, gateway_process

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "walkthrough.sh"


@asynccontextmanager
async def _dev_gateway() -> AsyncIterator[GatewayProcess]:
    """A gateway process on `make run`'s configuration (its sandbox on a free port)."""
    env = {
        "GATEWAY_CONFIG": str(ROOT / "config" / "gateway.dev.toml"),
        "GATEWAY_SESSION_SECRET": "walkthrough-" + "w" * 32,
        "GATEWAY_SANDBOX_PORT": "0",
    }
    async with gateway_process(env) as gp:
        yield gp


async def _run(script: Path, url: str, **env: str) -> tuple[int, str]:
    """`script` run against the gateway at `url`: its exit status, stdout and stderr."""
    proc = await asyncio.create_subprocess_exec(
        "bash",
        str(script),
        env={"GATEWAY_URL": url, "PATH": "/usr/bin:/bin", **env},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode is not None
    return proc.returncode, out.decode()


async def _run_against_the_dev_setup(script: Path) -> str:
    """`script` run against a gateway process on `make run`'s configuration: its output."""
    async with _dev_gateway() as gp:
        code, text = await _run(script, gp.url)
    assert code == 0, text
    return text


WALKED = "points earned: 42\npoints balance: 42\nlogout: 204\nbalance after logout: 401"


async def test_walkthrough_against_the_dev_setup_twice() -> None:
    """Issue 20, finding 2: each run signs up a guest of its own, so a second run against
    the same gateway walks through as the first did."""
    async with _dev_gateway() as gp:
        for _ in range(2):
            code, text = await _run(SCRIPT, gp.url)
            assert code == 0, text
            assert WALKED in text


async def test_walkthrough_failures_are_one_readable_line() -> None:
    """An email already taken (WALKTHROUGH_EMAIL twice), or no gateway at GATEWAY_URL: one
    line saying so, exit status 1, no Python traceback."""
    async with _dev_gateway() as gp:
        code, text = await _run(SCRIPT, gp.url, WALKTHROUGH_EMAIL="twice@example.com")
        assert code == 0, text
        code, text = await _run(SCRIPT, gp.url, WALKTHROUGH_EMAIL="twice@example.com")
    assert code == 1, text
    (line,) = [line for line in text.splitlines() if line.startswith("walkthrough: ")]
    assert line.startswith("walkthrough: POST /api/auth/customers.json answered 422: {"), text
    assert "Traceback" not in text
    nowhere = f"http://127.0.0.1:{free_port()}"
    code, text = await _run(SCRIPT, nowhere)
    assert code == 1, text
    assert f"walkthrough: no answer from {nowhere}: is the gateway running (make run)?" in text
    assert "Traceback" not in text


def test_readme_shows_the_walkthrough_verbatim() -> None:
    readme = (ROOT / "README.md").read_text()
    body = SCRIPT.read_text().split("set -euo pipefail\n", 1)[1]
    assert body.strip() in readme


TWO_BRANDS = ROOT / "scripts" / "two_brands.sh"


async def test_two_brands_against_the_dev_setup() -> None:
    """The guide's multi-business example, on `make run`'s configuration: two brands in
    one gateway, brand B on brand-b.localhost."""
    text = await _run_against_the_dev_setup(TWO_BRANDS)
    assert (
        "brand A points: 0\nbrand B points: 18\nbrand A token at brand B: 401\n"
        "brand B points by header: 18"
    ) in text


def test_the_guide_shows_the_two_brands_verbatim() -> None:
    """The example moved from the README to the guide's "Many businesses" (issue 20)."""
    guide = (ROOT / "docs" / "guide.md").read_text()
    body = TWO_BRANDS.read_text().split("set -euo pipefail\n", 1)[1]
    assert body.strip() in guide
