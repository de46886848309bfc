"""The Grafana dashboard and the Prometheus alert rules against a real Prometheus.

Prometheus (and promtool) come from Debian (`prometheus`), installed by
`scripts/ensure-apt.sh` when missing. The tests are skipped, LOUDLY, only when that package
cannot be had.

The main test starts two real gateway processes (`python -m gateway`, each with its
embedded sandbox on a port chosen here so that its `/__sandbox/` knobs can be reached):

- `main`: default configuration. Sign-ups, online-order check-ins, cached balance and
  profile reads (hits, misses, bypasses), a 404 route, a 401, a wrong password (Punchh's
  401), Punchh 500s, a connection reset and a timeout (sandbox faults), an OTP sign-in
  and its token refreshes (success; failed on a Punchh 500; rejected on a Punchh 401), a
  burst of sign-ups that the `sign_up_ip` policy refuses (429).
- `degraded`: its cache and rate-limit stores point at a Redis address where nothing
  listens, so store errors are counted (`cache`, `rate_limit`) while requests still go
  through (fail open). Its retry budget is zero (a failed read is not retried: refused
  by the budget) and two failures in a row open a circuit breaker (the mobile family's).

A real Prometheus scrapes both every second with the shipped scrape configuration (only
the intervals and the targets changed) and the shipped alert rules. Then every PromQL
expression of the dashboard and of the alert rules is run through its HTTP API and must
succeed with data. The dashboard's queries run three times: with every variable at "All";
with the business `default` chosen (both gateways serve only it: the same data); and with a
business nobody has (every query that filters by business must then show nothing).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import AsyncExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.conftest import CLIENT_ID, CLIENT_SECRET, SESSION_SECRET
from tests.support.process import GatewayProcess, free_port, gateway_process

ROOT = Path(__file__).resolve().parents[2]
GRAFANA = ROOT / "grafana"
DASHBOARD = GRAFANA / "dashboards" / "loyalty-gateway.json"
ALERTS = GRAFANA / "alerts.yml"
SCRAPE_CONFIG = GRAFANA / "prometheus.yml"
README = GRAFANA / "README.md"
ENSURE_APT = ROOT / "scripts" / "ensure-apt.sh"

# What Grafana's own variables stand for when a query is run here: with a 1 s scrape
# interval, a 15 s window holds about 15 samples of every series.
WINDOW = "15s"
GRAFANA_BUILTINS = {"__rate_interval": WINDOW, "__interval": WINDOW, "__range": WINDOW}
# A threshold comparison: `> 0.05`, `== 0`, ... (label matchers such as `status=~"5.."`
# or `!="x"` never have a bare number on their right).
THRESHOLD = re.compile(r"\s*(?:[<>]=?|[!=]=)\s*(?:bool\s+)?\d[\d.]*(?:e[+-]?\d+)?")

# Panels whose value may rightly be 0 at the end of the test, and why.
MAY_BE_ZERO = {
    # The gateway counts sessions when /metrics is read, at most every 15 s: the count
    # made at the first scrape (before any sign-in) still stands.
    "Active sessions": "counted at most every 15 s",
}

# The metrics labelled with the business (issue 18): every dashboard query of them filters
# by the Business variable, and no query of another metric does (it would match nothing
# once a business is chosen). The main test checks this list against a gateway's /metrics.
BUSINESS_LABELLED = frozenset(
    {
        "loyalty_gateway_requests_total",
        "loyalty_gateway_request_duration_seconds",
        "loyalty_gateway_overhead_seconds",
        "loyalty_gateway_upstream_duration_seconds",
        "loyalty_gateway_upstream_errors_total",
        "loyalty_gateway_upstream_retries_total",
        "loyalty_gateway_upstream_retries_refused_total",
        "loyalty_gateway_circuit_state",
        "loyalty_gateway_circuit_transitions_total",
        "loyalty_gateway_rate_limited_total",
    }
)
BY_BUSINESS = 'business=~"$business"'
# A series selector in a query: its metric name and its label matchers.
SELECTOR = re.compile(r"\b(loyalty_gateway_\w+)\{([^}]*)\}")
HISTOGRAM_SERIES = re.compile(r"_(?:bucket|sum|count)$")
NO_SUCH_BUSINESS = "no-such-business"

BALANCE = "/api/auth/checkins/balance"
PASSWORD = "correct-horse-9"


# ----------------------------------------------------------------------- prometheus


@dataclass(frozen=True)
class Tools:
    prometheus: str
    promtool: str


@pytest.fixture(scope="module")
def tools() -> Tools:
    done = subprocess.run(
        ["bash", str(ENSURE_APT), "prometheus:prometheus,promtool"],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    prometheus, promtool = shutil.which("prometheus"), shutil.which("promtool")
    if done.returncode != 0 or prometheus is None or promtool is None:
        pytest.skip(
            "!!! SKIPPED: THE DEBIAN PACKAGE `prometheus` COULD NOT BE INSTALLED, SO THE "
            "DASHBOARD AND ALERT RULES WERE NOT CHECKED AGAINST A REAL PROMETHEUS !!! "
            f"scripts/ensure-apt.sh said: {(done.stderr or done.stdout).strip()[-1500:]}"
        )
    return Tools(prometheus, promtool)


def _promtool(tools: Tools, *args: str) -> None:
    done = subprocess.run(
        [tools.promtool, *args], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, f"promtool {' '.join(args)}:\n{done.stdout}\n{done.stderr}"


def _copy_config(into: Path, *, targets: list[str] | None = None) -> Path:
    """The shipped scrape config and rules in `into`; with targets: 1 s intervals, those targets."""
    text = SCRAPE_CONFIG.read_text()
    if targets is not None:
        fast = {
            "scrape_interval: 15s": "scrape_interval: 1s",
            "evaluation_interval: 15s": "evaluation_interval: 1s",
            "          - 127.0.0.1:9091\n": "".join(f"          - {t}\n" for t in targets),
        }
        for old, new in fast.items():
            assert old in text, f"grafana/prometheus.yml no longer has {old!r}"
            text = text.replace(old, new)
    shutil.copy(ALERTS, into / "alerts.yml")
    path = into / "prometheus.yml"
    path.write_text(text)
    return path


@dataclass
class Prometheus:
    url: str
    proc: subprocess.Popen[bytes]
    log: Path

    def tail(self) -> str:
        return self.log.read_text()[-3000:]

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


@contextmanager
def prometheus_server(tools: Tools, workdir: Path, targets: list[str]) -> Iterator[Prometheus]:
    """A real Prometheus on 127.0.0.1 (a free port), data and log in workdir."""
    config = _copy_config(workdir, targets=targets)
    port = free_port()
    log = workdir / "prometheus.log"
    with log.open("wb") as sink:
        proc = subprocess.Popen(
            [
                tools.prometheus,
                f"--config.file={config}",
                f"--storage.tsdb.path={workdir / 'data'}",
                f"--web.listen-address=127.0.0.1:{port}",
            ],
            stdout=sink,
            stderr=subprocess.STDOUT,
            cwd=workdir,
        )
    prom = Prometheus(f"http://127.0.0.1:{port}", proc, log)
    try:
        yield prom
    finally:
        prom.stop()


async def _wait_for(
    what: str, check: Callable[[], Awaitable[bool]], limit: float, prom: Prometheus
) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + limit
    while loop.time() < deadline:
        if await check():
            return
        await asyncio.sleep(0.2)
    raise AssertionError(f"{what}: not within {limit} s\nprometheus log:\n{prom.tail()}")


async def _api(http: aiohttp.ClientSession, prom: Prometheus, path: str, **params: str) -> Any:
    async with http.get(f"{prom.url}/api/v1/{path}", params=params) as resp:
        body = await resp.json()
    assert body.get("status") == "success", f"{path} {params}: {body}"
    return body["data"]


async def _query(http: aiohttp.ClientSession, prom: Prometheus, expr: str) -> list[Any]:
    data = await _api(http, prom, "query", query=expr)
    assert data["resultType"] == "vector", f"{expr}: {data['resultType']}"
    result = data["result"]
    assert isinstance(result, list)
    return result


# ----------------------------------------------------------------------- the files


def _dashboard() -> dict[str, Any]:
    dashboard = json.loads(DASHBOARD.read_text())
    assert isinstance(dashboard, dict)
    return dashboard


def _panels(dashboard: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for panel in dashboard["panels"]:
        yield panel
        yield from panel.get("panels", [])  # a collapsed row keeps its panels inside


def _raw_exprs() -> list[tuple[str, str]]:
    """(panel title, expr) for every query of the dashboard, as written."""
    return [
        (panel["title"], target["expr"])
        for panel in _panels(_dashboard())
        for target in panel.get("targets", [])
    ]


def dashboard_exprs(**chosen: str) -> list[tuple[str, str]]:
    """(panel title, expr) for every query of the dashboard, variables substituted: each
    query variable by its "All" value, or by the value `chosen` for it; Grafana's intervals
    by WINDOW."""
    dashboard = _dashboard()
    values = dict(GRAFANA_BUILTINS)
    for var in dashboard["templating"]["list"]:
        if var["type"] == "query":
            values[var["name"]] = var["allValue"]
    assert set(chosen) <= set(values), f"no such variables: {set(chosen) - set(values)}"
    values.update(chosen)
    names = sorted(values, key=len, reverse=True)  # $__rate_interval before $__range
    pattern = re.compile(r"\$\{(" + "|".join(names) + r")\}|\$(" + "|".join(names) + r")\b")
    out = []
    for title, raw in _raw_exprs():
        expr = pattern.sub(lambda m: values[m.group(1) or m.group(2)], raw)
        assert "$" not in expr, f"{title}: unknown variable in {expr}"
        out.append((title, expr))
    return out


def _metric_name(series: str) -> str:
    """A histogram's series (`…_bucket`, `…_sum`, `…_count`) as the histogram's name."""
    name = HISTOGRAM_SERIES.sub("", series)
    return name if name in BUSINESS_LABELLED else series


def alert_exprs(rules: list[dict[str, Any]]) -> list[tuple[str, str]]:
    return [(r["name"], r["query"]) for r in rules]


def without_thresholds(expr: str) -> str:
    """The alert's measured side: an alert is (rightly) empty while nothing is wrong, so
    the test runs it without its threshold comparisons (`A / B > 0.05 and C > 0.2`
    becomes `A / B and C`): non-empty once the metrics it reads have data."""
    stripped = THRESHOLD.sub("", expr)
    assert stripped != expr, f"no threshold found in {expr}"
    return stripped


def _positive(result: list[Any]) -> bool:
    return any(float(r["value"][1]) > 0 for r in result)  # NaN is not


def test_dashboard_is_well_formed() -> None:
    dashboard = _dashboard()
    assert dashboard["uid"] == "loyalty-gateway"
    assert 36 <= dashboard["schemaVersion"] <= 41
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    assert variables["DS_PROMETHEUS"]["type"] == "datasource"
    assert variables["DS_PROMETHEUS"]["current"]["value"] == "prometheus"  # provisioned uid
    assert (
        variables["route"]["query"]["query"]
        == "label_values(loyalty_gateway_requests_total, route)"
    )
    ids = [p["id"] for p in _panels(dashboard)]
    assert len(ids) == len(set(ids)), "panel ids must be unique"
    for panel in _panels(dashboard):
        if panel["type"] == "row":
            continue
        assert panel["datasource"] == {"type": "prometheus", "uid": "${DS_PROMETHEUS}"}
        assert panel["targets"], panel["title"]
        assert panel.get("description"), f"{panel['title']}: say what it shows"
        for target in panel["targets"]:
            assert target["datasource"] == panel["datasource"]
            assert "loyalty_gateway_" in target["expr"]
    assert len(dashboard_exprs()) >= 20


def test_the_business_variable_keeps_the_unlabelled_series_under_all() -> None:
    variables = {v["name"]: v for v in _dashboard()["templating"]["list"]}
    business = variables["business"]
    assert business["type"] == "query"
    assert business["datasource"] == {"type": "prometheus", "uid": "${DS_PROMETHEUS}"}
    expected = "label_values(loyalty_gateway_requests_total, business)"
    assert business["query"]["query"] == business["definition"] == expected
    assert business["multi"] is True
    assert business["includeAll"] is True
    assert business["current"]["value"] == ["$__all"]
    # Grafana's own "All" would be (default|brand-b): the gateway's own routes and hosts no
    # business claims (business="") would drop out of every total.
    assert business["allValue"] == ".*"
    names = [v["name"] for v in _dashboard()["templating"]["list"]]
    assert names.index("instance") < names.index("business") < names.index("route")


def test_every_query_of_a_business_metric_filters_by_business() -> None:
    seen: set[str] = set()
    wrong = []
    for title, expr in _raw_exprs():
        for series, matchers in SELECTOR.findall(expr):
            name = _metric_name(series)
            labelled = name in BUSINESS_LABELLED
            seen.add(name)
            if labelled != (BY_BUSINESS in matchers.split(",")):
                wrong.append(f"{title}: {series}{{{matchers}}}")
            assert 'instance=~"$instance"' in matchers, f"{title}: {series}{{{matchers}}}"
    assert not wrong, (
        f"a query of a business-labelled metric must have {BY_BUSINESS}, and a query of any "
        "other metric must not (it would match nothing once a business is chosen):\n"
        + "\n".join(wrong)
    )
    # The dashboard reads these; the circuit transitions it does not (the state is plotted).
    assert BUSINESS_LABELLED - seen == {"loyalty_gateway_circuit_transitions_total"}
    titles = [title for title, expr in _raw_exprs() if "sum by (business)" in expr]
    assert titles == ["Requests/s by business"]


def test_every_alert_has_a_runbook_in_the_readme() -> None:
    rules = ALERTS.read_text()
    names = re.findall(r"^\s*- alert: (\S+)$", rules, re.MULTILINE)
    runbooks = re.findall(r'^\s*runbook: "grafana/README\.md#(\S+)"$', rules, re.MULTILINE)
    assert names
    assert runbooks == [f"runbook-{n.lower()}" for n in names]
    readme = README.read_text()
    for anchor in runbooks:
        assert f'<a id="{anchor}"></a>' in readme, f"grafana/README.md has no runbook {anchor}"


def test_promtool_accepts_the_rules_and_the_scrape_config(tools: Tools, tmp_path: Path) -> None:
    _promtool(tools, "check", "rules", str(ALERTS))
    _promtool(tools, "check", "config", str(_copy_config(tmp_path)))  # finds alerts.yml beside it


# ----------------------------------------------------------------------- traffic


def _gateway_env(sandbox_port: int, admin_port: int, **extra: str) -> dict[str, str]:
    """Prometheus scrapes the admin port, as in production (no token needed there)."""
    return {
        "GATEWAY_ADMIN_PORT": str(admin_port),
        "GATEWAY_SANDBOX": "1",
        "GATEWAY_SANDBOX_PORT": str(sandbox_port),
        "PUNCHH_CLIENT_ID": CLIENT_ID,
        "PUNCHH_CLIENT_SECRET": CLIENT_SECRET,
        "GATEWAY_SESSION_SECRET": SESSION_SECRET,
        "GATEWAY_LOG_LEVEL": "WARNING",
        "GATEWAY_BODY_TIMEOUT": "120",  # _slow_upload holds a request in flight meanwhile
        "PUNCHH_CONNECT_TIMEOUT": "0.5",
        "PUNCHH_TOTAL_TIMEOUT": "0.5",
        **extra,
    }


@dataclass
class Site:
    gw: GatewayProcess
    sandbox: str
    http: aiohttp.ClientSession
    admin: str

    async def call(
        self,
        method: str,
        path: str,
        body: object = None,
        token: str | None = None,
        **headers: str,
    ) -> tuple[int, Any]:
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        async with self.http.request(
            method, self.gw.url + path, json=body, headers=headers
        ) as resp:
            raw = await resp.read()
            return resp.status, json.loads(raw) if raw.strip() else None

    async def fault(self, rule: dict[str, object]) -> None:
        async with self.http.post(f"{self.sandbox}/__sandbox/faults", json=rule) as resp:
            assert resp.status == 201, await resp.text()

    async def otp(self, email: str) -> str:
        async with self.http.get(f"{self.sandbox}/__sandbox/otp", params={"email": email}) as resp:
            assert resp.status == 200, await resp.text()
            return str((await resp.json())["otp"])

    async def sign_up(self, email: str) -> tuple[int, str]:
        user = {"email": email, "password": PASSWORD, "first_name": "Ada", "last_name": "L"}
        status, body = await self.call("POST", "/api/auth/customers.json", {"user": user})
        return status, str(body.get("access_token", "")) if isinstance(body, dict) else ""

    async def check_in(self, token: str, n: int, **headers: str) -> int:
        order = {
            "external_uid": f"order-{n}",
            "receipt_amount": 42.5,
            "subtotal_amount": 42.5,
            "payable": 46.02,
            "receipt_datetime": "2026-11-21T12:30:00Z",
            "transaction_no": str(n),
            "channel": "online_order",
            "menu_items": [
                {
                    "item_name": "Burrito",
                    "item_qty": 1,
                    "item_amount": 42.5,
                    "menu_item_type": "M",
                    "menu_item_id": 1,
                    "menu_family": "Mains",
                    "menu_major_group": "Food",
                    "serial_number": "1.0",
                }
            ],
        }
        if "Idempotency-Key" in headers:
            del order["external_uid"]  # the key becomes it
        path = "/api/auth/checkins/online_order"
        return (await self.call("POST", path, order, token, **headers))[0]


async def otp_sign_in(site: Site, email: str) -> str:
    """An Advanced Authentication sign-in: the kind of session that refreshes."""
    assert (await site.call("POST", "/api2/password_less/token", {"email": email}))[0] == 200
    verify = {
        "email": email,
        "otp": await site.otp(email),
        "privacy_policy": True,
        "terms_and_conditions": True,
    }
    status, body = await site.call("POST", "/api2/password_less/verify", verify)
    assert status == 200, body
    return str(body["data"]["access_token"])


async def events(site: Site, round_: int, token0: str) -> None:
    """One of each event the error, refresh and rate-limit panels and alerts read. Made
    twice: a labelled series appears with its first event already counted, so rate() sees
    an event only once Prometheus has scraped the series before it."""
    forgot, refresh = "/api/auth/users/forgot_password", "/api2/password_less/refresh_token"
    forgot_body = {"email": "guest1@example.com"}
    assert (await site.call("GET", "/no/such/route"))[0] == 404  # the gateway's 404
    assert (await site.call("GET", "/api/auth/users"))[0] == 401  # no session token
    # Punchh's own 401: a wrong password.
    wrong = {"user": {"email": "guest0@example.com", "password": "wrong-password-1"}}
    assert (await site.call("POST", "/api/auth/customers/sign_in", wrong))[0] == 401
    # A read that fails once (Punchh 502) and is retried: the retries panel. (Before the
    # failures below: five in a row would open the auth family's circuit breaker.)
    await site.fault({"method": "GET", "path": BALANCE, "status": 502, "times": 1})
    no_cache = {"Cache-Control": "no-cache"}
    assert (await site.call("GET", BALANCE, None, token0, **no_cache))[0] == 200
    # A check-in with an Idempotency-Key, sent twice: one new, one replayed.
    for _ in range(2):
        assert (
            await site.check_in(token0, 3000 + round_, **{"Idempotency-Key": f"k{round_}"}) == 200
        )
    # Punchh's 500s, passed through (source="upstream").
    await site.fault({"method": "POST", "path": forgot, "status": 500, "times": 2})
    for _ in range(2):
        assert (await site.call("POST", forgot, forgot_body))[0] == 500
    # A connection reset (502) and a timeout (504): the gateway's own 5xx, upstream errors.
    await site.fault({"method": "POST", "path": forgot, "reset": "before", "times": 1})
    assert (await site.call("POST", forgot, forgot_body))[0] == 502
    await site.fault({"method": "POST", "path": forgot, "latency_ms": 800, "times": 1})
    assert (await site.call("POST", forgot, forgot_body))[0] == 504
    # Token refreshes: success; failed (Punchh 500: the old tokens are kept); rejected
    # (Punchh 401: the session ends, 401 session_expired).
    token = await otp_sign_in(site, f"otp{round_}@example.com")
    assert (await site.call("POST", refresh, {}, token))[0] == 200
    await site.fault({"method": "POST", "path": refresh, "status": 500, "times": 1})
    await site.call("POST", refresh, {}, token)
    await site.fault({"method": "POST", "path": refresh, "status": 401, "times": 1})
    assert (await site.call("POST", refresh, {}, token))[0] == 401
    # A burst of sign-ups from one IP: `sign_up_ip` (10 an hour) refuses the rest.
    burst = await asyncio.gather(
        *(site.sign_up(f"burst{round_}-{i}@example.com") for i in range(10))
    )
    assert 429 in [status for status, _ in burst], burst


async def reads(site: Site, tokens: list[str], seconds: float) -> None:
    """Cached reads (misses, then hits; a bypass now and then) for a few seconds."""
    loop = asyncio.get_running_loop()
    deadline, n = loop.time() + seconds, 0
    while loop.time() < deadline:
        for token in tokens:
            assert (await site.call("GET", BALANCE, token=token))[0] == 200
            assert (await site.call("GET", "/api/auth/users", token=token))[0] == 200
        if n % 5 == 0:
            no_cache = {"Cache-Control": "no-cache"}
            assert (await site.call("GET", BALANCE, None, tokens[0], **no_cache))[0] == 200
        n += 1
        await asyncio.sleep(0.05)


async def main_traffic(site: Site, seconds: float) -> None:
    """Everything the dashboard and the alerts read, made through the main gateway."""
    tokens = []
    for i in range(3):
        status, token = await site.sign_up(f"guest{i}@example.com")
        assert status == 201, status
        assert token
        tokens.append(token)
        assert await site.check_in(token, 1000 + i) == 200
    await events(site, 1, tokens[0])
    await reads(site, tokens, seconds)
    await events(site, 2, tokens[0])
    assert await site.check_in(tokens[0], 2000) == 200  # an invalidation after the reads


async def degraded_traffic(site: Site, seconds: float) -> None:
    """Through the gateway whose cache and rate-limit stores cannot be reached: it fails
    open (requests still answered) and counts store errors."""
    status, token = await site.sign_up("degraded@example.com")
    assert status == 201, status
    assert token
    # Its retry budget is zero: a failed read is not retried (retries refused: budget).
    await site.fault({"method": "GET", "path": "/api/auth/users", "status": 502, "times": 1})
    no_cache = {"Cache-Control": "no-cache"}
    assert (await site.call("GET", "/api/auth/users", None, token, **no_cache))[0] == 502
    # Two failed mobile sign-ups in a row open the mobile family's circuit breaker
    # (circuit.consecutive_failures = 2 here); the next one is refused at once.
    mobile = {"user": {"email": "m@example.com", "password": PASSWORD}}
    await site.fault({"method": "POST", "path": "/api2/mobile/users", "status": 500, "times": 2})
    for status in (500, 500, 503):
        assert (await site.call("POST", "/api2/mobile/users", mobile))[0] == status
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while loop.time() < deadline:
        assert (await site.call("GET", BALANCE, token=token))[0] == 200
        await asyncio.sleep(0.25)


async def _slow_upload(gw: GatewayProcess) -> asyncio.StreamWriter:
    """A sign-in whose headers are in and whose body never comes: in flight until hung up."""
    host, _, port = gw.url.removeprefix("http://").partition(":")
    _, writer = await asyncio.open_connection(host, int(port))
    writer.write(
        b"POST /api/auth/customers/sign_in HTTP/1.1\r\nHost: gw\r\n"
        b"Content-Type: application/json\r\nContent-Length: 64\r\n\r\n{"
    )
    await writer.drain()
    return writer


async def _hang_up(writer: asyncio.StreamWriter) -> None:
    writer.close()
    with contextlib.suppress(OSError):
        await writer.wait_closed()


async def _metrics_text(site: Site) -> str:
    async with site.http.get(site.admin + "/metrics") as resp:
        assert resp.status == 200
        return await resp.text()


# ----------------------------------------------------------------------- the test


async def test_every_dashboard_and_alert_query_returns_data(tools: Tools, tmp_path: Path) -> None:
    started = time.monotonic()
    degraded_config = tmp_path / "degraded.toml"
    # Its sign-up must get past the abuse policy whose store is down (fail open for once).
    degraded_config.write_text('[rate_limit.policies.sign_up_ip]\nfail = "open"\n')
    nowhere = f"redis://127.0.0.1:{free_port()}/0"  # nothing listens there
    main_sandbox, degraded_sandbox = free_port(), free_port()
    main_admin, degraded_admin = free_port(), free_port()
    async with AsyncExitStack() as stack:
        degraded_env = _gateway_env(
            degraded_sandbox,
            degraded_admin,
            GATEWAY_CONFIG=str(degraded_config),
            GATEWAY_CACHE_URL=nowhere,
            GATEWAY_RATE_LIMIT_URL=nowhere,
            GATEWAY_RETRY_BUDGET_RATIO="0",
            GATEWAY_RETRY_BUDGET_MIN_PER_SECOND="0",
            GATEWAY_CIRCUIT_CONSECUTIVE_FAILURES="2",
            GATEWAY_CIRCUIT_OPEN_SECONDS="3600",
        )
        # Both start at once; each one started is on the stack, stopped even if the other failed.
        started_up = await asyncio.gather(
            stack.enter_async_context(gateway_process(_gateway_env(main_sandbox, main_admin))),
            stack.enter_async_context(gateway_process(degraded_env)),
            return_exceptions=True,
        )
        for outcome in started_up:
            if isinstance(outcome, BaseException):
                raise outcome
        main, degraded = (g for g in started_up if isinstance(g, GatewayProcess))
        targets = [f"127.0.0.1:{port}" for port in (main_admin, degraded_admin)]
        prom = stack.enter_context(prometheus_server(tools, tmp_path, targets))
        http = await stack.enter_async_context(aiohttp.ClientSession())

        async def prometheus_up() -> bool:
            if prom.proc.poll() is not None:
                raise AssertionError(f"prometheus exited:\n{prom.tail()}")
            try:
                result = await _query(http, prom, 'up{job="loyalty-gateway"} == 1')
            except (aiohttp.ClientError, AssertionError):
                return False
            return len(result) == 2  # both gateways scraped

        await _wait_for("Prometheus scraping both gateways", prometheus_up, 20, prom)

        main_site = Site(
            main, f"http://127.0.0.1:{main_sandbox}", http, f"http://127.0.0.1:{main_admin}"
        )
        degraded_site = Site(
            degraded,
            f"http://127.0.0.1:{degraded_sandbox}",
            http,
            f"http://127.0.0.1:{degraded_admin}",
        )
        await asyncio.gather(main_traffic(main_site, 2.5), degraded_traffic(degraded_site, 5.0))
        # A reload the degraded gateway refuses (cache.enabled is no boolean): it keeps
        # serving, and LoyaltyGatewayConfigReloadRefused has its data.
        degraded_config.write_text(degraded_config.read_text() + "[cache]\nenabled = 3\n")
        os.kill(degraded.proc.pid, signal.SIGHUP)

        async def reload_refused() -> bool:
            return 'gateway_config_reloads_total{result="invalid"} 1.0' in (
                await _metrics_text(degraded_site)
            )

        await _wait_for("the degraded gateway's refused reload", reload_refused, 10, prom)
        # A request in flight while the queries run: a guest whose body is still on its way
        # (Prometheus scrapes the admin port, which is not a guest request).
        stack.push_async_callback(_hang_up, await _slow_upload(main))
        traffic_done = time.time()

        # The gateways counted what the traffic should have made (clearer failures than
        # an empty query further down).
        text = await _metrics_text(main_site)
        for series in (
            'loyalty_gateway_token_refreshes_total{result="success"}',
            'loyalty_gateway_token_refreshes_total{result="failed"}',
            'loyalty_gateway_token_refreshes_total{result="rejected"}',
            'kind="reset"',
            'kind="timeout"',
            'loyalty_gateway_rate_limited_total{business="default",policy="sign_up_ip"}',
            'result="hit"',
            'result="bypass"',
            'source="upstream",status="500"',
        ):
            assert series in text, f"main gateway's /metrics lacks {series}"
        # The metrics with a business label are the ones the dashboard filters by it.
        labelled = {
            _metric_name(series)
            for series, labels in SELECTOR.findall(text)
            if re.search(r'(?:^|,)business="', labels)
            and not series.endswith("_created")  # the counters' start times
        }
        assert labelled == BUSINESS_LABELLED, (labelled ^ BUSINESS_LABELLED, "update the test")
        text = await _metrics_text(degraded_site)
        for store in ("cache", "rate_limit"):
            assert f'loyalty_gateway_store_errors_total{{store="{store}"}}' in text

        async def scraped_twice_since_traffic() -> bool:
            result = await _query(http, prom, 'timestamp(up{job="loyalty-gateway"})')
            return len(result) == 2 and all(
                float(r["value"][1]) > traffic_done + 1.2 for r in result
            )

        await _wait_for("two scrapes after the traffic", scraped_twice_since_traffic, 10, prom)

        # Every rule loaded and evaluated without error.
        async def rules_evaluated() -> list[dict[str, Any]] | None:
            groups = (await _api(http, prom, "rules"))["groups"]
            rules = [r for g in groups for r in g["rules"]]
            if rules and all(r["health"] == "ok" for r in rules):
                return rules
            bad = [(r["name"], r["health"], r.get("lastError")) for r in rules]
            assert all(health != "err" for _, health, _ in bad), bad
            return None

        async def rules_ok() -> bool:
            return await rules_evaluated() is not None

        await _wait_for("every alert rule evaluated with health ok", rules_ok, 10, prom)
        rules = await rules_evaluated()
        assert rules is not None
        names = re.findall(r"^\s*- alert: (\S+)$", ALERTS.read_text(), re.MULTILINE)
        assert sorted(r["name"] for r in rules) == sorted(names)
        for rule in rules:
            assert rule["type"] == "alerting"
            assert rule["duration"] > 0, f"{rule['name']}: no `for`"
            assert rule["labels"].get("severity") in ("critical", "warning"), rule["name"]
            for key in ("summary", "description", "runbook"):
                assert rule["annotations"].get(key), f"{rule['name']}: no {key}"

        # The route, instance and business variables' choices.
        for label, expected in (
            ("route", f"GET {BALANCE}"),
            ("instance", targets[0]),
            ("business", "default"),
        ):
            values = await _api(
                http, prom, f"label/{label}/values", **{"match[]": "loyalty_gateway_requests_total"}
            )
            assert expected in values, (label, values)

        # Every query: the dashboard's as they are; the alerts' whole (valid, maybe empty)
        # and without their thresholds (non-empty). All of them must also show the traffic:
        # some value above zero, except where MAY_BE_ZERO says why not.
        empty, flat = [], []
        queries = [(f"dashboard panel {t!r}", t, e) for t, e in dashboard_exprs()]
        # Both gateways serve only the business `default`: choosing it shows the same data.
        queries += [
            (f"dashboard panel {t!r}, business default", t, e)
            for t, e in dashboard_exprs(business="default")
        ]
        for name, expr in alert_exprs(rules):
            await _query(http, prom, expr)
            queries.append((f"alert {name} without its threshold", name, without_thresholds(expr)))
        for what, title, expr in queries:
            result = await _query(http, prom, expr)
            if not result:
                empty.append(f"{what}: {expr}")
            elif title not in MAY_BE_ZERO and not _positive(result):
                flat.append(f"{what}: {expr} = {[r['value'][1] for r in result]}")
        assert not empty, "queries without data:\n" + "\n".join(empty)
        assert not flat, "queries that show none of the traffic:\n" + "\n".join(flat)

        # A business nobody has: every query that filters by business shows nothing, so
        # the filter does reach Prometheus (and the panels without it are the others).
        leaked = []
        for (title, raw), (_, expr) in zip(
            _raw_exprs(), dashboard_exprs(business=NO_SUCH_BUSINESS), strict=True
        ):
            if BY_BUSINESS in raw and _positive(result := await _query(http, prom, expr)):
                leaked.append(f"{title}: {expr} = {[r['value'][1] for r in result]}")
        assert not leaked, f"queries showing traffic for {NO_SUCH_BUSINESS}:\n" + "\n".join(leaked)
    took = time.monotonic() - started
    assert took < 60, f"the test must stay under 60 s, took {took:.1f} s"
