"""The rate-limit stage in front of the recorder: the IETF header fields, configured
policies on the manual clock (GCRA refill, no boundary burst), configuration checks,
Punchh's own Retry-After (holds), the upstream concurrency cap, a dead rate-limit store
(fail open, fail closed) and the switch that turns it all off."""

from __future__ import annotations

import asyncio
import time
from email.utils import formatdate
from pathlib import Path
from typing import Any

import pytest
from aiohttp import ClientResponse

from gateway.config import ConfigError, load_config
from tests.conftest import Client, GatewayFactory, gateway_env
from tests.support.clock import ManualClock
from tests.support.process import free_port
from tests.support.recorder import Recorder, Reply

FORGOT = "/api/auth/users/forgot_password"  # anyone, no abuse class: only `ip` covers it
OTP_SEND = "/api2/password_less/token"
SIGN_IN = "/api/auth/customers/sign_in"
SIGN_UP = "/api/auth/customers.json"
ME = "/api/auth/users"

TIGHT = """
[rate_limit.policies.tight]
key = "ip"
routes = ["*"]
limit = 3
window = 60
"""


def _toml(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "gateway.toml"
    path.write_text(text)
    return path


async def _error(resp: ClientResponse, status: int, code: str) -> dict[str, Any]:
    """The gateway's own error shape; returns the error object."""
    assert resp.status == status, await resp.text()
    body = await resp.json()
    assert set(body) == {"error"}
    err: dict[str, Any] = body["error"]
    assert err["code"] == code
    assert err["message"]
    assert err["request_id"] == resp.headers["X-Request-ID"]
    return err


def _limits(resp: ClientResponse) -> tuple[str | None, str | None]:
    return resp.headers.get("RateLimit-Policy"), resp.headers.get("RateLimit")


async def _statuses(gw: Client, count: int) -> list[int]:
    return [(await gw.post(FORGOT, json={})).status for _ in range(count)]


# -- the header fields -----------------------------------------------------------------


async def test_allowed_answers_carry_the_fields_and_remaining_counts_down(
    gw: Client, recorder: Recorder
) -> None:
    for remaining in (599, 598, 597):
        resp = await gw.post(FORGOT, json={})
        assert resp.status == 200
        # T = 60/600 = 0.1 s per request: the full quota is back within the second.
        assert _limits(resp) == ('"ip";q=600;w=60', f'"ip";r={remaining};t=1')
    assert len(recorder.seen) == 3


async def test_fields_name_every_policy_covering_the_route(gw: Client, recorder: Recorder) -> None:
    resp = await gw.post(OTP_SEND, json={"phone": "555-010-0101"})
    assert resp.status == 200
    assert _limits(resp) == (
        '"ip";q=600;w=60, "otp_target";q=3;w=600, "otp_ip";q=10;w=3600',
        '"ip";r=599;t=1, "otp_target";r=2;t=200, "otp_ip";r=9;t=360',
    )
    # Failure-counted policies only look before Punchh answers: all 5, 50 and 20 still there.
    recorder.reply("POST", SIGN_IN, Reply(200, {"id": 9, "access_token": "PUNCHH-ACC"}))
    signed_in = await gw.post(SIGN_IN, json={"user": {"email": "a@example.com"}})
    assert signed_in.status == 200
    assert _limits(signed_in) == (
        '"ip";q=600;w=60, "sign_in_account_ip";q=5;w=900, "sign_in_account";q=50;w=900, '
        '"sign_in_ip";q=20;w=900',
        # Failure-counted policies reserve a unit for the attempt in flight.
        '"ip";r=598;t=1, "sign_in_account_ip";r=4;t=180, "sign_in_account";r=49;t=18, '
        '"sign_in_ip";r=19;t=45',
    )
    token = (await signed_in.json())["access_token"]
    me = await gw.get(ME, headers={"Authorization": f"Bearer {token}"})
    assert me.status == 200
    assert _limits(me)[0] == '"ip";q=600;w=60, "session";q=300;w=60'
    assert str(_limits(me)[1]).startswith('"ip";r=597;t=1, "session";r=')


async def test_a_burst_gets_the_whole_limit_whatever_the_interval(
    make_gateway: GatewayFactory, recorder: Recorder, tmp_path: Path
) -> None:
    cfg = '[rate_limit.policies.fifths]\nkey = "ip"\nlimit = 5\nwindow = 1\n'
    gw = await make_gateway(recorder.url, config_file=_toml(tmp_path, cfg))
    first = await gw.post(FORGOT, json={})
    assert await _statuses(gw, 5) == [200, 200, 200, 200, 429]
    assert _limits(first)[1] == '"ip";r=599;t=1, "fifths";r=4;t=1'


async def test_the_session_policy_allows_300_a_minute(gw: Client, recorder: Recorder) -> None:
    recorder.reply("POST", SIGN_IN, Reply(200, {"id": 9, "access_token": "PUNCHH-ACC"}))
    token = (await (await gw.post(SIGN_IN, json={})).json())["access_token"]
    auth = {"Authorization": f"Bearer {token}"}
    first = await gw.get(ME, headers=auth)
    statuses = [(await gw.get(ME, headers=auth)).status for _ in range(300)]
    assert statuses == [200] * 299 + [429]
    assert _limits(first)[1] == '"ip";r=598;t=1, "session";r=299;t=1'


async def test_the_429_carries_the_fields_and_retry_after(
    make_gateway: GatewayFactory, recorder: Recorder, tmp_path: Path
) -> None:
    cfg = _toml(tmp_path, "[rate_limit.policies.ip]\nlimit = 3\nwindow = 60\n")
    gw = await make_gateway(recorder.url, config_file=cfg)
    for remaining, reset in ((2, 20), (1, 40), (0, 60)):
        resp = await gw.post(FORGOT, json={})
        assert resp.status == 200
        assert _limits(resp) == ('"ip";q=3;w=60', f'"ip";r={remaining};t={reset}')
    refused = await gw.post(FORGOT, json={})
    err = await _error(refused, 429, "rate_limited")
    assert "ip" in err["message"]
    assert refused.headers["Retry-After"] == "20"
    assert _limits(refused) == ('"ip";q=3;w=60', '"ip";r=0;t=60')
    assert len(recorder.seen) == 3


# -- a configured policy on the manual clock ---------------------------------------------


async def test_configured_policy_refills_one_per_interval_without_boundary_burst(
    make_gateway: GatewayFactory, recorder: Recorder, clock: ManualClock, tmp_path: Path
) -> None:
    gw = await make_gateway(recorder.url, config_file=_toml(tmp_path, TIGHT))
    assert clock.now % 60 == 0  # a fixed-window counter would reset at every multiple of 60
    clock.advance(50)
    first = await gw.post(FORGOT, json={})
    assert _limits(first) == (
        '"ip";q=600;w=60, "tight";q=3;w=60',
        '"ip";r=599;t=1, "tight";r=2;t=20',
    )
    assert await _statuses(gw, 3) == [200, 200, 429]
    # Across the boundary: still refused (a fixed window would allow 3 more: 6 in 10 s).
    clock.advance(10)
    refused = await gw.post(FORGOT, json={})
    await _error(refused, 429, "rate_limited")
    assert refused.headers["Retry-After"] == "10"
    assert _limits(refused) == ('"tight";q=3;w=60', '"tight";r=0;t=50')
    # 20 s (window / limit) after the burst: exactly one more, then one per 20 s.
    clock.advance(10)
    assert await _statuses(gw, 2) == [200, 429]
    clock.advance(19)
    assert await _statuses(gw, 1) == [429]
    clock.advance(1)
    assert await _statuses(gw, 2) == [200, 429]
    # Idle for a window or more: the full quota, never more.
    clock.advance(600)
    assert await _statuses(gw, 4) == [200, 200, 200, 429]
    assert len(recorder.seen) == 3 + 1 + 1 + 3


async def test_a_disabled_built_in_policy_leaves_the_fields(
    make_gateway: GatewayFactory, recorder: Recorder, tmp_path: Path
) -> None:
    cfg = _toml(
        tmp_path,
        "[rate_limit.policies.ip]\nenabled = false\n"
        "[rate_limit.policies.otp_target]\nenabled = false\n",
    )
    gw = await make_gateway(recorder.url, config_file=cfg)
    resp = await gw.post(FORGOT, json={})
    assert resp.status == 200
    assert _limits(resp) == (None, None)
    for remaining in (9, 8, 7, 6, 5):  # the same phone, no otp_target any more
        sent = await gw.post(OTP_SEND, json={"phone": "555-010-0101"})
        assert sent.status == 200
        assert _limits(sent) == (
            '"otp_ip";q=10;w=3600',
            f'"otp_ip";r={remaining};t={360 * (10 - remaining)}',
        )


async def test_an_overridden_built_in_keeps_its_other_fields(
    make_gateway: GatewayFactory, recorder: Recorder, tmp_path: Path
) -> None:
    """otp_target with limit 1: still per target, still OTP sends only."""
    cfg = _toml(tmp_path, "[rate_limit.policies.otp_target]\nlimit = 1\n")
    gw = await make_gateway(recorder.url, config_file=cfg)
    assert (await gw.post(OTP_SEND, json={"email": "a@example.com"})).status == 200
    refused = await gw.post(OTP_SEND, json={"email": " A@Example.com"})
    await _error(refused, 429, "rate_limited")
    assert refused.headers["Retry-After"] == "600"
    assert (await gw.post(OTP_SEND, json={"email": "b@example.com"})).status == 200
    assert (await gw.post(FORGOT, json={})).status == 200
    assert len(recorder.seen) == 3


# -- configuration checks ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("toml", "problems"),
    [
        (
            '[rate_limit.policies.x]\nkey = "ip"\nlimit = 0\nwindow = 60\n',
            ["rate_limit.policies.x.limit = 0: expected an integer from 1 to 1000000"],
        ),
        (
            '[rate_limit.policies.x]\nkey = "ip"\nlimit = 5\nwindow = 60\nburst = 2\n',
            ["rate_limit.policies.x.burst: unknown key"],
        ),
        (
            "[rate_limit.policies.x]\nlimit = 5\n",
            [
                "rate_limit.policies.x.key: required for a new policy",
                "rate_limit.policies.x.window: required for a new policy",
            ],
        ),
        (
            '[rate_limit.policies.ip]\nkey = "user"\nroutes = ["admin"]\nwindow = 0\n'
            'counts = "errors"\nfail = "maybe"\nenabled = "no"\n',
            [
                "rate_limit.policies.ip.key = 'user': expected one of ip, session, target, "
                "account, account_ip, global",
                "rate_limit.policies.ip.routes = ['admin']: expected a list of *, guest, "
                "otp_send, sign_in, sign_up, password_reset, pos",
                "rate_limit.policies.ip.window = 0: expected seconds, more than 0 and at most "
                "2592000",
                "rate_limit.policies.ip.counts = 'errors': expected requests or failures",
                "rate_limit.policies.ip.fail = 'maybe': expected open or closed",
                "rate_limit.policies.ip.enabled = 'no': expected true or false",
            ],
        ),
        (
            '[rate_limit.policies.ip]\nlimit = true\nroutes = "guest"\n'
            '[rate_limit.policies.y]\nkey = "ip"\nlimit = 2.5\nwindow = -1\n',
            [
                "rate_limit.policies.ip.routes = 'guest': expected a list of *, guest, "
                "otp_send, sign_in, sign_up, password_reset, pos",
                "rate_limit.policies.ip.limit = True: expected an integer from 1 to 1000000",
                "rate_limit.policies.y.limit = 2.5: expected an integer from 1 to 1000000",
                "rate_limit.policies.y.window = -1: expected seconds, more than 0 and at most "
                "2592000",
            ],
        ),
        ("[rate_limit.policies]\nx = 3\n", ["rate_limit.policies.x: expected a table"]),
        (
            "[rate_limit]\npolicies = 5\nqueue = -1\nbogus = 1\n",
            [
                "rate_limit.queue = -1: expected an integer from 0 to 100000",
                "rate_limit.policies = int: expected tables by name",
                "rate_limit.bogus: unknown key",
            ],
        ),
    ],
    ids=[
        "zero-limit",
        "unknown-key",
        "missing-fields",
        "bad-values",
        "bad-types",
        "not-table",
        "section",
    ],
)
def test_invalid_policy_config_is_refused_naming_the_key(
    tmp_path: Path, toml: str, problems: list[str]
) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(str(_toml(tmp_path, toml)), gateway_env("http://127.0.0.1:9"))
    assert caught.value.problems == problems


