"""`make bench` in miniature: bench/run.py end to end with tiny settings, in seconds.

nginx and wrk come from Debian, installed by `scripts/ensure-apt.sh` when missing; the test
is skipped, LOUDLY, only when they cannot be had. One run of one second per case, no
warm-up, a memory probe of 2000 sessions, results written to a temporary file
(BENCH_RESULTS) so that bench/results.json is left alone.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
ENSURE_APT = ROOT / "scripts" / "ensure-apt.sh"
CASES = (
    "upstream_direct",
    "nginx_proxy",
    "aiohttp_hello",
    "aiohttp_proxy_minimal",
    "gateway_checkin",
    "gateway_checkin_40_businesses",
    "gateway_balance_cached",
    "gateway_signin",
    "gateway_checkin_redis",
    "gateway_balance_cached_redis",
)
RATIOS = (
    "gateway_checkin_vs_nginx_proxy",
    "gateway_balance_cached_vs_nginx_proxy",
    "gateway_signin_vs_nginx_proxy",
    "gateway_balance_cached_vs_aiohttp_hello",
    "gateway_checkin_vs_aiohttp_proxy_minimal",
    "gateway_checkin_vs_aiohttp_hello",
    "gateway_checkin_redis_vs_gateway_checkin",
    "gateway_balance_cached_redis_vs_gateway_balance_cached",
)
TINY = {
    "BENCH_SECONDS": "1",
    "BENCH_RUNS": "1",
    "BENCH_WARMUP": "0",
    "BENCH_MEMORY_SESSIONS": "2000",
    "BENCH_MEMORY_SECONDS": "5",
}


@pytest.fixture(scope="module")
def nginx_and_wrk() -> None:
    done = subprocess.run(
        ["bash", str(ENSURE_APT), "nginx", "wrk"],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    if done.returncode != 0 or not shutil.which("nginx") or not shutil.which("wrk"):
        message = (
            "!!! SKIPPED: THE DEBIAN PACKAGES `nginx` AND `wrk` COULD NOT BE INSTALLED, SO "
            "`make bench` (bench/run.py) WAS NOT RUN !!! "
            f"scripts/ensure-apt.sh said: {(done.stderr or done.stdout).strip()[-1500:]}"
        )
        print(message, file=sys.__stderr__)
        pytest.skip(message)


@pytest.fixture(scope="module")
def results(nginx_and_wrk: None, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    path = tmp_path_factory.mktemp("bench") / "results.json"
    default = ROOT / "bench" / "results.json"
    untouched = default.stat().st_mtime_ns if default.exists() else None
    done = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "run.py")],
        env={**os.environ, **TINY, "BENCH_RESULTS": str(path)},
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, f"bench/run.py failed:\n{done.stdout}\n{done.stderr}"
    assert "GATEWAY_LOG_LEVEL=WARNING" in done.stdout  # the access log's absence is said
    for name in CASES:
        assert name in done.stdout  # the table
    assert (default.stat().st_mtime_ns if default.exists() else None) == untouched
    doc: dict[str, Any] = json.loads(path.read_text())
    return doc


def test_every_case_ran_with_positive_numbers(results: dict[str, Any]) -> None:
    for name in CASES:
        case = results["cases"][name]
        assert case["rps"] > 0, name
        assert 0 < case["p50_ms"] <= case["p99_ms"], name
        assert case["cpu_us_per_req"] > 0, name
        assert case["non_2xx"] == 0, name


def test_ratios_against_the_nginx_proxy(results: dict[str, Any]) -> None:
    for name in RATIOS:
        assert results["ratios"][name] > 0, name


def test_forty_businesses_beside_one(results: dict[str, Any]) -> None:
    """Issue 18: the check-in on a gateway of 40 businesses, for a brand chosen by its
    host, answered 2xx and is compared with the one-business check-in."""
    case = results["cases"]["gateway_checkin_40_businesses"]
    assert case["requests"] > 0
    assert case["non_2xx"] == 0
    paired = results["paired"]["gateway_checkin_40_businesses_vs_gateway_checkin"]
    assert paired["rps"] > 0
    assert paired["cpu_us_per_req"] > 0
    assert len(paired["rounds_rps"]) == len(case["runs_rps"])
    many = results["setup"]["gateway_40_businesses"]
    assert many["businesses"] == 40
    assert many["host"].startswith("brand-30.bench.test")
    assert many["wildcard_hosts"] > 0
    assert many["workers"] == results["setup"]["gateway"]["workers"]
    assert results["setup"]["gateway"]["businesses"] == 1


def test_overhead_at_light_load_from_the_gateway_histogram(results: dict[str, Any]) -> None:
    light = results["light_load"]
    assert light["overhead_p99_ms_light_load"] > 0
    assert light["rps"] > 0
    assert light["connections"] == 4


def test_memory_section(results: dict[str, Any]) -> None:
    memory = results["memory"]
    assert memory["sessions"] == 2000
    assert memory["sessions_created"] > 0
    assert memory["rss_mb_after"] > memory["rss_mb_before"] > 0
    assert memory["bytes_per_session"] > 0
    assert isinstance(memory["fits_under_150mb"], bool)
    assert memory["token_chars"]["id_token"] == 700


def test_setup_and_cleanup(results: dict[str, Any]) -> None:
    setup = results["setup"]
    assert setup["gateway"]["workers"] == int(os.environ.get("GATEWAY_WORKERS", "1"))
    assert setup["upstream"]["worker_processes"] >= 1
    assert setup["cleanup"]["stopped"][-7:] == [
        "upstream",
        "proxy",
        "hello",
        "proxy_minimal",
        "gateway",
        "gateway_redis",
        "gateway_40_businesses",
    ]
    assert setup["gateway_redis"]["workers"] == 2
    assert setup["gateway_redis"]["store"] == "redis"
    assert setup["cleanup"]["ports_free"] is True


def test_the_stage_table(results: dict[str, Any]) -> None:
    """µs per stage per request on the compiled plan: every stage of the two routes there."""
    stages = results["stages"]
    assert list(stages["checkin"]["stages_us"]) == [
        "front",
        "body",
        "session",
        "rate_limit",
        "idempotency",
        "cache_invalidate",
        "handler",
        "aiohttp_transport_loop",
    ]
    assert list(stages["balance_cached"]["stages_us"])[:5] == [
        "front",
        "body",
        "session",
        "rate_limit",
        "cache_read",
    ]
    for case in ("checkin", "balance_cached"):
        assert stages[case]["requests"] > 0
        assert stages[case]["cpu_us_per_req"] > 0


def test_the_targets_are_reported(results: dict[str, Any]) -> None:
    targets = results["targets"]
    assert {"balance_cached_vs_hello", "checkin_vs_proxy_minimal", "checkin_cpu_us"} <= set(targets)
    for name, target in targets.items():
        assert isinstance(target["met"], bool), name
        assert target["value"] is not None, name


def test_tracing_cost_off_and_on_at_one_percent(results: dict[str, Any]) -> None:
    """Issue 19, part 3: tracing off costs nothing measurable; on at 1%, under 10 µs."""
    cost = results["tracing"]
    for case in ("checkin", "balance_cached"):
        row = cost["through_gateway"][case]
        assert row["off_cpu_us_per_req"] > 0
        assert row["on_1pct_cpu_us_per_req"] > 0
    assert cost["direct"]["requests"] > 0
    assert results["targets"]["tracing_on_1pct_us_per_req"]["value"] is not None
    assert "tracing_off_us_per_req" in results["targets"]
