"""Failover mid-traffic, on Redis Sentinel and on Redis Cluster: two real gateway processes
sharing an HA Redis set of the test's own, in front of one standalone sandbox process, under
steady traffic (sign-ins, check-ins with an `Idempotency-Key`, balance and profile reads),
while the master serving the guests' sessions is SIGKILLed.

What must hold:
- every answer is a 2xx, or a 503 whose code says a Redis store could not answer
  (`session_store_unavailable`; `rate_limiter_unavailable` for the fail-closed sign-in
  policies): never a 500 nor any other status, never a request left without an answer;
- the 503s last less than WINDOW_LIMIT seconds, first to last (printed: `pytest -s`);
- after the failover, every session made before the kill still works through both
  gateways (a profile read past the cache, so with the session's Punchh token);
- a check-in answered 503 (or not answered) is sent again with the same key and body until
  it gets a definite answer, as a client would: every check-in ends 2xx, and the sandbox's
  ledger has each exactly once, for its guest, with the check-in and points answered; each
  guest's lifetime points are the ledger's sum, and the balance read through each gateway
  is the sandbox's.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import random
import secrets
import subprocess
import sys
import time
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from gateway.tokens import guest_tag
from tests.conftest import CLIENT_ID, CLIENT_SECRET, gateway_env
from tests.replicas.test_cache_replicas import BALANCE, Guest
from tests.store.conftest import STORE_KEY
from tests.support.process import GatewayProcess, free_port, gateway_process
from tests.support.redis_ha import RedisClusterServers, RedisSentinelServers
from tests.workflows.support import PASSWORD, RECEIPT_AT, menu_items

HOST = "127.0.0.1"
SIGN_IN = "/api/auth/customers/sign_in"
CHECKIN = "/api/auth/checkins/online_order"
PROFILE = "/api/auth/users"
NO_CACHE = {"Cache-Control": "no-cache"}

# The 503s a client may get while Redis fails over (gateway/described.py ERRORS).
STORE_503 = frozenset({"session_store_unavailable", "rate_limiter_unavailable"})
GUESTS = 6
WORKERS = 6
PAUSE = 0.02  # seconds between two requests of a worker
RETRY_PAUSE = 0.1  # before a check-in is sent again
BEFORE_KILL = 1.5  # seconds of traffic before the master is killed
AFTER_FAILOVER = 2.0  # seconds of traffic once the failover is done
CHECKIN_LIMIT = 20.0  # seconds a check-in is sent again at most
WINDOW_LIMIT = 15.0
# Each op of a worker's cycle in turn (a worker starts at its own place in it).
OPS = ("checkin", "balance", "profile", "checkin", "balance", "sign_in")


def _clean_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith(("PUNCHH_", "GATEWAY_"))}


def _spawn_sandbox(port: int, env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    args = [sys.executable, "-m", "gateway.cli", "sandbox", "--host", HOST, "--port", str(port)]
    with log.open("wb") as sink:
        return subprocess.Popen(args, env=env, stdout=sink, stderr=subprocess.STDOUT)


@pytest.fixture
async def standalone_sandbox(tmp_path: Path) -> AsyncIterator[str]:
    """The Punchh sandbox in a process of its own (`python -m gateway.cli sandbox`, as
    bench/soak.py starts it): its URL."""
    port = free_port()
    env = {
        **_clean_env(),
        "PUNCHH_CLIENT_ID": CLIENT_ID,
        "PUNCHH_CLIENT_SECRET": CLIENT_SECRET,
        "GATEWAY_LOG_LEVEL": "WARNING",
    }
    log = tmp_path / "sandbox.log"
    proc = _spawn_sandbox(port, env, log)
    url = f"http://{HOST}:{port}"
    try:
        deadline = time.monotonic() + 20
        async with aiohttp.ClientSession() as http:
            while True:
                if proc.poll() is not None:
                    raise RuntimeError(f"sandbox exited {proc.returncode}:\n{log.read_text()}")
                try:
                    async with http.get(f"{url}/__sandbox/faults") as resp:
                        if resp.status == 200:
                            break
                except aiohttp.ClientConnectionError:
                    pass
                assert time.monotonic() < deadline, f"sandbox not ready:\n{log.read_text()}"
                await asyncio.sleep(0.05)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _config(tmp_path: Path) -> Path:
    """Every request comes from 127.0.0.1 and a few guests: the per-IP and per-session
    budgets out of reach. The limiter still runs in Redis; the abuse policies are the
    built-in ones (the sign-in ones fail closed)."""
    path = tmp_path / "gateway.toml"
    path.write_text(
        "[rate_limit.policies.ip]\nlimit = 1000000\nwindow = 1\n\n"
        "[rate_limit.policies.session]\nlimit = 1000000\nwindow = 1\n"
    )
    return path


@dataclass
class Answer:
    at: float  # time.monotonic() when the answer (or the failure) came
    op: str
    via: str  # "a" or "b"
    status: int  # 0: no answer (the connection to the gateway failed)
    code: str  # the gateway's error code, if any
    guest: int  # the guest's user id
    detail: str = ""

    def describe(self, t0: float) -> str:
        return (
            f"{self.at - t0:+.3f} s {self.op} of guest {self.guest} via {self.via}: "
            f"{self.status} {self.detail}"
        )

    def ok(self) -> bool:
        return 200 <= self.status < 300 or (self.status == 503 and self.code in STORE_503)


@dataclass
class Token:
    guest: Guest
    token: str
    made_at: float
    via: str


@dataclass
class CheckIn:
    key: str
    guest: Guest
    body: dict[str, Any]
    answers: list[Answer] = field(default_factory=list)
    doc: dict[str, Any] | None = None  # the 2xx answer's body

    @property
    def final(self) -> Answer | None:
        """The definite answer: the last one, unless it is a 503 or none."""
        if not self.answers or self.answers[-1].status in (0, 503):
            return None
        return self.answers[-1]


class Traffic:
    """Workers alternating between the two gateways until stopped; every answer kept."""

    def __init__(
        self, http: aiohttp.ClientSession, gateways: dict[str, str], tokens: list[Token]
    ) -> None:
        self.http, self.gateways, self.tokens = http, gateways, tokens
        self.guests = list({id(t.guest): t.guest for t in tokens}.values())
        self.run_id = secrets.token_hex(3)
        self.keys = itertools.count(1)
        self.answers: list[Answer] = []
        self.checkins: list[CheckIn] = []
        self.stop = asyncio.Event()

    async def call(
        self,
        op: str,
        via: str,
        guest: Guest,
        method: str,
        path: str,
        *,
        token: str | None = None,
        body: Any = None,
        headers: dict[str, str] | None = None,
    ) -> tuple[Answer, Any]:
        sent = dict(headers or {})
        if token is not None:
            sent["Authorization"] = f"Bearer {token}"
        try:
            async with self.http.request(
                method, self.gateways[via] + path, json=body, headers=sent
            ) as resp:
                status, raw = resp.status, await resp.read()
        except (aiohttp.ClientError, TimeoutError) as exc:
            answer = Answer(time.monotonic(), op, via, 0, "", guest.user_id, repr(exc))
            self.answers.append(answer)
            return answer, None
        try:
            doc = json.loads(raw) if raw else None
        except ValueError:
            doc = None
        error = doc.get("error") if isinstance(doc, dict) else None
        code = str(error.get("code", "")) if isinstance(error, dict) else ""
        detail = "" if status < 300 else raw[:300].decode("utf-8", "replace")
        answer = Answer(time.monotonic(), op, via, status, code, guest.user_id, detail)
        self.answers.append(answer)
        return answer, doc

    async def sign_in(self, guest: Guest, via: str) -> None:
        body = {"user": {"email": guest.email, "password": PASSWORD}}
        answer, doc = await self.call("sign_in", via, guest, "POST", SIGN_IN, body=body)
        if answer.status == 200 and isinstance(doc, dict):
            assert int(doc["id"]) == guest.user_id, doc
            self.tokens.append(Token(guest, str(doc["access_token"]), answer.at, via))

    async def checkin(self, token: Token, turn: int) -> None:
        """A fresh check-in, sent again (same key, same body, either gateway) after a 503
        or no answer, until a definite answer or CHECKIN_LIMIT."""
        n = next(self.keys)
        key = f"failover-{self.run_id}-{n}"
        amount = float(5 + n % 20)
        body = {
            "receipt_amount": amount,
            "subtotal_amount": amount,
            "payable": f"{amount:.2f}",
            "receipt_datetime": RECEIPT_AT,
            "transaction_no": key,
            "channel": "online_order",
            "menu_items": menu_items(amount),
        }
        checkin = CheckIn(key, token.guest, body)
        self.checkins.append(checkin)
        give_up = time.monotonic() + CHECKIN_LIMIT
        for attempt in itertools.count():
            via = "ab"[(turn + attempt) % 2]
            answer, doc = await self.call(
                "checkin",
                via,
                token.guest,
                "POST",
                CHECKIN,
                token=token.token,
                body=body,
                headers={"Idempotency-Key": key},
            )
            checkin.answers.append(answer)
            if answer.status not in (0, 503):
                checkin.doc = doc if isinstance(doc, dict) else None
                return
            if time.monotonic() > give_up:
                return
            await asyncio.sleep(RETRY_PAUSE)

    async def worker(self, w: int) -> None:
        rng = random.Random(w)
        for n in itertools.count(w):
            if self.stop.is_set():
                return
            # Every op through each gateway in turn: the gateway flips once a cycle.
            op, via = OPS[n % len(OPS)], "ab"[(n + n // len(OPS)) % 2]
            guest = rng.choice(self.guests)
            token = rng.choice([t for t in self.tokens if t.guest is guest])
            if op == "checkin":
                await self.checkin(token, n)
            elif op == "sign_in":
                await self.sign_in(guest, via)
            elif op == "balance":
                await self.call(op, via, guest, "GET", BALANCE, token=token.token)
            else:
                await self.call(op, via, guest, "GET", PROFILE, token=token.token)
            await asyncio.sleep(PAUSE)


async def _guests(http: aiohttp.ClientSession, sandbox: str, a: str, b: str) -> list[Token]:
    """GUESTS guests, each signed up through one gateway and signed in through the other
    (half of them each way): two sessions a guest."""
    tokens: list[Token] = []
    run = secrets.token_hex(3)
    for i in range(GUESTS):
        first, second = (a, b) if i % 2 == 0 else (b, a)
        guest = Guest(http, sandbox, f"failover-{run}-{i}@example.com")
        await guest.sign_up(first)
        tokens.append(Token(guest, guest.token, time.monotonic(), first))
        await guest.sign_in(second)
        tokens.append(Token(guest, guest.token, time.monotonic(), second))
    return tokens


def _busiest_master(servers: RedisClusterServers, guests: list[Guest]) -> int:
    """The master serving the most guests' session slots (the hash tag of their keys)."""
    masters = Counter(servers.master_for_key("{" + guest_tag(str(g.user_id)) + "}") for g in guests)
    return masters.most_common(1)[0][0]