def test_an_infinite_window_is_refused(tmp_path: Path) -> None:
    toml = '[rate_limit.policies.x]\nkey = "ip"\nlimit = 5\nwindow = inf\n'
    with pytest.raises(ConfigError) as caught:
        load_config(str(_toml(tmp_path, toml)), gateway_env("http://127.0.0.1:9"))
    assert any(p.startswith("rate_limit.policies.x.window = inf") for p in caught.value.problems)


def test_enabled_from_the_environment_is_checked() -> None:
    env = gateway_env("http://127.0.0.1:9", GATEWAY_RATE_LIMIT_ENABLED="maybe")
    with pytest.raises(ConfigError) as caught:
        load_config(None, env)
    assert caught.value.problems == [
        "rate_limit.enabled (GATEWAY_RATE_LIMIT_ENABLED) = 'maybe': expected true or false"
    ]


# -- failed attempts: which of Punchh's answers count ------------------------------------


@pytest.mark.parametrize(
    ("status", "counted"),
    [
        (401, True),
        (403, True),
        (422, True),
        (400, True),
        (404, True),
        (200, False),
        (500, True),  # Punchh's own 5xx stay counted: it may depend on the guess
        (502, True),
    ],
)
async def test_punchh_4xx_answers_count_as_failed_sign_ins(
    make_gateway: GatewayFactory, recorder: Recorder, tmp_path: Path, status: int, counted: bool
) -> None:
    cfg = _toml(tmp_path, "[rate_limit.policies.sign_in_account]\nlimit = 2\n")
    gw = await make_gateway(recorder.url, config_file=cfg)
    body = {"id": 9, "access_token": "PUNCHH-ACC"} if status == 200 else {"error": "no"}
    recorder.reply("POST", SIGN_IN, Reply(status, body))
    attempt = {"user": {"email": "a@example.com", "password": "guess"}}
    assert [(await gw.post(SIGN_IN, json=attempt)).status for _ in range(2)] == [status] * 2
    third = await gw.post(SIGN_IN, json=attempt)
    if counted:
        await _error(third, 429, "rate_limited")
        assert third.headers["Retry-After"] == "450"
        assert len(recorder.seen) == 2
    else:
        assert third.status == status
        assert len(recorder.seen) == 3
    # Another account is never affected.
    other = await gw.post(SIGN_IN, json={"user": {"email": "b@example.com", "password": "x"}})
    assert other.status == status


