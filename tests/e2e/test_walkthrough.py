"""`make run`'s setup (config/gateway.dev.toml, embedded sandbox) serves the README walk-through."""

from __future__ import annotations

import asyncio
from pathlib import Path

from tests.support.process import gateway_process

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "walkthrough.sh"


async def _run_against_the_dev_setup(script: Path) -> str:
    """`script` run against a gateway process on `make run`'s configuration: its output."""
    env = {
        "GATEWAY_CONFIG": str(ROOT / "config" / "gateway.dev.toml"),
        "GATEWAY_SESSION_SECRET": "walkthrough-" + "w" * 32,
        "GATEWAY_SANDBOX_PORT": "0",
    }
    async with gateway_process(env) as gp:
        proc = await asyncio.create_subprocess_exec(
            "bash",
            str(script),
            env={"GATEWAY_URL": gp.url, "PATH": "/usr/bin:/bin"},
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        out, _ = await asyncio.wait_for(proc.communicate(), 60)
    text = out.decode()
    assert proc.returncode == 0, text
    return text


async def test_walkthrough_against_the_dev_setup() -> None:
    text = await _run_against_the_dev_setup(SCRIPT)
    assert "points earned: 42\npoints balance: 42\nlogout: 204\nbalance after logout: 401" in text


def test_readme_shows_the_walkthrough_verbatim() -> None:
    readme = (ROOT / "README.md").read_text()
    body = SCRIPT.read_text().split("set -euo pipefail\n", 1)[1]
    assert body.strip() in readme


TWO_BRANDS = ROOT / "scripts" / "two_brands.sh"


async def test_two_brands_against_the_dev_setup() -> None:
    """The README's multi-business example, on `make run`'s configuration: two brands in
    one gateway, brand B on brand-b.localhost."""
    text = await _run_against_the_dev_setup(TWO_BRANDS)
    assert (
        "brand A points: 0\nbrand B points: 18\nbrand A token at brand B: 401\n"
        "brand B points by header: 18"
    ) in text


def test_readme_shows_the_two_brands_verbatim() -> None:
    readme = (ROOT / "README.md").read_text()
    body = TWO_BRANDS.read_text().split("set -euo pipefail\n", 1)[1]
    assert body.strip() in readme
