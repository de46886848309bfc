"""Live reload (issue 19, part 2): a real gateway process in front of the sandbox, its
configuration file and secret files rewritten, then SIGHUP, as an operator would.

Each setting the issue names as live is changed on a running process and seen to apply
to the next request; what needs a restart, and what does not validate, is refused whole
while the process keeps serving on what it had.
"""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from gateway.tokens import key_id
from sandbox.config import SandboxConfig
from sandbox.server import SandboxServer, start_sandbox
from tests.support.brands import order
from tests.support.process import run_cli
from tests.support.reloading import ADMIN, Reloadable, reloadable

CLIENT_ID = "client-reload"
CLIENT_SECRET = "client-secret-" + "c" * 30
SESSION_1, SESSION_2, SESSION_3 = (
    "session-one-" + "1" * 30,
    "session-two-" + "2" * 30,
    "session-three-" + "3" * 30,
)
BIZ = "business-key-of-the-reload-test"
TILL_1, TILL_2 = "till-one-device-key-0001", "till-two-device-key-0002"
BASE = f'[punchh]\nclient_id = "{CLIENT_ID}"\n\n[retry]\nbackoff_base = 0.01\nbackoff_max = 0.02\n'
USERS, BALANCE = "/api/auth/users", "/api/auth/users/balance"


@pytest.fixture
async def sandbox() -> AsyncIterator[SandboxServer]:
    server = await start_sandbox(
        SandboxConfig(
            client_id=CLIENT_ID,
            client_secret=CLIENT_SECRET,
            business_key=BIZ,
            location_keys={"LOC-1": "101", "LOC-2": "202"},
        )
    )
    yield server
    await server.close()


def _env(sandbox: SandboxServer) -> dict[str, str]:
    return {"PUNCHH_BASE_URL": sandbox.url}


def _secrets(**changed: str) -> dict[str, str]:
    return {
        "PUNCHH_CLIENT_SECRET": CLIENT_SECRET,
        "GATEWAY_SESSION_SECRET": SESSION_1,
        "PUNCHH_BUSINESS_KEY": BIZ,
        **changed,
    }


@pytest.fixture
async def gw(tmp_path: Path, sandbox: SandboxServer) -> AsyncIterator[Reloadable]:
    async with reloadable(tmp_path, BASE, _env(sandbox), _secrets()) as rig:
        yield rig


async def _sign_up(rig: Reloadable, email: str) -> dict[str, str]:
    user = {"email": email, "password": "correct-horse-1", "first_name": "Ada", "last_name": "B"}
    async with rig.http.post(rig.url + "/api/auth/customers.json", json={"user": user}) as resp:
        assert resp.status == 201, await resp.text()
        token = (await resp.json())["access_token"]
    return {"Authorization": f"Bearer {token}"}


async def _get(rig: Reloadable, path: str, headers: dict[str, str]) -> aiohttp.ClientResponse:
    async with rig.http.get(rig.url + path, headers=headers) as resp:
        await resp.read()
        return resp


async def _fault(sandbox: SandboxServer, http: aiohttp.ClientSession, **rule: Any) -> None:
    async with http.post(sandbox.url + "/__sandbox/faults", json=rule) as resp:
        assert resp.status in (200, 201), await resp.text()


async def test_rate_limit_policies_change_live(gw: Reloadable) -> None:
    auth = {**await _sign_up(gw, "limits@example.com"), "Cache-Control": "no-cache"}
    assert [(await _get(gw, USERS, auth)).status for _ in range(3)] == [200, 200, 200]
    tight = '\n[rate_limit.policies.tight]\nkey = "session"\nroutes = ["guest"]\nlimit = 2\n'
    gw.write(BASE + tight + "window = 60\n")
    await gw.hup()
    answers = [await _get(gw, USERS, auth) for _ in range(3)]
    assert [a.status for a in answers] == [200, 200, 429]
    assert "tight" in answers[0].headers["RateLimit-Policy"]
    gw.write(BASE)  # the policy gone again
    await gw.hup()
    assert (await _get(gw, USERS, auth)).status == 200