# -- Punchh's own Retry-After ------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "retry_after"), [(429, "seconds"), (503, "seconds"), (503, "http-date")]
)
async def test_punchhs_retry_after_holds_the_route(
    gw: Client, recorder: Recorder, clock: ManualClock, status: int, retry_after: str
) -> None:
    value = "30" if retry_after == "seconds" else formatdate(clock.now + 30, usegmt=True)
    punchh = {"error": "slow down"}
    recorder.reply("POST", FORGOT, Reply(status, punchh, headers={"Retry-After": value}, times=1))
    passed = await gw.post(FORGOT, json={})
    assert passed.status == status
    assert await passed.json() == punchh  # Punchh's answer, unchanged
    assert passed.headers["Retry-After"] == value
    assert _limits(passed)[0] == '"ip";q=600;w=60'

    held = await gw.post(FORGOT, json={})
    await _error(held, 503, "upstream_busy")
    assert held.headers["Retry-After"] == "30"
    clock.advance(12)
    held = await gw.post(FORGOT, json={})
    await _error(held, 503, "upstream_busy")
    assert held.headers["Retry-After"] == "18"
    assert len(recorder.seen) == 1  # the gateway answered itself

    # Other routes are not held.
    other = await gw.post(OTP_SEND, json={"phone": "555-010-0101"})
    assert other.status == 200
    assert len(recorder.seen) == 2

    clock.advance(19)  # 31 s after Punchh's answer
    again = await gw.post(FORGOT, json={})
    assert again.status == 200
    assert len(recorder.seen) == 3
    assert (await gw.post(FORGOT, json={})).status == 200


