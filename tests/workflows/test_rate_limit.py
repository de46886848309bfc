"""Abuse protection in front of the sandbox: OTP pumping, credential stuffing, OTP guessing
and sign-up floods are stopped before Punchh, per target, account and client IP; the
rest of the traffic goes on. Client IPs come from X-Forwarded-For through 127.0.0.1, a
trusted proxy here; the clock is the manual one the gateway's rate store runs on."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Iterator
from itertools import count
from typing import Any

import pytest

from sandbox.server import SandboxServer
from sandbox.state import SandboxState
from tests.conftest import Client, GatewayFactory
from tests.support.clock import ManualClock
from tests.workflows.support import PASSWORD, Answer, Frontend, SandboxAdmin, sandbox_tokens

OTP_SEND = "POST /api2/password_less/token"
OTP_VERIFY = "POST /api2/password_less/verify"
SIGN_IN = "POST /api/auth/customers/sign_in"
SIGN_UP = "POST /api/auth/customers.json"
OAUTH = "POST /oauth/token"
CONSENT = {"privacy_policy": True, "terms_and_conditions": True}
DEVICE = {"punchh-app-device-id": "device-7f3a"}


@pytest.fixture
async def gw(sandbox: SandboxServer, make_gateway: GatewayFactory) -> Client:
    """The gateway behind a trusted proxy on 127.0.0.1: X-Forwarded-For names the client."""
    return await make_gateway(sandbox.url, GATEWAY_TRUSTED_PROXIES="127.0.0.1")


@pytest.fixture
def ips() -> Iterator[str]:
    """A fresh client IP each time."""
    return (f"198.51.{n // 250}.{n % 250 + 1}" for n in count())


def _from(ip: str) -> dict[str, str]:
    return {"X-Forwarded-For": ip}


async def _send(fe: Frontend, ip: str, **who: Any) -> Answer:
    method, path = OTP_SEND.split()
    return await fe.call(method, path, json=who, headers=_from(ip))


async def _verify(fe: Frontend, ip: str, code: str, **who: Any) -> Answer:
    method, path = OTP_VERIFY.split()
    return await fe.call(method, path, json={**who, "otp": code, **CONSENT}, headers=_from(ip))


async def _sign_in(fe: Frontend, ip: str, email: str, password: str = PASSWORD) -> Answer:
    method, path = SIGN_IN.split()
    user = {"email": email, "password": password}
    return await fe.call(method, path, json={"user": user}, headers=_from(ip))


async def _sign_up(fe: Frontend, ip: str, email: str) -> Answer:
    method, path = SIGN_UP.split()
    user = {"email": email, "password": PASSWORD, "first_name": "Ada", "last_name": "Byron"}
    return await fe.call(method, path, json={"user": user}, headers=_from(ip))


def _refused(answer: Answer, policy: str) -> int:
    """A gateway 429 in its one error shape, naming `policy`; returns Retry-After."""
    assert answer.status == 429, answer
    assert set(answer.body) == {"error"}
    err = answer.body["error"]
    assert err["code"] == "rate_limited"
    assert policy in err["message"]
    assert err["request_id"] == answer.headers["X-Request-ID"]
    assert answer.headers["RateLimit-Policy"].startswith(f'"{policy}";')
    assert answer.headers["RateLimit"].startswith(f'"{policy}";r=0;')
    retry = int(answer.headers["Retry-After"])
    assert retry >= 1
    return retry


# -- OTP pumping (SMS toll fraud) ---------------------------------------------------------


async def test_otp_pumping_against_one_phone_is_stopped(
    fe: Frontend, admin: SandboxAdmin, clock: ManualClock, ips: Iterator[str]
) -> None:
    phone = "555-010-0101"
    # One phone, spelled several ways, from ten different client IPs.
    spellings = ["555-010-0101", "(555) 010-0101", "5550100101", " 555.010.0101 "]
    answers = [await _send(fe, next(ips), phone=spellings[i % 4]) for i in range(10)]
    assert [a.status for a in answers] == [200] * 3 + [429] * 7
    assert {_refused(a, "otp_target") for a in answers[3:]} == {200}  # 600 s / 3
    assert await admin.calls() == {OTP_SEND: 3}

    other = await _send(fe, next(ips), phone="555-010-0202")
    assert other.status == 200, other
    assert await admin.otp(phone="5550100202")

    # One more send to the first phone 200 s (window / limit) later, not three.
    clock.advance(199)
    assert _refused(await _send(fe, next(ips), phone=phone), "otp_target") == 1
    clock.advance(1)
    assert (await _send(fe, next(ips), phone=phone)).status == 200
    assert _refused(await _send(fe, next(ips), phone=phone), "otp_target") == 200
    # A whole window of quiet: the full three again, and only three.
    clock.advance(600)
    statuses = [(await _send(fe, next(ips), phone=phone)).status for _ in range(4)]
    assert statuses == [200, 200, 200, 429]
    assert await admin.calls() == {OTP_SEND: 3 + 1 + 1 + 3}


async def test_otp_sends_per_ip_are_limited(fe: Frontend, admin: SandboxAdmin) -> None:
    phones = [f"555-020-{n:04d}" for n in range(12)]
    answers = [await _send(fe, "203.0.113.7", phone=p) for p in phones[:11]]
    assert [a.status for a in answers] == [200] * 10 + [429]
    assert _refused(answers[-1], "otp_ip") == 360  # 3600 s / 10
    elsewhere = await _send(fe, "203.0.113.8", phone=phones[11])
    assert elsewhere.status == 200, elsewhere
    assert await admin.calls() == {OTP_SEND: 11}


async def test_a_numeric_phone_does_not_escape_the_per_phone_limit(
    fe: Frontend, admin: SandboxAdmin, ips: Iterator[str]
) -> None:
    answers = [await _send(fe, next(ips), phone=5550100101) for _ in range(6)]
    assert await admin.calls() == {OTP_SEND: 3}
    assert [a.status for a in answers] == [200] * 3 + [429] * 3


# -- credential stuffing ------------------------------------------------------------------


async def test_credential_stuffing_against_one_account_is_stopped(
    fe: Frontend, admin: SandboxAdmin, clock: ManualClock, ips: Iterator[str]
) -> None:
    victim, other = "victim@example.com", "other@example.com"
    for email in (victim, other):
        assert (await _sign_up(fe, next(ips), email)).status == 201
    await admin.reset_calls()
    stuffer = "203.0.113.66"
    # Five wrong passwords: each reaches Punchh and gets Punchh's own 401.
    spellings = [victim, " Victim@Example.com", "VICTIM@example.com", victim, victim]
    for i, email in enumerate(spellings):
        wrong = await _sign_in(fe, stuffer, email, f"guess-{i}")
        assert wrong.status == 401, wrong
        assert "error" in wrong.body
        assert '"sign_in_account_ip";r=' in wrong.headers["RateLimit"]
        assert '"sign_in_account";r=' in wrong.headers["RateLimit"]
    assert await admin.calls() == {SIGN_IN: 5}
    # The sixth from that address, even with the right password: refused before Punchh.
    assert _refused(await _sign_in(fe, stuffer, victim), "sign_in_account_ip") == 180
    assert _refused(await _sign_in(fe, stuffer, victim.upper()), "sign_in_account_ip") == 180
    assert await admin.calls() == {SIGN_IN: 5}
    # The owner, from their own address, is not locked out by the stranger's failures.
    owner = await _sign_in(fe, next(ips), victim)
    assert owner.status == 200, owner
    assert await admin.calls() == {SIGN_IN: 6}
    # Another account from the same IP signs in, over and over: successes do not count.
    for _ in range(10):
        good = await _sign_in(fe, stuffer, other)
        assert good.status == 200, good
    assert await admin.calls() == {SIGN_IN: 16}
    # 900 s / 5 later the stuffer's address has one attempt back on the victim.
    clock.advance(180)
    back = await _sign_in(fe, stuffer, victim, "guess-again")
    assert back.status == 401, back
    _refused(await _sign_in(fe, stuffer, victim), "sign_in_account_ip")
    assert await admin.calls() == {SIGN_IN: 17}


async def test_stuffing_one_account_from_many_addresses_is_stopped_at_50(
    fe: Frontend, admin: SandboxAdmin, clock: ManualClock, ips: Iterator[str]
) -> None:
    victim = "victim@example.com"
    assert (await _sign_up(fe, next(ips), victim)).status == 201
    await admin.reset_calls()
    # A botnet: one wrong password from each of 50 addresses, all reach Punchh...
    for i in range(50):
        wrong = await _sign_in(fe, next(ips), victim, f"guess-{i}")
        assert wrong.status == 401, wrong
    assert await admin.calls() == {SIGN_IN: 50}
    # ...then the account's budget from every address is spent: 900 s / 50 = 18 s.
    assert _refused(await _sign_in(fe, next(ips), victim, "guess-50"), "sign_in_account") == 18
    # The owner at home, refused while the account's budget is spent, five times: a refused
    # attempt never reached Punchh, so it takes nothing from home's own budget.
    home = "203.0.113.200"
    for _ in range(5):
        _refused(await _sign_in(fe, home, victim), "sign_in_account")
    assert await admin.calls() == {SIGN_IN: 50}
    clock.advance(18)
    back = await _sign_in(fe, home, victim)
    assert back.status == 200, back
    assert await admin.calls() == {SIGN_IN: 51}


async def test_failed_sign_ins_per_ip_are_limited(
    fe: Frontend, admin: SandboxAdmin, ips: Iterator[str]
) -> None:
    assert (await _sign_up(fe, next(ips), "real@example.com")).status == 201
    await admin.reset_calls()
    stuffer = "203.0.113.66"
    answers = [await _sign_in(fe, stuffer, f"user{n}@example.com", "guess") for n in range(21)]
    assert [a.status for a in answers] == [401] * 20 + [429]
    assert _refused(answers[-1], "sign_in_ip") == 45  # 900 s / 20
    assert await admin.calls() == {SIGN_IN: 20}
    # That IP cannot sign in at all for now; another IP is unaffected.
    _refused(await _sign_in(fe, stuffer, "real@example.com"), "sign_in_ip")
    assert (await _sign_in(fe, "203.0.113.67", "nobody@example.com", "guess")).status == 401
    assert (await _sign_in(fe, "203.0.113.67", "real@example.com")).status == 200
    assert await admin.calls() == {SIGN_IN: 22}


async def test_concurrent_stuffing_gets_no_more_than_the_limit_to_punchh(
    fe: Frontend, admin: SandboxAdmin, ips: Iterator[str]
) -> None:
    victim = "victim@example.com"
    assert (await _sign_up(fe, next(ips), victim)).status == 201
    await admin.reset_calls()
    status, _ = await admin.post(
        "/__sandbox/faults",
        {"method": "POST", "path": "/api/auth/customers/sign_in", "latency_ms": 200},
    )
    assert status in (200, 201)
    # From one address: sign_in_account_ip's 5.
    stuffer = "203.0.113.66"
    guesses = [_sign_in(fe, stuffer, victim, f"guess-{i}") for i in range(12)]
    answers = await asyncio.gather(*guesses)
    assert (await admin.calls()).get(SIGN_IN, 0) <= 5
    assert sorted(a.status for a in answers) == [401] * 5 + [429] * 7
    # From 60 addresses at once: sign_in_account's 50, the 5 above included.
    guesses = [_sign_in(fe, next(ips), victim, f"guess-{i}") for i in range(60)]
    answers = await asyncio.gather(*guesses)
    assert (await admin.calls()).get(SIGN_IN, 0) <= 50
    assert sorted(a.status for a in answers) == [401] * 45 + [429] * 15


async def test_sso_code_guessing_counts_as_failed_sign_ins(
    fe: Frontend, admin: SandboxAdmin
) -> None:
    answers = []
    for n in range(21):
        body = {"grant_type": "authorization_code", "code": f"guess-{n}"}
        answers.append(
            await fe.call("POST", "/oauth/token", json=body, headers=_from("203.0.113.66"))
        )
    assert [a.status for a in answers[:20]] == [400] * 20
    assert answers[0].body == {"error": "invalid_grant"}
    assert await admin.calls() == {OAUTH: 20}
    _refused(answers[20], "sign_in_ip")


# -- OTP guessing -------------------------------------------------------------------------


async def test_wrong_otp_codes_count_as_failures_per_account(
    fe: Frontend, admin: SandboxAdmin, clock: ManualClock, ips: Iterator[str]
) -> None:
    email = "otp-victim@example.com"
    assert (await _send(fe, next(ips), email=email)).status == 200
    code = await admin.otp(email=email)
    wrong = [f"{(int(code) + n) % 1_000_000:06d}" for n in range(1, 6)]
    await admin.reset_calls()
    guesser = "203.0.113.66"
    for guess in wrong:  # from one address: the (account, address) budget
        answer = await _verify(fe, guesser, guess, email=email)
        assert answer.status == 422, answer
        assert answer.body["errors"]["otp"]
    assert _refused(await _verify(fe, guesser, code, email=email), "sign_in_account_ip") == 180
    _refused(await _verify(fe, guesser, code, email=email.upper()), "sign_in_account_ip")
    assert await admin.calls() == {OTP_VERIFY: 5}
    # The owner, from their own address, asks for a code (the sandbox, like Punchh, drops
    # one that was guessed at) and signs in with it.
    home = next(ips)
    assert (await _send(fe, home, email=email)).status == 200
    owner = await _verify(fe, home, await admin.otp(email=email), email=email)
    assert owner.status == 200, owner
    # Another account's OTP sign-in from the guesser's address is unaffected.
    assert (await _send(fe, next(ips), phone="555-030-0001")).status == 200
    other = await _verify(fe, guesser, await admin.otp(phone="5550300001"), phone="5550300001")
    assert other.status == 200, other
    # One attempt back for the guesser after 180 s.
    clock.advance(180)
    assert (await _verify(fe, guesser, wrong[0], email=email)).status == 422
    _refused(await _verify(fe, guesser, wrong[1], email=email), "sign_in_account_ip")


async def test_otp_guessing_from_many_addresses_is_stopped_at_50(
    fe: Frontend, admin: SandboxAdmin, ips: Iterator[str]
) -> None:
    email = "otp-victim@example.com"
    assert (await _send(fe, next(ips), email=email)).status == 200
    code = await admin.otp(email=email)
    wrong = [f"{(int(code) + n) % 1_000_000:06d}" for n in range(1, 52)]
    await admin.reset_calls()
    for guess in wrong[:50]:
        answer = await _verify(fe, next(ips), guess, email=email)
        assert answer.status == 422, answer
    assert _refused(await _verify(fe, next(ips), wrong[50], email=email), "sign_in_account") == 18
    _refused(await _verify(fe, next(ips), code, email=email.upper()), "sign_in_account")
    assert await admin.calls() == {OTP_VERIFY: 50}


async def test_a_decoy_user_email_does_not_reset_the_otp_guess_budget(
    fe: Frontend, admin: SandboxAdmin, ips: Iterator[str]
) -> None:
    email = "otp-victim@example.com"
    assert (await _send(fe, next(ips), email=email)).status == 200
    await admin.reset_calls()
    answers = []
    guesser = "203.0.113.66"
    for n in range(6):
        body = {"email": email, "otp": f"{n:06d}", "user": {"email": f"decoy{n}@x.co"}, **CONSENT}
        answers.append(
            await fe.call("POST", "/api2/password_less/verify", json=body, headers=_from(guesser))
        )
    assert await admin.calls() == {OTP_VERIFY: 5}
    _refused(answers[5], "sign_in_account_ip")


# -- sign-up floods -----------------------------------------------------------------------


async def test_sign_ups_per_ip_are_limited(fe: Frontend, admin: SandboxAdmin) -> None:
    flood = "203.0.113.99"
    answers = [await _sign_up(fe, flood, f"new{n}@example.com") for n in range(11)]
    assert [a.status for a in answers] == [201] * 10 + [429]
    assert _refused(answers[-1], "sign_up_ip") == 360  # 3600 s / 10
    # Mobile sign-ups are sign-ups too: the same budget.
    user = {"email": "mobile@example.com", "password": PASSWORD}
    mobile = await fe.call(
        "POST", "/api2/mobile/users", json={"user": user}, headers={**DEVICE, **_from(flood)}
    )
    _refused(mobile, "sign_up_ip")
    assert await admin.calls() == {SIGN_UP: 10}
    assert (await _sign_up(fe, "203.0.113.100", "elsewhere@example.com")).status == 201


async def test_a_spoofed_forwarded_for_does_not_change_the_key(
    sandbox: SandboxServer,
    make_gateway: GatewayFactory,
    state: SandboxState,
    admin: SandboxAdmin,
) -> None:
    # No trusted proxy: X-Forwarded-For is the client's word and is ignored.
    direct = Frontend(await make_gateway(sandbox.url), lambda: sandbox_tokens(state))
    statuses = []
    for n in range(11):
        answer = await _sign_up(direct, _random_ip(), f"direct{n}@example.com")
        statuses.append(answer.status)
    assert statuses == [201] * 10 + [429]
    # Behind the trusted proxy, only the address the proxy appended counts: whatever the
    # client put in front of it is not believed.
    proxied = Frontend(
        await make_gateway(sandbox.url, GATEWAY_TRUSTED_PROXIES="127.0.0.1"),
        lambda: sandbox_tokens(state),
    )
    statuses = []
    for n in range(11):
        chain = f"{_random_ip()}, {_random_ip()}, 203.0.113.50"
        answer = await _sign_up(proxied, chain, f"proxied{n}@example.com")
        statuses.append(answer.status)
    assert statuses == [201] * 10 + [429]
    assert await admin.calls() == {SIGN_UP: 20}


def _random_ip() -> str:
    return ".".join(str(b) for b in secrets.token_bytes(4))