def _warnings(gp: GatewayProcess, name: str, limit: int = 60) -> str:
    """The gateway's log lines above INFO (the access log left out), the last `limit`."""
    lines = [line for line in gp.logs().splitlines() if '"level": "info"' not in line]
    return f"--- gateway {name} ({gp.url}), log lines above INFO ---\n" + "\n".join(lines[-limit:])


async def _get(http: aiohttp.ClientSession, url: str, headers: dict[str, str]) -> tuple[int, Any]:
    async with http.get(url, headers=headers) as resp:
        return resp.status, await resp.json()


async def _audit(
    http: aiohttp.ClientSession, sandbox: str, traffic: Traffic, gateways: dict[str, str]
) -> list[str]:
    """Every check-in against the sandbox's ledger; every guest's points (bench/soak.py's
    `audit`, simpler: a check-in here ends with a 2xx, or the test fails anyway)."""
    status, found = await _get(http, f"{sandbox}/__sandbox/ledger", {})
    assert status == 200, found
    ledger: list[dict[str, Any]] = found["checkins"]
    ours = [e for e in ledger if str(e["external_uid"]).startswith(f"failover-{traffic.run_id}-")]
    count = Counter(str(e["external_uid"]) for e in ours)
    entry = {str(e["external_uid"]): e for e in ours}
    sent = {c.key for c in traffic.checkins}
    problems = [f"{k}: in the ledger, never sent" for k in count if k not in sent]
    for c in traffic.checkins:
        applied = c.final is not None and 200 <= c.final.status < 300
        if count[c.key] > 1 or (applied and count[c.key] != 1):
            problems.append(f"{c.key}: {count[c.key]} times in the ledger; answers {c.answers}")
            continue
        if not applied:
            continue  # not settled with a 2xx: a failure of its own, above
        e = entry[c.key]
        if e["user_id"] != c.guest.user_id:
            problems.append(f"{c.key}: applied for guest {e['user_id']}, not {c.guest.user_id}")
        answered = (c.doc or {}).get("checkin") or {}
        got = tuple(answered.get(k) for k in ("external_uid", "checkin_id", "points_earned"))
        if got != (c.key, e["checkin_id"], e["points"]):
            problems.append(f"{c.key}: answered {got}, ledger {e}")
    sums: Counter[int] = Counter()
    for e in ledger:
        if not e["voided"]:
            sums[int(e["user_id"])] += int(e["points"])
    for guest in traffic.guests:
        status, state = await _get(http, f"{sandbox}/__sandbox/users/{guest.user_id}", {})
        assert status == 200, state
        balance = state["balance"]
        if balance["lifetime_points"] != sums[guest.user_id]:
            problems.append(
                f"guest {guest.user_id}: lifetime_points {balance['lifetime_points']}, "
                f"ledger {sums[guest.user_id]}"
            )
        auth = {"Authorization": f"Bearer {guest.token}", **NO_CACHE}
        for name, url in gateways.items():
            status, doc = await _get(http, url + BALANCE, auth)
            if status != 200 or doc.get("points_balance") != balance["points_balance"]:
                problems.append(
                    f"guest {guest.user_id}: gateway {name} {status} {doc}, "
                    f"sandbox points_balance {balance['points_balance']}"
                )
    return problems