async def test_cache_ttls_and_the_cache_switch_change_live(gw: Reloadable) -> None:
    auth = await _sign_up(gw, "cache@example.com")
    assert [(await _get(gw, BALANCE, auth)).headers.get("X-Cache") for _ in range(2)] == [
        "MISS",
        "HIT",
    ]
    gw.write(BASE + "\n[cache]\nenabled = false\n")
    await gw.hup()
    off = await _get(gw, BALANCE, auth)
    assert off.status == 200
    assert "X-Cache" not in off.headers  # reads not cached
    ttls = '\n[cache.ttls]\n"GET /api/auth/users/balance" = 0\n"GET /api/auth/users" = 1\n'
    gw.write(BASE + ttls)
    await gw.hup()
    assert "X-Cache" not in (await _get(gw, BALANCE, auth)).headers  # TTL 0: not cached
    assert [(await _get(gw, USERS, auth)).headers.get("X-Cache") for _ in range(2)] == [
        "MISS",
        "HIT",
    ]
    await asyncio.sleep(1.2)  # its new TTL, 1 s (60 in the route table)
    assert (await _get(gw, USERS, auth)).headers.get("X-Cache") == "MISS"


async def _points(rig: Reloadable, auth: dict[str, str]) -> tuple[str | None, int]:
    async with rig.http.get(rig.url + "/api/auth/checkins/balance", headers=auth) as resp:
        assert resp.status == 200, await resp.text()
        return resp.headers.get("X-Cache"), (await resp.json())["points_balance"]


async def test_a_write_while_the_cache_is_off_leaves_nothing_stale_for_when_it_is_on(
    gw: Reloadable,
) -> None:
    auth = await _sign_up(gw, "stale@example.com")
    assert await _points(gw, auth) == ("MISS", 0)
    assert await _points(gw, auth) == ("HIT", 0)  # kept for 30 s
    gw.write(BASE + "\n[cache]\nenabled = false\n")
    await gw.hup()
    body = order("order-while-off", 42.50)
    async with gw.http.post(
        gw.url + "/api/auth/checkins/online_order", json=body, headers=auth
    ) as r:
        assert r.status in (200, 201), await r.text()
    assert await _points(gw, auth) == (None, 42)  # off: Punchh's
    gw.write(BASE)
    await gw.hup()
    assert await _points(gw, auth) == ("MISS", 42)  # the entry kept before was made stale


def _pos(*tills: tuple[str, str, str]) -> str:
    devices = "".join(
        f'\n[[pos.devices]]\nname = "{n}"\nkey = "{k}"\nlocation_key = "{loc}"\n'
        for n, k, loc in tills
    )
    return BASE + "\n[pos]\nenabled = true\n" + devices


async def test_pos_devices_change_live(tmp_path: Path, sandbox: SandboxServer) -> None:
    one, two = ("till-1", TILL_1, "LOC-1"), ("till-2", TILL_2, "LOC-2")
    async with reloadable(tmp_path, _pos(one), _env(sandbox), _secrets()) as gw:
        await _sign_up(gw, "pos@example.com")
        search = "/api/pos/users/search?email=pos@example.com"

        async def till(key: str) -> int:
            return (await _get(gw, search, {"Authorization": f"Token token={key}"})).status

        assert (await till(TILL_1), await till(TILL_2)) == (200, 401)
        gw.write(_pos(two))
        await gw.hup()
        assert (await till(TILL_1), await till(TILL_2)) == (401, 200)


async def test_allowed_origins_change_live(gw: Reloadable) -> None:
    origin = "https://order.example.com"
    preflight = {"Origin": origin, "Access-Control-Request-Method": "GET"}

    async def allowed() -> str | None:
        async with gw.http.options(gw.url + USERS, headers=preflight) as resp:
            return resp.headers.get("Access-Control-Allow-Origin")

    assert await allowed() is None
    gw.write(BASE + f'\n[session]\nallowed_origins = ["{origin}"]\n')
    await gw.hup()
    assert await allowed() == origin
    gw.write(BASE)
    await gw.hup()
    assert await allowed() is None


