"""Attack review of "many businesses in one gateway" (issue 18).

The attacker is a guest, or a frontend, of one brand and wants another brand's guests,
tokens, cached answers, budgets or Punchh credentials; or wants the gateway to misbehave.
Two brands in one gateway (aiohttp's TestServer on 127.0.0.1, or a real gateway process)
in front of one sandbox that emulates both Punchh businesses: brand A is the top level
(the business `default`), brand B a `[[businesses]]` table on `brand-b.test` and
`*.brand-b.test`.

The first part holds the holes the review found (each test failed on the code it was
written against, 0fcb3d3, and says in its docstring what the attack reached; all three
are fixed: CORS per business, device keys unique across businesses, non-path request
targets answered in JSON). The second part pins attacks refused from the start, so that
they stay refused.
"""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass
from http.cookies import SimpleCookie
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from multidict import CIMultiDictProxy

from gateway.config import ConfigError, load_config
from gateway.hosts import HostMap
from middleware.select import Selector
from sandbox.server import SandboxServer
from tests.conftest import ADMIN, CLIENT_ID, CLIENT_SECRET, Client
from tests.support.brands import (
    B_DEVICE,
    B_HOST,
    BRAND_A_POS,
    Serve,
    brand_b,
    brands_env,
    order,
    redis_env,
)
from tests.support.process import gateway_process
from tests.support.raw_connection import Answer as RawAnswer
from tests.support.raw_connection import RawConnection
from tests.workflows.support import (
    DEVICE_KEY,
    NAMES,
    PASSWORD,
)

A_ORIGIN = "https://order.brand-a.example"
B_ORIGIN = "https://order.brand-b.example"


@dataclass
class Reply:
    status: int
    headers: CIMultiDictProxy[str]
    body: Any

    @property
    def code(self) -> str | None:
        error = self.body.get("error") if isinstance(self.body, dict) else None
        return error.get("code") if isinstance(error, dict) else None


async def call(
    gw: Client,
    method: str,
    path: str,
    *,
    host: str | None = None,
    token: str | None = None,
    json: Any = None,
    headers: dict[str, str] | None = None,
) -> Reply:
    sent = dict(headers or {})
    if host is not None:
        sent["Host"] = host
    if token is not None:
        sent["Authorization"] = f"Bearer {token}"
    async with gw.request(method, path, json=json, headers=sent) as resp:
        text = await resp.read()
        try:
            body: Any = await resp.json(content_type=None)
        except ValueError:
            body = text
        return Reply(resp.status, resp.headers, body)


def assert_gateway_error(reply: Reply, status: int, code: str) -> None:
    """The gateway's own error shape: a code, a message and the request id of the answer."""
    assert reply.status == status, reply
    assert reply.code == code, reply
    error = reply.body["error"]
    assert error["message"]
    assert error["request_id"] == reply.headers["X-Request-ID"]


async def sign_up(gw: Client, email: str, *, host: str | None = None) -> str:
    user = {"email": email, "password": PASSWORD, **NAMES}
    done = await call(gw, "POST", "/api/auth/customers.json", host=host, json={"user": user})
    assert done.status == 201, done
    return str(done.body["access_token"])


async def balance(gw: Client, token: str, host: str | None = None) -> int:
    got = await call(gw, "GET", "/api/auth/checkins/balance", host=host, token=token)
    assert got.status == 200, got
    return int(got.body["points_balance"])


# =====================================================================================
# Part 1: holes found by the review, fixed (each failed on 0fcb3d3).
# =====================================================================================


COOKIE_BRANDS = brand_b(
    extra=f'session.allowed_origins = ["{B_ORIGIN}"]\nsession.cookie_secure = false'
)


def _cookie_of(headers: CIMultiDictProxy[str]) -> str:
    jar: SimpleCookie = SimpleCookie()
    for header in headers.getall("Set-Cookie", []):
        jar.load(header)
    return jar["lg_session"].value