def _sign_ins(guests: set[int], answers: list[Answer], t0: float) -> str:
    """These guests' sign-ins from a second before `t0` on: when, through which gateway,
    what status and code."""
    lines = []
    for guest in sorted(guests):
        seen = [
            f"{a.at - t0:+.2f} s {a.via} {a.status} {a.code}".rstrip()
            for a in answers
            if a.guest == guest and a.op == "sign_in" and a.at > t0 - 1
        ]
        lines.append(f"  sign-ins of guest {guest}: " + ", ".join(seen))
    return "\n".join(lines)


def _summary(answers: list[Answer], t0: float) -> str:
    """Answers by op, status and code: how many, first and last (seconds after `t0`)."""
    kinds: dict[str, list[float]] = {}
    for a in answers:
        kinds.setdefault(f"{a.op} {a.status or 'no answer'} {a.code}".strip(), []).append(a.at)
    first = min((a.at for a in answers), default=t0)
    last = max((a.at for a in answers), default=t0)
    return (
        f"{len(answers)} answers from {first - t0:+.2f} s to {last - t0:+.2f} s after the "
        "kill:\n"
        + "\n".join(
            f"  {k} x{len(at)} ({min(at) - t0:+.2f} s to {max(at) - t0:+.2f} s)"
            for k, at in sorted(kinds.items())
        )
    )


