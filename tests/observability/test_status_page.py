"""The status page (`GET /gateway/status`) after real traffic, as a browser renders it.

A real gateway process (`python -m gateway`, embedded sandbox, a separate admin port)
serves a sign-up, an online-order check-in, two balance reads (a cache miss, then a hit),
a 404 and a 401. Headless Chromium then renders the page from the admin port: `--dump-dom`
for the content (`--dump-dom` cannot send an `Authorization` header, hence the admin port,
which needs none) and `--screenshot` for the picture.

Two businesses (issue 18): a gateway with a top-level business and a `[[businesses]]`
table (brand-b, on its own hosts) gets requests with and without brand-b's `Host`; its page
has a Businesses section with a row per business and that business's counts. A gateway with
only its `default` business has no such section.

Chromium comes from Debian (`chromium`); it is installed when missing. The test is skipped,
loudly, only when that package cannot be had.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import aiohttp
import jinja2
import pytest

from gateway.routes import PUNCHH_ROUTES
from tests.support.chromium import find_chromium, run_chromium
from tests.support.process import free_port, gateway_process

ROOT = Path(__file__).resolve().parents[2]
CHECKIN_ROUTE = "POST /api/auth/checkins/online_order"
B_HOST = "brand-b.localhost"
BALANCE_ROUTE = "GET /api/auth/checkins/balance"

# -- Chromium (tests/support/chromium.py) ----------------------------------------------


@pytest.fixture(scope="module")
def chromium() -> str:
    """The Chromium binary; installed from Debian when missing, skipped LOUDLY if impossible."""
    return find_chromium("the status page was NOT rendered or checked")


# -- a small DOM, from what Chromium dumps ---------------------------------------------

VOID = frozenset({"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta"})


@dataclass
class Node:
    tag: str
    attrs: dict[str, str]
    children: list[Node | str] = field(default_factory=list)

    def text(self) -> str:
        parts = (c.text() if isinstance(c, Node) else c for c in self.children)
        return re.sub(r"\s+", " ", " ".join(parts)).strip()

    def walk(self) -> Iterator[Node]:
        for c in self.children:
            if isinstance(c, Node):
                yield c
                yield from c.walk()

    def all(self, tag: str | None = None, *, cls: str | None = None, **attrs: str) -> list[Node]:
        return [
            n
            for n in self.walk()
            if (tag is None or n.tag == tag)
            and (cls is None or cls in n.attrs.get("class", "").split())
            and all(n.attrs.get(k.replace("_", "-")) == v for k, v in attrs.items())
        ]

    def one(self, tag: str | None = None, *, cls: str | None = None, **attrs: str) -> Node:
        found = self.all(tag, cls=cls, **attrs)
        assert len(found) == 1, f"expected one <{tag} class={cls} {attrs}>, found {len(found)}"
        return found[0]

    def cell(self, name: str) -> str:
        """The text of this row's cell of class `name`."""
        return self.one("td", cls=name).text()