async def test_retry_settings_change_live(gw: Reloadable, sandbox: SandboxServer) -> None:
    auth = {**await _sign_up(gw, "retry@example.com"), "Cache-Control": "no-cache"}
    gw.write(BASE.replace("[retry]\n", "[retry]\nmax_attempts = 1\n"))
    await gw.hup()
    await _fault(sandbox, gw.http, method="GET", path=USERS, status=503, times=1)
    assert (await _get(gw, USERS, auth)).status == 503  # not sent again
    gw.write(BASE.replace("[retry]\n", "[retry]\nmax_attempts = 3\n"))
    await gw.hup()
    await _fault(sandbox, gw.http, method="GET", path=USERS, status=503, times=1)
    assert (await _get(gw, USERS, auth)).status == 200  # the second attempt answered


READ_TIMEOUT = "\n[punchh.timeouts.read]\nfirst_byte = 0.4\ntotal = 0.6\n"


async def test_timeouts_change_live_and_requests_in_flight_keep_theirs(
    gw: Reloadable, sandbox: SandboxServer
) -> None:
    auth = {**await _sign_up(gw, "slow@example.com"), "Cache-Control": "no-cache"}
    await _fault(sandbox, gw.http, method="GET", path=USERS, latency_ms=2500)  # each attempt
    in_flight = asyncio.ensure_future(_get(gw, USERS, auth))
    await asyncio.sleep(0.3)  # it is waiting for the sandbox: on the old timeouts
    gw.write(BASE + READ_TIMEOUT)
    await gw.hup()
    assert not in_flight.done()
    after = await _get(gw, USERS, auth)  # a new request: the new timeouts
    assert after.status == 504
    assert (await in_flight).status == 200  # finished on the settings it started with


def _access_ids(rig: Reloadable) -> set[str]:
    found = set()
    for line in rig.gp.logs().splitlines():
        if line.startswith("{") and '"gateway.access"' in line:
            found.add(json.loads(line).get("request_id", ""))
    return found


async def _logged(rig: Reloadable, rid: str) -> bool:
    await _get(rig, "/healthz", {"X-Request-ID": rid})
    await asyncio.sleep(0.5)  # the access log's flush beat is 0.1 s
    return rid in _access_ids(rig)


async def test_the_log_level_changes_live(gw: Reloadable) -> None:
    assert await _logged(gw, "at-info-1")
    gw.write(BASE.replace("[punchh]", '[server]\nlog_level = "WARNING"\n\n[punchh]'))
    await gw.hup()
    assert not await _logged(gw, "at-warning-1")  # access lines are INFO
    gw.write(BASE.replace("[punchh]", '[server]\nlog_level = "DEBUG"\n\n[punchh]'))
    await gw.hup()
    assert await _logged(gw, "at-debug-1")


def _kid(auth: dict[str, str]) -> str:
    header = auth["Authorization"].removeprefix("Bearer ").split(".")[0]
    return str(json.loads(base64.urlsafe_b64decode(header + "=" * (-len(header) % 4)))["kid"])


async def test_a_new_session_secret_signs_no_guest_out(gw: Reloadable) -> None:
    first = await _sign_up(gw, "rotate-1@example.com")
    gw.write_secret("GATEWAY_SESSION_SECRET", SESSION_2)
    await gw.hup()
    assert (await _get(gw, BALANCE, first)).status == 200  # the old secret: a previous one
    second = await _sign_up(gw, "rotate-2@example.com")
    assert _kid(first) == key_id(SESSION_1.encode())
    assert _kid(second) == key_id(SESSION_2.encode())  # new tokens: the new secret
    gw.write_secret("GATEWAY_SESSION_SECRET", SESSION_3)
    await gw.hup()
    for auth in (first, second):  # two rotations later, both still signed in
        assert (await _get(gw, BALANCE, auth)).status == 200
    forged = {"Authorization": first["Authorization"][:-4] + "AAAA"}
    assert (await _get(gw, BALANCE, forged)).status == 401
    assert not {SESSION_1, SESSION_2, SESSION_3} & set(gw.gp.logs().split('"'))