@pytest.mark.parametrize(
    ("headers", "held"),
    [
        ({}, None),
        ({"Retry-After": "soon"}, None),
        ({"Retry-After": "0"}, None),
        ({"Retry-After": "86400"}, "300"),
    ],
    ids=["none", "unreadable", "zero", "capped"],
)
async def test_retry_after_without_a_usable_value_does_not_hold_and_long_ones_are_capped(
    gw: Client, recorder: Recorder, clock: ManualClock, headers: dict[str, str], held: str | None
) -> None:
    recorder.reply("POST", FORGOT, Reply(503, {"error": "busy"}, headers=headers, times=1))
    assert (await gw.post(FORGOT, json={})).status == 503
    after = await gw.post(FORGOT, json={})
    if held is None:
        assert after.status == 200
        assert len(recorder.seen) == 2
        return
    await _error(after, 503, "upstream_busy")
    assert after.headers["Retry-After"] == held
    clock.advance(int(held) + 1)
    assert (await gw.post(FORGOT, json={})).status == 200
    assert len(recorder.seen) == 2


async def test_the_gateways_own_429_does_not_hold_the_route(
    make_gateway: GatewayFactory, recorder: Recorder, tmp_path: Path
) -> None:
    """A client over its budget must not pause the route for everyone else."""
    cfg = _toml(tmp_path, '[server]\ntrusted_proxies = ["127.0.0.1"]\n' + TIGHT)
    gw = await make_gateway(recorder.url, config_file=cfg)
    loud = {"X-Forwarded-For": "203.0.113.1"}
    statuses = [(await gw.post(FORGOT, json={}, headers=loud)).status for _ in range(4)]
    assert statuses == [200, 200, 200, 429]
    quiet = await gw.post(FORGOT, json={}, headers={"X-Forwarded-For": "203.0.113.2"})
    assert quiet.status == 200
    assert len(recorder.seen) == 4