class _TreeBuilder(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.root = Node("#document", {})
        self.stack = [self.root]

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        node = Node(tag, {k: v or "" for k, v in attrs})
        self.stack[-1].children.append(node)
        if tag not in VOID:
            self.stack.append(node)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.stack[-1].children.append(Node(tag, {k: v or "" for k, v in attrs}))

    def handle_endtag(self, tag: str) -> None:
        for i in range(len(self.stack) - 1, 0, -1):
            if self.stack[i].tag == tag:
                del self.stack[i:]
                return

    def handle_data(self, data: str) -> None:
        self.stack[-1].children.append(data)


def parse_dom(html: str) -> Node:
    builder = _TreeBuilder()
    builder.feed(html)
    builder.close()
    return builder.root


# -- traffic ---------------------------------------------------------------------------

ORDER: dict[str, Any] = {
    "external_uid": "order-status-1",
    "receipt_amount": 42.50,
    "subtotal_amount": 42.50,
    "payable": 46.02,
    "receipt_datetime": "2026-11-21T12:30:00Z",
    "transaction_no": "1001",
    "channel": "online_order",
    "menu_items": [
        {
            "item_name": "Burrito",
            "item_qty": 1,
            "item_amount": 42.50,
            "menu_item_type": "M",
            "menu_item_id": 1,
            "menu_family": "Mains",
            "menu_major_group": "Food",
            "serial_number": "1.0",
        }
    ],
}


async def drive_traffic(url: str) -> None:
    """A guest's morning: sign up, check in, balance twice; then a 404 and a 401."""
    user = {
        "email": "status-page@example.com",
        "password": "correct-horse-9",
        "first_name": "Ada",
        "last_name": "Lovelace",
    }
    timeout = aiohttp.ClientTimeout(total=10)
    async with aiohttp.ClientSession(url, timeout=timeout) as http:
        async with http.post("/api/auth/customers.json", json={"user": user}) as resp:
            assert resp.status == 201, await resp.text()
            token = (await resp.json())["access_token"]
        auth = {"Authorization": f"Bearer {token}"}
        async with http.post("/api/auth/checkins/online_order", json=ORDER, headers=auth) as resp:
            assert resp.status == 200, await resp.text()
        for _ in range(2):  # a miss, then a hit
            async with http.get("/api/auth/checkins/balance", headers=auth) as resp:
                assert resp.status == 200, await resp.text()
        async with http.get("/api/auth/no/such/route") as resp:
            assert resp.status == 404
            assert (await resp.json())["error"]["code"] == "route_not_found"
        async with http.get("/api/auth/checkins/balance") as resp:
            assert resp.status == 401
            assert (await resp.json())["error"]["code"] == "session_required"


def status_env(admin_port: int) -> dict[str, str]:
    return {
        "GATEWAY_CONFIG": str(ROOT / "config" / "gateway.dev.toml"),
        "GATEWAY_SESSION_SECRET": "status-page-" + "s" * 32,
        "GATEWAY_SANDBOX_PORT": "0",
        "GATEWAY_ADMIN_PORT": str(admin_port),
    }


BRAND_B_CONFIG = f"""
[punchh]
client_id = "status-brand-a"
client_secret = "status-brand-a-secret-0123456789"

[sandbox]
enabled = true

[[businesses]]
name = "brand-b"
hosts = ["{B_HOST}", "*.brand-b.test"]
punchh.client_id = "status-brand-b"
pos.enabled = true

[[businesses.pos.devices]]
name = "store-201"
key = "status-store-201-device-key"
location_key = "status-location-201"

[[businesses.pos.devices]]
name = "store-202"
key = "status-store-202-device-key"
location_key = "status-location-202"
"""


def two_business_env(admin_port: int, config: Path) -> dict[str, str]:
    """brand-b's secret and business key from the environment, as in production."""
    return {
        "GATEWAY_CONFIG": str(config),
        "PUNCHH_CLIENT_SECRET__BRAND_B": "status-brand-b-secret-0123456789",
        "PUNCHH_BUSINESS_KEY__BRAND_B": "status-brand-b-business-key",
        "GATEWAY_SESSION_SECRET": "status-page-" + "s" * 32,
        "GATEWAY_SANDBOX_PORT": "0",
        "GATEWAY_ADMIN_PORT": str(admin_port),
    }


async def drive_two_businesses(url: str, port: int) -> None:
    """brand-b (its Host, and a host its wildcard claims): two sign-ups, two balance reads,
    one without a session (the gateway's 401). The top-level business (any other Host): a
    sign-up, a wrong password (Punchh's 401), a read without a session."""
    timeout = aiohttp.ClientTimeout(total=10)
    brand_b = {"Host": f"{B_HOST}:{port}"}
    async with aiohttp.ClientSession(url, timeout=timeout) as http:

        async def sign_up(email: str, headers: dict[str, str]) -> str:
            user = {
                "email": email,
                "password": "correct-horse-9",
                "first_name": "Ada",
                "last_name": "L",
            }
            async with http.post(
                "/api/auth/customers.json", json={"user": user}, headers=headers
            ) as resp:
                assert resp.status == 201, await resp.text()
                return str((await resp.json())["access_token"])

        token = await sign_up("b1@example.com", brand_b)
        await sign_up("b2@example.com", brand_b)
        for host in (brand_b["Host"], "shop.brand-b.test"):
            auth = {"Host": host, "Authorization": f"Bearer {token}"}
            async with http.get("/api/auth/checkins/balance", headers=auth) as resp:
                assert resp.status == 200, await resp.text()
        async with http.get("/api/auth/checkins/balance", headers=brand_b) as resp:
            assert resp.status == 401
            assert (await resp.json())["error"]["code"] == "session_required"

        await sign_up("a1@example.com", {})
        wrong = {"user": {"email": "a1@example.com", "password": "wrong-password-1"}}
        async with http.post("/api/auth/customers/sign_in", json=wrong) as resp:
            assert resp.status == 401
            assert "session_required" not in await resp.text()  # Punchh's own answer
        async with http.get("/api/auth/checkins/balance") as resp:
            assert resp.status == 401
            assert (await resp.json())["error"]["code"] == "session_required"


def business_rows(dom: Node) -> dict[str, Node]:
    section = dom.one(id="businesses")
    return {row.attrs["data-business"]: row for row in section.one("tbody").all("tr")}


def assert_self_contained(dom: Node) -> None:
    """No script, and nothing the browser would fetch: the page works without internet."""
    assert not dom.all("script")
    assert not dom.all("link")
    fetching = [n.tag for n in dom.walk() if {"src", "href", "srcset"} & set(n.attrs)]
    assert not fetching, fetching
    assert "url(" not in " ".join(n.text() for n in dom.all("style"))


# -- the tests -------------------------------------------------------------------------


async def test_status_page_renders_the_traffic_in_chromium(chromium: str, tmp_path: Path) -> None:
    admin_port = free_port()
    status_url = f"http://127.0.0.1:{admin_port}/gateway/status"
    shot = tmp_path / "status.png"
    async with asyncio.timeout(60), gateway_process(status_env(admin_port)) as gp:
        await drive_traffic(gp.url)
        html = (await run_chromium(chromium, tmp_path / "dom", "--dump-dom", status_url)).decode()
        await run_chromium(
            chromium,
            tmp_path / "shot",
            f"--screenshot={shot}",
            "--window-size=1400,1800",
            status_url,
        )
    dom = parse_dom(html)
    assert "loyalty-gateway" in dom.one("title").text()
    assert_self_contained(dom)

    pill = dom.one(id="ready")
    assert (pill.text(), pill.attrs["class"]) == ("ready", "pill ok")

    upstream = dom.one(id="upstream")
    assert re.search(r"http://127\.0\.0\.1:\d+", upstream.one(cls="big").text())
    assert "built-in sandbox" in upstream.text()
    assert {row.cell("k"): row.cell("v") for row in upstream.all("tr")} == {
        f"{kind} errors": "0" for kind in ("timeout", "connect", "reset", "protocol", "refresh")
    }

    sessions = dom.one(id="sessions")
    assert sessions.one(cls="big").text() == "1"
    assert "memory store" in sessions.text()

    cache = dom.one(id="cache")
    ratio = cache.one(cls="big").text()
    assert ratio != "-"
    assert ratio == "50%"  # the balance: one miss, one hit

    routes = {row.attrs["data-route"]: row for row in dom.one(id="routes").all("tr", cls="row")}
    checkin = routes[CHECKIN_ROUTE]
    assert int(checkin.cell("requests")) > 0
    assert "idle" not in checkin.attrs["class"].split()
    assert (checkin.cell("err-gw"), checkin.cell("err-up")) == ("0", "0")
    assert checkin.cell("p50") != "-"
    assert checkin.cell("up-p50") != "-"
    balance = routes[BALANCE_ROUTE]
    assert balance.cell("requests") == "3"  # two reads, and the 401
    assert balance.cell("err-gw") == "1"
    assert "idle" in routes["GET /api/auth/users"].attrs["class"].split()
    assert routes["GET /api/auth/users"].cell("p50") == "-"

    policies = {row.cell("name"): row for row in dom.one(id="policies").one("tbody").all("tr")}
    assert {"ip", "session", "otp_target", "sign_in_account", "sign_up_ip"} <= set(policies)
    assert policies["sign_up_ip"].cell("limit") == "1000"  # config/gateway.dev.toml
    assert policies["sign_in_ip"].cell("fail") == "closed"

    errors = dom.one(id="errors").one("tbody").all("tr")
    by_code = {row.cell("code"): row for row in errors}
    assert set(by_code) == {"route_not_found", "session_required"}
    assert by_code["route_not_found"].cell("status") == "404"
    assert by_code["session_required"].cell("status") == "401"
    assert by_code["session_required"].cell("route") == BALANCE_ROUTE
    assert [row.cell("code") for row in errors] == ["session_required", "route_not_found"]

    # config/gateway.dev.toml serves two more businesses (a second brand, and the browser
    # example's): the page lists all three. The traffic above was sent to 127.0.0.1, not to
    # their hosts: all of it is the default's.
    brands = business_rows(dom)
    assert list(brands) == ["default", "brand-b", "web"]
    assert int(brands["default"].cell("requests")) > 0
    for idle in ("brand-b", "web"):
        assert brands[idle].cell("requests") == "0"
        assert "idle" in brands[idle].attrs["class"].split()

    assert shot.exists()
    assert shot.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
    assert shot.stat().st_size > 20_000, shot.stat().st_size


async def test_status_page_has_a_row_per_business(chromium: str, tmp_path: Path) -> None:
    config = tmp_path / "gateway.toml"
    config.write_text(BRAND_B_CONFIG)
    admin_port = free_port()
    status_url = f"http://127.0.0.1:{admin_port}/gateway/status"
    env = two_business_env(admin_port, config)
    async with asyncio.timeout(60), gateway_process(env) as gp:
        await drive_two_businesses(gp.url, int(gp.url.rpartition(":")[2]))
        html = (await run_chromium(chromium, tmp_path / "dom", "--dump-dom", status_url)).decode()
    dom = parse_dom(html)
    assert_self_contained(dom)
    rows = business_rows(dom)
    assert list(rows) == ["default", "brand-b"]  # the top-level business first
    sandbox = dom.one(id="upstream").one(cls="big").text()  # one sandbox emulates both
    cells = ("hosts", "upstream", "pos", "requests", "err-gw", "err-up", "sessions", "circuits")
    assert {name: [row.cell(c) for c in cells] for name, row in rows.items()} == {
        "default": ["any other host", sandbox, "off", "3", "1", "1", "1", "closed"],
        "brand-b": [f"{B_HOST}, *.brand-b.test", sandbox, "2", "5", "1", "0", "2", "closed"],
    }
    assert rows["default"].cell("name") == "default"
    assert "idle" not in rows["brand-b"].attrs["class"].split()
    # The routes table still counts every business together.
    routes = {row.attrs["data-route"]: row for row in dom.one(id="routes").all("tr", cls="row")}
    assert routes[BALANCE_ROUTE].cell("requests") == "4"  # brand-b's three, default's one


async def test_a_single_business_gateway_has_no_businesses_section() -> None:
    admin_port = free_port()
    env = {
        "GATEWAY_SANDBOX": "1",
        "GATEWAY_SANDBOX_PORT": "0",
        "GATEWAY_ADMIN_PORT": str(admin_port),
        "PUNCHH_CLIENT_ID": "status-single",
        "PUNCHH_CLIENT_SECRET": "status-single-secret-0123456789",
        "GATEWAY_SESSION_SECRET": "status-page-" + "s" * 32,
    }
    timeout = aiohttp.ClientTimeout(total=10)
    async with (
        asyncio.timeout(30),
        gateway_process(env) as gp,
        aiohttp.ClientSession(timeout=timeout) as http,
    ):
        async with http.get(gp.url + "/api/auth/checkins/balance") as resp:
            assert resp.status == 401
        async with http.get(f"http://127.0.0.1:{admin_port}/gateway/status") as resp:
            assert resp.status == 200
            dom = parse_dom(await resp.text())
    routes = {row.attrs["data-route"]: row for row in dom.one(id="routes").all("tr", cls="row")}
    assert routes[BALANCE_ROUTE].cell("requests") == "1"  # the page is there, with the 401
    assert not dom.all(id="businesses")
    assert "Businesses" not in dom.text()


def render_template(snapshot: dict[str, Any]) -> str:
    """status.html as gateway/admin.py sets it up (same loader, same autoescaping)."""
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("gateway", "templates"),
        autoescape=jinja2.select_autoescape(["html"]),
    )
    return env.get_template("status.html").render(snapshot)


