"""`make soak` in miniature: bench/soak.py end to end, 8 s of traffic with 4 clients.

A real sandbox and a real gateway are started by the script; faults are cycled through in
half-second phases (the timings scale with --duration), the check-ins are audited against
the sandbox's ledger and the gateway is stopped with SIGTERM. The JSON goes to a temporary
file, so that bench/soak.json is left alone.

Every fault, `mixed` included: there a check-in applied at Punchh whose connection
dropped is retried by the gateway and the retry is answered 429; the gateway must answer
that with outcome "unknown" (not Punchh's 429, which would read as not applied), and the
audit checks the ledger against every answer.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
SOAK = ROOT / "bench" / "soak.py"
FAULTS_HERE = "reset_after,latency,reset_before,status_500,status_503,status_429,mixed"


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], str, float]:
    path = tmp_path_factory.mktemp("soak") / "soak.json"
    default = ROOT / "bench" / "soak.json"
    untouched = default.stat().st_mtime_ns if default.exists() else None
    started = time.monotonic()
    done = subprocess.run(
        [
            sys.executable,
            str(SOAK),
            *("--duration", "8", "--concurrency", "4", "--out", str(path)),
            *("--faults", FAULTS_HERE),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    took = time.monotonic() - started
    assert done.returncode == 0, f"bench/soak.py failed:\n{done.stdout}\n{done.stderr}"
    assert (default.stat().st_mtime_ns if default.exists() else None) == untouched
    doc: dict[str, Any] = json.loads(path.read_text())
    return doc, done.stdout, took


def test_finishes_well_under_a_minute(run: tuple[dict[str, Any], str, float]) -> None:
    _, _, took = run
    assert took < 45


def test_report_is_printed(run: tuple[dict[str, Any], str, float]) -> None:
    _, stdout, _ = run
    for text in ("START", "gateway RSS (MB)", "open fds", "exactly-once: OK", "SIGTERM", "OK"):
        assert text in stdout, text


def test_memory_and_descriptors_at_start_and_end(run: tuple[dict[str, Any], str, float]) -> None:
    memory = run[0]["memory"]
    for moment in ("start", "end"):
        assert memory[moment]["rss_mb"] > 10, moment
        assert memory[moment]["fds"] > 3, moment
        assert memory[moment]["threads"] >= 1, moment
    growth = memory["growth"]
    assert growth["rss_mb"] == pytest.approx(memory["end"]["rss_mb"] - memory["start"]["rss_mb"])
    assert growth["fds"] == memory["end"]["fds"] - memory["start"]["fds"]
    assert isinstance(growth["rss_pct"], float)
    assert len(memory["timeline"]) >= 3  # START, samples along the way, END


def test_faults_were_switched_on_and_off(run: tuple[dict[str, Any], str, float]) -> None:
    faults = run[0]["faults"]
    names = [p["name"] for p in faults["phases"]]
    assert faults["fault_phases"] >= 4
    assert len(faults["kinds"]) >= 4
    assert set(faults["kinds"]) <= set(FAULTS_HERE.split(","))
    assert names[0] != "quiet"  # on, then off, in turn
    assert names[1] == "quiet"
    assert all(p["seconds"] > 0 for p in faults["phases"])
    assert sum(p["rules_set"] for p in faults["phases"]) >= faults["fault_phases"]


def test_traffic_errors_and_gateway_counters(run: tuple[dict[str, Any], str, float]) -> None:
    doc = run[0]
    requests = doc["requests"]
    assert requests["total"] > 100
    for op in ("balance", "user", "checkin"):
        assert requests["by_op"][op], op
    assert requests["errors_by_code"]  # the faults showed
    during = doc["gateway_metrics"]["during"]
    assert during["requests_total"] > 100
    assert during["requests_non_2xx"] > 0
    assert during["rate_limited"] == 0  # the soak's traffic is never refused by a policy
    assert doc["gateway_metrics"]["end"]["requests_total"] >= during["requests_total"]


def test_checkins_were_made_and_applied_exactly_once(
    run: tuple[dict[str, Any], str, float],
) -> None:
    doc = run[0]
    checkins, audit = doc["checkins"], doc["exactly_once"]
    assert checkins["made"] > 20
    assert checkins["applied"] > 0
    assert checkins["pending"] == 0
    assert checkins["applied"] + checkins["not_applied"] + checkins["unknown"] == checkins["made"]
    assert sum(checkins["repeats"].values()) > 0
    assert audit["ok"] is True, audit
    assert not any(audit["violations"].values())
    assert audit["ledger_checkins"] >= checkins["applied"]
    assert doc["verdict"]["exactly_once"] is True


def test_gateway_stopped_by_sigterm_with_exit_code_zero(
    run: tuple[dict[str, Any], str, float],
) -> None:
    doc = run[0]
    assert doc["shutdown"]["gateway"]["exit_code"] == 0
    assert doc["verdict"]["gateway_exit_code"] == 0
    assert doc["verdict"]["ok"] is True