async def test_brand_a_origin_cannot_read_brand_b_guests_through_cors(
    two_brands: SandboxServer, serve: Serve
) -> None:
    """CORS is the union of every business's `session.allowed_origins`.

    Attack: brand A's frontend (`https://order.brand-a.example`, its own allowed origin)
    runs `fetch("https://brand-b.test/api/auth/users", {credentials: "include"})` in the
    browser of a guest signed in at brand B in cookie mode. The browser sends B's session
    cookie whenever SameSite lets it (`SameSite=None`, or both brands under one site, as
    an ordering platform's `brand-a.order.example` / `brand-b.order.example` are), and
    brand B's answer carries `Access-Control-Allow-Origin: <brand A's origin>` and
    `Access-Control-Allow-Credentials: true`: A's script reads B's guest's profile,
    balance and history. B's preflight answers A's origin 204 as well (only B's CSRF
    stage, for unsafe methods, checks B's own origins).
    Expected: brand B's answers and preflights treat brand A's origin like any other
    foreign origin (no CORS headers; preflight 403 origin_forbidden).
    """
    env = brands_env(two_brands.url, GATEWAY_COOKIE_MODE="1", GATEWAY_ALLOWED_ORIGINS=A_ORIGIN)
    env["GATEWAY_COOKIE_SECURE"] = "0"
    gw = await serve(BRAND_A_POS + COOKIE_BRANDS, env)
    user = {"email": "cors@example.com", "password": PASSWORD, **NAMES}
    async with gw.post(
        "/api/auth/customers.json",
        json={"user": user},
        headers={"Host": B_HOST, "Origin": B_ORIGIN},
    ) as resp:
        assert resp.status == 201, await resp.text()
        token_b = _cookie_of(resp.headers)
    gw.session.cookie_jar.clear()
    cookie = {"Cookie": f"lg_session={token_b}"}

    own = await call(
        gw, "GET", "/api/auth/users", host=B_HOST, headers={**cookie, "Origin": B_ORIGIN}
    )
    assert own.status == 200, own  # B's own frontend: served, readable (the control)
    assert own.headers["Access-Control-Allow-Origin"] == B_ORIGIN

    stolen = await call(
        gw, "GET", "/api/auth/users", host=B_HOST, headers={**cookie, "Origin": A_ORIGIN}
    )
    assert stolen.status == 200, stolen  # the session is B's, the cookie B's: served
    assert "Access-Control-Allow-Origin" not in stolen.headers, (
        "brand B's guest profile is readable by brand A's origin: "
        f"{dict(stolen.headers)} {stolen.body}"
    )
    preflight = await call(
        gw,
        "OPTIONS",
        "/api/auth/users",
        host=B_HOST,
        headers={"Origin": A_ORIGIN, "Access-Control-Request-Method": "GET"},
    )
    assert_gateway_error(preflight, 403, "origin_forbidden")


async def test_one_device_key_in_two_brands_is_refused(tmp_path: Path) -> None:
    """check-config refuses two devices sharing one key inside a table, not across brands.

    Attack (or mistake): brand B's `[[businesses.pos.devices]]` repeats a device key of
    brand A (a POS integrator's key copied between brands). Brand A's till then answers as
    brand B's store on B's host: it looks up B's guests by phone or e-mail and checks
    them in at B's location, though no one meant A's device to be B's.
    Expected: `load_config` refuses the key, naming both tables, as it does within one.
    """
    path = tmp_path / "gateway.toml"
    path.write_text(BRAND_A_POS + brand_b(device_key=DEVICE_KEY))
    with pytest.raises(ConfigError) as refused:
        load_config(str(path), brands_env("https://punchh.example"))
    text = str(refused.value)
    assert "pos.devices" in text
    assert DEVICE_KEY not in text


async def test_options_star_and_connect_answer_the_gateways_json(
    two_brands: SandboxServer, tmp_path: Path
) -> None:
    """`OPTIONS * HTTP/1.1` and `CONNECT brand-b.test:443 HTTP/1.1` (request targets with
    no leading '/') match no route, not even the catch-all `/{tail:.*}`, so aiohttp
    answers them itself: `404: Not Found` as text/plain, no `X-Request-ID`, no JSON error,
    no access log line or metric (the front never sees them). A real gateway process.
    Expected: the gateway's JSON error (400 invalid_path or 404) with a request id, like
    every other refusal.
    """
    path = tmp_path / "gateway.toml"
    path.write_text(BRAND_A_POS + brand_b())
    env = brands_env(two_brands.url, GATEWAY_CONFIG=str(path))
    async with gateway_process(env) as gw:
        for line in (b"OPTIONS * HTTP/1.1", b"CONNECT brand-b.test:443 HTTP/1.1"):
            conn = await RawConnection.open(gw.url)
            try:
                await conn.send(line + b"\r\nHost: " + B_HOST.encode() + b"\r\n\r\n")
                answer = await conn.answer()
            finally:
                await conn.close()
            assert answer.headers.get("Content-Type") == "application/json", (line, answer.raw)
            assert answer.json()["error"]["request_id"] == answer.headers["X-Request-ID"]


# =====================================================================================
# Part 2: attacks refused from the start (pinned).
# =====================================================================================