def test_a_degraded_gateway_renders_plainly() -> None:
    """Not ready, Redis sessions, cache and limiter off, upstream failing: still a clear page.

    The snapshot has the shape gateway/status.py's `snapshot` returns; a browser is not
    needed to read the words.
    """
    users = next(r for r in PUNCHH_ROUTES if r.name == "GET /api/auth/users")
    row = {
        "route": users.name,
        "route_info": users,
        "requests": 4,
        "errors_gateway": 0,
        "errors_upstream": 4,
        "p50_ms": "5000.0",
        "p95_ms": "5000.0",
        "upstream_p50_ms": "5000.0",
    }
    probe = {**row, "route": "GET /readyz", "route_info": None, "errors_upstream": 0}
    snapshot: dict[str, Any] = {
        "now": "2027-01-15 12:00:00 UTC",
        "ready": False,
        "upstream": "https://punchh.example",
        "sandbox": False,
        "config": {
            "source": "/etc/loyalty-gateway/gateway.toml",
            "loaded_at": "2027-01-15 11:58:00 UTC",
            "digest": "0123456789ab" + "c" * 52,
            "reloads": {"ok": 1, "invalid": 2, "restart_required": 1, "error": 0},
        },
        "upstream_errors": {"timeout": 4, "connect": 0, "reset": 0, "protocol": 0, "refresh": 0},
        "routes": [row, {**probe, "requests": 9000}],
        "sessions": {
            "backend": "redis",
            "active": None,
            "refreshes": {"success": 0, "rejected": 0, "failed": 2},
            "store_errors": 3,
        },
        "cache": {
            "enabled": False,
            "hits": 0,
            "misses": 0,
            "ratio": "-",
            "invalidations": 0,
            "entries": None,
        },
        "limiter": {"enabled": False, "in_flight": 0, "max_in_flight": None, "policies": []},
        "errors": [
            {
                "at": "12:00:00",
                "request_id": "r-1",
                "route": users.name,
                "status": 504,
                "code": "upstream_timeout",
                "message": "<script>alert(1)</script> took too long",
            }
        ],
    }
    html = render_template(snapshot)
    dom = parse_dom(html)
    assert_self_contained(dom)  # the message's <script> arrives as text
    assert dom.one("title").text().startswith("NOT READY")
    pill = dom.one(id="ready")
    assert (pill.text(), pill.attrs["class"]) == ("not ready", "pill bad")
    assert dom.one(id="upstream").one(cls="state").text() == "4 errors"
    assert dom.one(id="sessions").one(cls="big").text() == "shared"
    assert "redis store" in dom.one(id="sessions").text()
    assert dom.one(id="cache").one(cls="state").text() == "disabled"
    assert dom.one(id="cache").one(cls="big").text() == "-"
    assert dom.one(id="limiter").one(cls="state").text() == "disabled"
    assert dom.one(id="config-loaded").text() == "2027-01-15 11:58:00 UTC"
    assert dom.one(id="config-digest").text() == "0123456789ab"  # the whole one in its title
    assert dom.one(id="config-refused").text() == "3 reload(s) refused"

    rows = {r.attrs["data-route"]: r for r in dom.one(id="routes").all("tr", cls="row")}
    assert rows["GET /api/auth/users"].cell("err-up") == "4"
    bar = rows["GET /readyz"].one("i").attrs["style"]
    assert bar == "width:100%", bar  # the probe outnumbers Punchh routes; its bar is capped

    error = dom.one(id="errors").one("tbody").one("tr")
    assert error.cell("code") == "upstream_timeout"
    assert error.cell("message") == "<script>alert(1)</script> took too long"
    assert "<script>alert" not in html

    quiet = render_template({**snapshot, "errors": [], "ready": True})
    assert "No gateway errors since start." in parse_dom(quiet).one(id="errors").text()
    reloads = {"ok": 3, "invalid": 0, "restart_required": 0, "error": 0}
    calm = render_template({**snapshot, "config": {**snapshot["config"], "reloads": reloads}})
    assert parse_dom(calm).all(id="config-refused") == []

    # One business: no Businesses section when it is the `default` one, a row when it is
    # named (a gateway with only [[businesses]]); Redis sessions, circuits open.
    brand = {
        "name": "default",
        "hosts": "any other host",
        "upstream": "https://punchh.example",
        "pos_devices": None,
        "requests": 4,
        "errors_gateway": 0,
        "errors_upstream": 4,
        "sessions": None,
        "circuits_open": ["mobile", "pos"],
    }
    assert not parse_dom(render_template({**snapshot, "businesses": [brand]})).all(id="businesses")
    named = {**brand, "name": "brand-b", "hosts": "brand-b.example"}
    dom = parse_dom(render_template({**snapshot, "businesses": [named]}))
    (named_row,) = dom.one(id="businesses").one("tbody").all("tr")
    assert named_row.attrs["data-business"] == "brand-b"
    assert [named_row.cell(c) for c in ("hosts", "pos", "err-up", "sessions", "circuits")] == [
        "brand-b.example",
        "off",
        "4",
        "-",
        "open: mobile, pos",
    ]