@pytest.mark.parametrize("kind", ["sentinel", "cluster"])
async def test_failover_mid_traffic(
    kind: str, request: pytest.FixtureRequest, standalone_sandbox: str, tmp_path: Path
) -> None:
    servers: RedisSentinelServers | RedisClusterServers = request.getfixturevalue(
        "fresh_redis_" + kind
    )
    sandbox = standalone_sandbox
    env = gateway_env(
        sandbox,
        GATEWAY_CONFIG=str(_config(tmp_path)),
        GATEWAY_STORE_URL=servers.url,
        GATEWAY_STORE_KEY=STORE_KEY,
        GATEWAY_STORE_PREFIX=f"lgtest:{secrets.token_hex(4)}:",
        GATEWAY_STORE_TIMEOUT="0.3",
        # Sign-ins through the traffic must not end the sessions made before the kill
        # (the per-guest limit, 10 by default, ends a guest's oldest).
        GATEWAY_SESSION_MAX_PER_USER="1000",
    )
    async with AsyncExitStack() as stack:
        a = await stack.enter_async_context(gateway_process(env))
        b = await stack.enter_async_context(gateway_process(env))
        http = await stack.enter_async_context(
            aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10))
        )
        gateways = {"a": a.url, "b": b.url}

        def logs() -> str:
            return _warnings(a, "a") + "\n" + _warnings(b, "b")

        tokens = await _guests(http, sandbox, a.url, b.url)
        before = list(tokens)
        traffic = Traffic(http, gateways, tokens)
        workers = [asyncio.create_task(traffic.worker(w)) for w in range(WORKERS)]
        try:
            await asyncio.sleep(BEFORE_KILL)
            killed_at = time.monotonic()
            if isinstance(servers, RedisSentinelServers):
                dead = await asyncio.to_thread(servers.kill_master)
            else:
                dead = await asyncio.to_thread(_busiest_master, servers, traffic.guests)
                await asyncio.to_thread(servers.kill, dead)
            failover = await asyncio.to_thread(servers.wait_failover, dead)
            failed_over_at = time.monotonic()
            await asyncio.sleep(AFTER_FAILOVER)
        finally:
            traffic.stop.set()
            await asyncio.gather(*workers)
        answers = traffic.answers
        summary = _summary(answers, killed_at)
        unavailable = [x.at for x in answers if x.status == 503]
        window = max(unavailable) - min(unavailable) if unavailable else 0.0
        print(
            f"\n{kind}: master {dead} killed; failover seen by the test after "
            f"{failed_over_at - killed_at:.2f} s (wait_failover {failover:.2f} s)\n{summary}"
        )
        print(f"503 window: {window:.2f} s")
        # The scenario ran as meant: traffic before the kill, during the failover, after it.
        assert any(x.at < killed_at for x in answers), summary
        assert any(killed_at < x.at < failed_over_at for x in answers), summary
        assert any(x.at > failed_over_at for x in answers), summary
        assert traffic.checkins, summary

        failures: list[str] = []
        bad = [x for x in answers if not x.ok()]
        if bad:
            failures.append(
                f"{len(bad)} answers neither 2xx nor a store 503 (seconds after the kill):\n"
                + "\n".join(x.describe(killed_at) for x in bad[:20])
                + "\n"
                + _sign_ins({x.guest for x in bad}, answers, killed_at)
            )
        if window >= WINDOW_LIMIT:
            failures.append(f"503s for {window:.2f} s, from first to last")
        unsettled = [c for c in traffic.checkins if c.final is None]
        if unsettled:
            failures.append(
                f"{len(unsettled)} check-ins answered 503 or nothing for {CHECKIN_LIMIT} s: "
                + "; ".join(
                    f"{c.key}: {[x.describe(killed_at) for x in c.answers]}" for c in unsettled[:3]
                )
            )

        # Every session made before the kill works through both gateways, past the cache.
        made_before = before + [t for t in tokens[len(before) :] if t.made_at < killed_at]
        lost = []
        for t in made_before:
            for name, url in gateways.items():
                auth = {"Authorization": f"Bearer {t.token}", **NO_CACHE}
                status, doc = await _get(http, url + PROFILE, auth)
                if status != 200 or doc.get("id") != t.guest.user_id:
                    lost.append(
                        f"session of guest {t.guest.user_id} made through {t.via} at "
                        f"{t.made_at - killed_at:+.2f} s: {status} through {name}: {doc}"
                    )
        if lost:
            failures.append(
                f"{len(lost)} of {2 * len(made_before)} profile reads with sessions made "
                "before the kill failed:\n" + "\n".join(lost[:10])
            )

        failures += await _audit(http, sandbox, traffic, gateways)
        assert not failures, "\n\n".join(failures) + f"\n\n{summary}\n\n{logs()}"