@pytest.fixture(params=["memory", "redis"])
async def gw(request: pytest.FixtureRequest, two_brands: SandboxServer, serve: Serve) -> Client:
    more = redis_env() if request.param == "redis" else {}
    return await serve(BRAND_A_POS + brand_b(), brands_env(two_brands.url, **more))


# Spellings of brand B's host: all select B, so a token of A under any of them is B's 401.
B_SPELLINGS = (
    B_HOST,
    "BRAND-B.TEST",
    "brand-b.test.",
    "brand-b.test:8443",
    "[brand-b.test]",
    "shop.Brand-B.test:80",
    ".brand-b.test",
)
# Hosts that only look like B's: none selects B, so a token of B there is A's 401.
NOT_B = (
    "brand-b.test.evil.example",
    "xbrand-b.test",
    "brand-b.test:80:80",
    "brand-b.test/",
    "brand-b.test@127.0.0.1",
    "a." * 125 + "brand-b.test",  # longer than any host name: matches nothing
    "",
)


async def test_refused_a_token_of_one_brand_at_the_other_under_any_host_spelling(
    gw: Client, two_brands: SandboxServer
) -> None:
    token_a = await sign_up(gw, "spell-a@example.com")
    token_b = await sign_up(gw, "spell-b@example.com", host=B_HOST)
    assert await balance(gw, token_a) == 0
    assert await balance(gw, token_b, B_HOST) == 0
    for host in B_SPELLINGS:
        got = await call(gw, "GET", "/api/auth/checkins/balance", host=host, token=token_a)
        assert_gateway_error(got, 401, "invalid_session")
    for host in NOT_B:
        got = await call(gw, "GET", "/api/auth/checkins/balance", host=host, token=token_b)
        assert_gateway_error(got, 401, "invalid_session")
    # Neither brand's session was hurt by the attempts.
    assert await balance(gw, token_a) == 0
    assert await balance(gw, token_b, B_HOST) == 0


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/gateway/logout"),
        ("POST", "/gateway/logout/all"),
        ("POST", "/api2/password_less/refresh_token"),
        ("POST", "/api/auth/checkins/online_order"),
        ("GET", "/api/auth/users"),
    ],
)
async def test_refused_brand_a_token_on_brand_b_routes_never_reaches_punchh(
    gw: Client, two_brands: SandboxServer, method: str, path: str
) -> None:
    """Logout, logout-all, refresh, a write and a read at B with A's token: 401, Punchh
    is not asked, and A's session lives on (a foreign token ends nothing)."""
    token_a = await sign_up(gw, f"routes-{uuid.uuid4().hex[:6]}@example.com")
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{two_brands.url}/__sandbox/calls") as resp:
            before = await resp.json()
        json = order("x-1", 5.0) if path.endswith("online_order") else {}
        got = await call(gw, method, path, host=B_HOST, token=token_a, json=json)
        assert_gateway_error(got, 401, "invalid_session")
        async with http.get(f"{two_brands.url}/__sandbox/calls") as resp:
            assert await resp.json() == before
    assert await balance(gw, token_a) == 0


async def test_refused_brand_a_cookie_at_brand_b(two_brands: SandboxServer, serve: Serve) -> None:
    """Cookie mode: A's session cookie sent to B's host (by a frontend that copies it, or
    a shared cookie jar) is 401 invalid_session, also with the header naming B."""
    env = brands_env(two_brands.url, GATEWAY_COOKIE_MODE="1", GATEWAY_ALLOWED_ORIGINS=A_ORIGIN)
    env["GATEWAY_COOKIE_SECURE"] = "0"
    gw = await serve(BRAND_A_POS + COOKIE_BRANDS, env)
    user = {"email": "cookie-a@example.com", "password": PASSWORD, **NAMES}
    async with gw.post(
        "/api/auth/customers.json", json={"user": user}, headers={"Origin": A_ORIGIN}
    ) as resp:
        assert resp.status == 201, await resp.text()
        token_a = _cookie_of(resp.headers)
    gw.session.cookie_jar.clear()
    cookie = {"Cookie": f"lg_session={token_a}"}
    mine = await call(gw, "GET", "/api/auth/checkins/balance", headers=cookie)
    assert mine.status == 200, mine
    for extra, host in (({}, B_HOST), ({"X-Loyalty-Business": "brand-b"}, "127.0.0.1")):
        got = await call(
            gw, "GET", "/api/auth/checkins/balance", host=host, headers={**cookie, **extra}
        )
        assert_gateway_error(got, 401, "invalid_session")