# -- the concurrency cap -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("queue", "wait", "served"),
    [
        (1, 0.2, 2),  # the queued one gives up at 0.2 s, before a slot frees at 0.5 s
        (1, 5.0, 3),  # the queued one gets the first free slot
        (0, 5.0, 2),  # no queue: beyond the 2 slots, refused at once
    ],
)
async def test_concurrent_upstream_calls_are_capped(
    make_gateway: GatewayFactory,
    recorder: Recorder,
    tmp_path: Path,
    queue: int,
    wait: float,
    served: int,
) -> None:
    cfg = _toml(tmp_path, f"[rate_limit]\nqueue = {queue}\nqueue_timeout = {wait}\n")
    gw = await make_gateway(recorder.url, config_file=cfg, GATEWAY_MAX_CONCURRENT_UPSTREAM="2")
    recorder.reply("POST", FORGOT, Reply(200, {"ok": True}, delay=0.5))
    started = time.monotonic()

    async def one() -> tuple[int, str | None, str | None, float]:
        async with gw.post(FORGOT, json={}) as resp:
            body = await resp.json()
            code = body["error"]["code"] if resp.status != 200 else None
            return resp.status, code, resp.headers.get("Retry-After"), time.monotonic() - started

    results = await asyncio.gather(*(one() for _ in range(6)))
    ok = [r for r in results if r[0] == 200]
    refused = [r for r in results if r[0] != 200]
    assert len(ok) == served
    assert [r[:3] for r in refused] == [(503, "upstream_overloaded", "1")] * (6 - served)
    # Refusals come before any upstream answer could (the upstream takes 0.5 s).
    assert max(r[3] for r in refused) < min(r[3] for r in ok)
    assert len(recorder.seen) == served
    # Every slot is free again afterwards.
    recorder.reply("POST", FORGOT, Reply(200, {"ok": True}))
    statuses = await asyncio.gather(*(_status(gw) for _ in range(2 + queue)))
    assert statuses == [200] * (2 + queue)