async def test_a_new_client_secret_signs_the_next_call(
    tmp_path: Path, sandbox: SandboxServer
) -> None:
    stale = _secrets(PUNCHH_CLIENT_SECRET="an-old-client-secret-" + "o" * 20)
    async with reloadable(tmp_path, BASE, _env(sandbox), stale) as gw:
        user = {"email": "c@example.com", "password": "correct-horse-1", "first_name": "C"}
        async with gw.http.post(gw.url + "/api/auth/customers.json", json={"user": user}) as r:
            assert r.status == 412  # the sandbox (as Punchh) checks x-pch-digest: invalid
        gw.write_secret("PUNCHH_CLIENT_SECRET", CLIENT_SECRET)
        await gw.hup()
        await _sign_up(gw, "c@example.com")
        assert CLIENT_SECRET not in gw.gp.logs()


@pytest.mark.parametrize(
    ("change", "keys"),
    [
        ("[admin]\nport = 9999\n" + BASE, ["admin.port"]),  # (GATEWAY_PORT wins over the file)
        (
            BASE.replace("[punchh]\n", '[punchh]\nhttp_client = "aiohttp"\npool_size = 7\n'),
            ["punchh.http_client", "punchh.pool_size"],
        ),
        (
            '[store]\nurl = "redis://127.0.0.1:6379/0"\nencryption_key = "'
            + "k" * 32
            + '"\n'
            + BASE,
            ["store.url", "store.encryption_key"],
        ),
    ],
)
async def test_a_key_that_needs_a_restart_refuses_the_whole_reload(
    gw: Reloadable, change: str, keys: list[str]
) -> None:
    auth = {**await _sign_up(gw, "restart@example.com"), "Cache-Control": "no-cache"}
    tight = '\n[rate_limit.policies.tight]\nkey = "session"\nroutes = ["guest"]\nlimit = 1\n'
    gw.write(change + tight + "window = 60\n")
    await gw.hup(expect="restart_required")
    refused = [json.loads(line) for line in gw.gp.logs().splitlines() if "reload refused" in line]
    assert [(r["level"], r["key"]) for r in refused] == [("error", k) for k in keys]
    assert all("needs a restart" in r["msg"] for r in refused)
    assert [(await _get(gw, USERS, auth)).status for _ in range(3)] == [200] * 3  # nothing
    assert (await gw.reloads()).get("ok") == 0
    assert "k" * 32 not in gw.gp.logs()


async def test_an_invalid_configuration_is_refused_and_the_old_one_served(
    gw: Reloadable,
) -> None:
    gw.write(BASE + '\n[cache]\nenabled = "sometimes"\n\n[server]\nlog_level = "LOUD"\n')
    await gw.hup(expect="invalid")
    refused = [json.loads(line) for line in gw.gp.logs().splitlines() if "reload refused" in line]
    assert [r["level"] for r in refused] == ["error", "error"]  # one line per problem
    assert "server.log_level = 'LOUD'" in refused[0]["msg"]
    assert "cache.enabled = 'sometimes'" in refused[1]["msg"]
    gw.write("[punchh\nclient_id = ")  # not TOML
    await gw.hup(expect="invalid")
    gw.write(BASE)
    gw.files["GATEWAY_SESSION_SECRET"].unlink()  # a secret file gone
    await gw.hup(expect="invalid")
    last = [line for line in gw.gp.logs().splitlines() if "reload refused" in line][-1]
    assert "GATEWAY_SESSION_SECRET_FILE" in last
    assert (await gw.reloads()) == {"ok": 0, "invalid": 3, "restart_required": 0, "error": 0}
    async with gw.http.get(gw.url + "/readyz") as resp:
        assert resp.status == 200  # serving all along
    await _sign_up(gw, "still@example.com")  # on the session secret it had


async def _status(rig: Reloadable) -> tuple[str, str, str]:
    async with rig.http.get(rig.url + "/gateway/status", headers=ADMIN) as resp:
        assert resp.status == 200
        html = await resp.text()
    digest = html.split('id="config-digest" title="', 1)[1].split('"', 1)[0]
    loaded = html.split('id="config-loaded">', 1)[1].split("<", 1)[0]
    return html, digest, loaded