async def test_refused_the_business_header_cannot_carry_a_token_across(gw: Client) -> None:
    """From loopback `X-Loyalty-Business` picks the business, but a token still belongs to
    its own: B's token with the header naming `default`, and A's naming `brand-b`, are
    401; an unknown, empty or cased name is 404 unknown_business."""
    token_a = await sign_up(gw, "hdr-a@example.com")
    token_b = await sign_up(gw, "hdr-b@example.com", host=B_HOST)
    for token, name, host in ((token_b, "default", B_HOST), (token_a, "brand-b", "127.0.0.1")):
        got = await call(
            gw,
            "GET",
            "/api/auth/checkins/balance",
            host=host,
            token=token,
            headers={"X-Loyalty-Business": name},
        )
        assert_gateway_error(got, 401, "invalid_session")
    for name in ("brand-c", "", "Brand-B", "default, brand-b", "brand-b:"):
        got = await call(
            gw,
            "GET",
            "/api/auth/checkins/balance",
            token=token_a,
            headers={"X-Loyalty-Business": name},
        )
        assert_gateway_error(got, 404, "unknown_business")


async def test_refused_x_forwarded_host_does_not_pick_a_business(
    two_brands: SandboxServer, serve: Serve
) -> None:
    """Only `Host` (and, from loopback or trusted proxies, `X-Loyalty-Business`) picks the
    business: `X-Forwarded-Host` and `Forwarded: host=` are ignored."""
    toml = f"""
[[businesses]]
name = "brand-a"
hosts = ["brand-a.test"]
punchh.client_id = "{CLIENT_ID}"
punchh.client_secret = "{CLIENT_SECRET}"
""" + brand_b().split("[[businesses.pos")[0].replace("pos.enabled = true", "")
    env = brands_env(two_brands.url)
    del env["PUNCHH_CLIENT_ID"], env["PUNCHH_CLIENT_SECRET"], env["PUNCHH_BUSINESS_KEY"]
    gw = await serve(toml, env)
    for headers in ({"X-Forwarded-Host": B_HOST}, {"Forwarded": f"host={B_HOST}"}):
        got = await call(gw, "GET", "/api/auth/checkins/balance", host="127.0.0.1", headers=headers)
        assert_gateway_error(got, 404, "unknown_business")


async def test_refused_no_business_for_the_host_is_json_404_even_on_http_1_0(
    two_brands: SandboxServer, tmp_path: Path
) -> None:
    """A gateway with no `default` business, a real process: no Host (HTTP/1.0), a Host
    of 300 characters, an IPv6 literal, many dots: each is the JSON 404
    unknown_business with a request id, never echoed; duplicate Host headers are the
    parser's JSON 400."""
    path = tmp_path / "gateway.toml"
    path.write_text(
        f"""
[[businesses]]
name = "brand-a"
hosts = ["brand-a.test"]
punchh.client_id = "{CLIENT_ID}"
punchh.client_secret = "{CLIENT_SECRET}"
"""
        + brand_b().split("[[businesses.pos")[0].replace("pos.enabled = true", "")
    )
    env = brands_env(two_brands.url, GATEWAY_CONFIG=str(path))
    del env["PUNCHH_CLIENT_ID"], env["PUNCHH_CLIENT_SECRET"], env["PUNCHH_BUSINESS_KEY"]
    target = b"GET /api/auth/checkins/balance "
    cases = {
        "no host": (target + b"HTTP/1.0\r\n\r\n", 404, "unknown_business"),
        "long host": (
            target + b"HTTP/1.1\r\nHost: " + b"echo-" * 60 + b"\r\n\r\n",
            404,
            "unknown_business",
        ),
        "ipv6": (target + b"HTTP/1.1\r\nHost: [::1]:8080\r\n\r\n", 404, "unknown_business"),
        "dots": (
            target + b"HTTP/1.1\r\nHost: " + b"." * 250 + b"\r\n\r\n",
            404,
            "unknown_business",
        ),
        "two hosts": (
            target + b"HTTP/1.1\r\nHost: brand-a.test\r\nHost: brand-b.test\r\n\r\n",
            400,
            "malformed_request",
        ),
    }
    async with gateway_process(env) as gw:
        for name, (raw, status, code) in cases.items():
            conn = await RawConnection.open(gw.url)
            try:
                await conn.send(raw)
                answer: RawAnswer = await conn.answer()
            finally:
                await conn.close()
            assert answer.status == status, (name, answer.raw)
            error = answer.json()["error"]
            assert error["code"] == code, (name, error)
            assert error["request_id"] == answer.headers["X-Request-ID"]
            assert b"echo-" not in answer.raw
        logs = gw.logs()
    assert "echo-" not in logs