# -- a dead rate-limit store -------------------------------------------------------------


async def test_a_dead_store_fails_open_and_closed_per_policy(
    make_gateway: GatewayFactory, recorder: Recorder
) -> None:
    gw = await make_gateway(
        recorder.url,
        GATEWAY_RATE_LIMIT_URL=f"redis://127.0.0.1:{free_port()}/0",  # nothing listens
        GATEWAY_STORE_TIMEOUT="0.2",
    )
    # `ip` fails open: the request goes on, without fields it could not compute.
    open_ = await gw.post(FORGOT, json={})
    assert open_.status == 200
    assert _limits(open_) == (None, None)
    assert len(recorder.seen) == 1
    # The abuse policies fail closed: Punchh is not called.
    for path, body in (
        (OTP_SEND, {"phone": "555-010-0101"}),
        (SIGN_IN, {"user": {"email": "a@example.com", "password": "p"}}),
        (SIGN_UP, {"user": {"email": "a@example.com", "password": "p"}}),
    ):
        resp = await gw.post(path, json=body)
        await _error(resp, 503, "rate_limiter_unavailable")
        assert resp.headers["Retry-After"] == "1"
    assert len(recorder.seen) == 1


# -- off ---------------------------------------------------------------------------------


async def test_disabled_turns_everything_off(
    make_gateway: GatewayFactory, recorder: Recorder, clock: ManualClock, tmp_path: Path
) -> None:
    gw = await make_gateway(
        recorder.url,
        config_file=_toml(tmp_path, TIGHT),
        GATEWAY_RATE_LIMIT_ENABLED="0",
        GATEWAY_MAX_CONCURRENT_UPSTREAM="1",
    )
    for _ in range(6):
        resp = await gw.post(FORGOT, json={})
        assert resp.status == 200
        assert _limits(resp) == (None, None)
    for _ in range(5):
        assert (await gw.post(OTP_SEND, json={"phone": "555-010-0101"})).status == 200
    # No holds: Punchh's Retry-After is passed on, the next request still goes to Punchh.
    recorder.reply("POST", FORGOT, Reply(429, {}, headers={"Retry-After": "30"}, times=1))
    assert (await gw.post(FORGOT, json={})).status == 429
    assert (await gw.post(FORGOT, json={})).status == 200
    # No concurrency cap either.
    recorder.reply("POST", FORGOT, Reply(200, {}, delay=0.3))
    statuses = await asyncio.gather(*(_status(gw) for _ in range(4)))
    assert statuses == [200] * 4
    assert len(recorder.seen) == 6 + 5 + 2 + 4


async def _status(gw: Client) -> int:
    async with gw.post(FORGOT, json={}) as resp:
        return resp.status