async def test_the_status_page_shows_the_load_time_and_a_digest(gw: Reloadable) -> None:
    html, first, loaded = await _status(gw)
    assert len(first) == 64
    assert loaded.endswith(" UTC")
    await asyncio.sleep(1.0)  # the load time is shown to the second
    gw.write_secret("PUNCHH_CLIENT_SECRET", "rotated-client-secret-" + "r" * 20)
    await gw.hup()
    html, same, reloaded = await _status(gw)
    assert same == first  # secrets are not in the digest
    assert reloaded > loaded
    gw.write(BASE + '\n[cache.ttls]\n"GET /api/auth/users" = 5\n')
    await gw.hup()
    html, changed, _ = await _status(gw)
    assert changed != first
    for secret in (CLIENT_SECRET, "rotated-client-secret-", SESSION_1, BIZ):
        assert secret not in html


async def test_the_reload_command_signals_the_running_gateway(gw: Reloadable) -> None:
    env = {**gw.env}
    done = await asyncio.to_thread(run_cli, "reload", env=env)
    assert done.returncode == 0, done.stderr
    assert f"pid {gw.gp.proc.pid}" in done.stdout
    await gw.until_counted("ok", 1)
    gw.write(BASE + '\n[cache]\nenabled = "sometimes"\n')
    done = await asyncio.to_thread(run_cli, "reload", env=env)
    assert done.returncode == 2  # checked here first: no signal sent
    assert "cache.enabled = 'sometimes'" in done.stderr
    gone = {**env, "GATEWAY_PID_FILE": str(Path(env["GATEWAY_PID_FILE"]).with_suffix(".gone"))}
    gw.write(BASE)
    done = await asyncio.to_thread(run_cli, "reload", env=gone)
    assert done.returncode == 1
    assert "no gateway pid file at" in done.stderr
    assert (await gw.reloads()) == {"ok": 1, "invalid": 0, "restart_required": 0, "error": 0}


async def test_a_gateway_on_its_embedded_sandbox_reloads(tmp_path: Path) -> None:
    """`make run`: the sandbox's made-up credentials are the same at every load."""
    embedded = "[sandbox]\nenabled = true\nport = 0\n"
    async with reloadable(tmp_path, embedded, {}, {"GATEWAY_SESSION_SECRET": SESSION_1}) as gw:
        gw.write(embedded + "\n[cache]\nenabled = false\n")
        await gw.hup()
        auth = await _sign_up(gw, "embedded@example.com")  # signed as the sandbox expects
        assert "X-Cache" not in (await _get(gw, BALANCE, auth)).headers


async def test_a_reload_keeps_open_circuits_and_punchh_pauses(
    tmp_path: Path, sandbox: SandboxServer
) -> None:
    """What the gateway has learnt about Punchh is not configuration: a breaker it keeps
    stays open (and its gauge says so), a Retry-After pause still holds the route."""
    breaker = "\n[circuit]\nconsecutive_failures = 2\nopen_seconds = 600\n"
    async with reloadable(tmp_path, BASE + breaker, _env(sandbox), _secrets()) as gw:
        auth = {**await _sign_up(gw, "pauses@example.com"), "Cache-Control": "no-cache"}
        mobile = {"user": {"email": "m@example.com", "password": "correct-horse-1"}}
        await _fault(
            sandbox, gw.http, method="POST", path="/api2/mobile/users", status=500, times=2
        )
        statuses = []
        for _ in range(3):
            async with gw.http.post(gw.url + "/api2/mobile/users", json=mobile) as resp:
                statuses.append(resp.status)
        assert statuses == [500, 500, 503]  # the mobile family's breaker opened
        await _fault(
            sandbox, gw.http, method="GET", path=USERS, status=429, retry_after=600, times=1
        )
        assert (await _get(gw, USERS, auth)).status == 429  # Punchh's own: the route held
        gw.write(BASE + breaker + '\n[cache.ttls]\n"GET /api/auth/users" = 5\n')
        await gw.hup()
        async with gw.http.post(gw.url + "/api2/mobile/users", json=mobile) as resp:
            assert resp.status == 503  # still open: nothing sent
        held = await _get(gw, USERS, auth)
        assert held.status == 503  # still paused: nothing sent
        async with gw.http.get(gw.url + "/metrics", headers=ADMIN) as resp:
            text = await resp.text()
        (state,) = [
            line
            for line in text.splitlines()
            if line.startswith("loyalty_gateway_circuit_state{") and 'family="mobile"' in line
        ]
        assert state.endswith(" 2.0")  # open, as before the reload