async def test_refused_cached_answers_and_single_flight_stay_per_brand_on_redis(
    two_brands: SandboxServer, serve: Serve
) -> None:
    """The same e-mail at both brands (the sandbox may give both guests one id), different
    balances, 20 concurrent cached reads at each brand on one Redis: every answer is its
    own brand's, also after a write at one brand made the entries stale."""
    gw = await serve(BRAND_A_POS + brand_b(), brands_env(two_brands.url, **redis_env()))
    token_a = await sign_up(gw, "flight@example.com")
    token_b = await sign_up(gw, "flight@example.com", host=B_HOST)
    ok = await call(
        gw, "POST", "/api/auth/checkins/online_order", token=token_a, json=order("f-1", 7.0)
    )
    assert ok.status == 200, ok
    for _ in range(2):
        reads = [balance(gw, token_a) for _ in range(20)]
        reads += [balance(gw, token_b, B_HOST) for _ in range(20)]
        got = await asyncio.gather(*reads)
        assert got == [7] * 20 + [0] * 20
        ok = await call(
            gw,
            "POST",
            "/api/auth/checkins/online_order",
            host=B_HOST,
            token=token_b,
            json=order("f-2", 0.0),
        )
        assert ok.status == 200, ok


async def test_refused_pos_device_of_one_brand_at_the_other(gw: Client) -> None:
    """A's till on B's host, B's till on A's (also via the header from loopback): 401
    invalid_device_key, never a look-up in the other brand."""
    cases: tuple[tuple[str, dict[str, str]], ...] = (
        (DEVICE_KEY, {"Host": B_HOST}),
        (B_DEVICE, {}),
        (DEVICE_KEY, {"X-Loyalty-Business": "brand-b"}),
    )
    for key, extra in cases:
        headers = {"Authorization": f"Token token={key}", **extra}
        async with gw.get(
            "/api/pos/users/search", params={"email": "x@example.com"}, headers=headers
        ) as resp:
            body = await resp.json()
            assert resp.status == 401, body
            assert body["error"]["code"] == "invalid_device_key"


async def test_refused_metrics_hold_no_attacker_host_or_business_name(gw: Client) -> None:
    """Made-up hosts and business names become no label: metrics name configured
    businesses only (or none), and /metrics at a brand's host still needs the admin
    token."""
    for i in range(30):
        await call(gw, "GET", "/api/auth/no-such", host=f"evil-{i}.attacker.example")
        await call(gw, "GET", "/api/auth/no-such", headers={"X-Loyalty-Business": f"evil-{i}"})
    refused = await call(gw, "GET", "/metrics", host=B_HOST)
    assert refused.status == 401, refused
    async with gw.get("/metrics", headers=ADMIN) as resp:
        text = await resp.text()
    assert "evil-" not in text
    assert "attacker" not in text
    businesses = {
        part.split('"')[1]
        for line in text.splitlines()
        if not line.startswith("#")
        for part in line.split(",")
        if part.lstrip("{").startswith("business=")
    }
    assert businesses <= {"", "default", "brand-b"}, businesses


def test_refused_the_business_header_from_a_stranger_is_ignored() -> None:
    """`Selector.pick` directly (the tests' peers are all loopback): the header decides
    only for loopback (IPv4, IPv6, IPv4-mapped) and trusted proxies; from anyone else,
    and for an unparsable or missing peer, the Host decides."""
    import ipaddress

    trusted = [ipaddress.ip_network("10.0.0.0/8")]
    select: Selector[str] = Selector(
        [("default", (), "A"), ("brand-b", ("brand-b.test",), "B"), ("hidden", (), "H")],
        trusted,
    )
    for peer in ("127.0.0.1", "::1", "::ffff:127.0.0.1", "10.1.2.3", "::ffff:10.1.2.3"):
        assert select.pick("hidden", "brand-b.test", peer) == "H", peer
    for stranger in ("203.0.113.7", "::ffff:203.0.113.7", "2001:db8::1", "", None, "fe80::1%eth0"):
        assert select.pick("hidden", "brand-b.test", stranger) == "B", stranger
        assert select.pick("hidden", "other.test", stranger) == "A", stranger


def test_refused_a_flood_of_made_up_hosts_keeps_the_host_memory_bounded() -> None:
    """HostMap remembers at most 4096 Host headers and none longer than a host name."""
    hosts: HostMap[str] = HostMap([("*.brand-b.test", "B")], "A")
    for i in range(20000):
        assert hosts.find(f"x{i}.brand-b.test") == "B"
        assert hosts.find(f"{i}." * 40 + "evil.example") == "A"
    assert len(hosts._seen) <= 4096
    assert hosts.find("a." * 200 + "brand-b.test") == "A"
