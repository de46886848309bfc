"""The browser example (examples/web/index.html) driven in headless Chromium like a guest.

`make run`'s setup: a real gateway process on config/gateway.dev.toml (its ports moved to
free ones) with the embedded sandbox, the page served by examples/serve.py on its own
origin, http://web.localhost:<port>; the page calls the gateway's business `web` on
http://web.localhost:<gateway port>: same site, another origin. So CORS, the Origin check
of cookie mode and the HttpOnly session cookie are the browser's own, not simulated:
sign-up, a check-in, the balance; the cookie the browser holds and the page's script cannot
read; a forged check-in from a sibling origin refused (and the same request from the
example's origin counted, so the refusal is the Origin check's); sign-out, after which the
balance is refused and the token the browser held is dead; sign-in again.

Chromium comes from Debian, installed when missing; skipped LOUDLY when it cannot be had
(tests/support/chromium.py). The browser is driven over the DevTools protocol
(tests/support/cdp.py), which also reads its cookie jar.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web
from prometheus_client.parser import text_string_to_metric_families

from examples.serve import make_app
from tests.support.cdp import Page, open_page
from tests.support.chromium import devtools, find_chromium
from tests.support.process import free_port, gateway_process

ROOT = Path(__file__).resolve().parents[2]
DEV_CONFIG = ROOT / "config" / "gateway.dev.toml"
DEV_ORIGIN = '"http://web.localhost:8081"'  # the example's origin under `make run`
HOST = "web.localhost"
GUEST = {
    "email": "ada.web@example.com",
    "password": "correct-horse-9",
    "first-name": "Ada",
    "last-name": "Lovelace",
}
CHECKIN_ROUTE = "POST /api/auth/checkins/online_order"

# What another page can send with the guest's cookie and no CORS permission: a "simple"
# POST (no preflight: a body without a Content-Type, which the gateway reads as JSON). Its
# answer is opaque to the sender; only the gateway's Origin check stands in its way.
FORGED_CHECKIN = """fetch(%s, {
  method: "POST", mode: "no-cors", credentials: "include",
  body: new Blob([JSON.stringify({
    external_uid: %s, receipt_amount: 12.5, subtotal_amount: 12.5, payable: 12.5,
    receipt_datetime: "2026-11-21T12:30:00Z", channel: "online_order",
    menu_items: [{item_name: "Taco", item_qty: 1, item_amount: 12.5, menu_item_type: "M",
                  menu_item_id: 2, menu_family: "Mains", menu_major_group: "Food",
                  serial_number: "1.0"}]})]),
}).then((r) => r.type)"""

# The same check-in as JSON, as the example sends it: it needs a CORS preflight first.
CORS_CHECKIN = """fetch(%s, {
  method: "POST", credentials: "include",
  headers: {"Content-Type": "application/json"}, body: "{}",
}).then((r) => "status " + r.status, (e) => "refused: " + e.name)"""


@pytest.fixture(scope="module")
def chromium() -> str:
    return find_chromium("the browser example was NOT driven or checked")


def dev_config_on(tmp_path: Path, web_port: int) -> Path:
    """config/gateway.dev.toml with the example's origin on `web_port` (the one line that
    names a port the environment cannot move)."""
    text = DEV_CONFIG.read_text()
    assert text.count(DEV_ORIGIN) == 1, "the web business's allowed origin moved"
    path = tmp_path / "gateway.dev.toml"
    path.write_text(text.replace(DEV_ORIGIN, f'"http://{HOST}:{web_port}"'))
    return path


@asynccontextmanager
async def serving_the_page(port: int) -> AsyncIterator[None]:
    """examples/serve.py's app (what `make run` starts) on 127.0.0.1:`port`."""
    runner = web.AppRunner(make_app(), access_log=None)
    await runner.setup()
    try:
        await web.TCPSite(runner, "127.0.0.1", port).start()
        yield
    finally:
        await runner.cleanup()


async def state(page: Page, wanted: str) -> None:
    await page.wait_for(f"document.body.dataset.state === {json.dumps(wanted)}")


async def text(page: Page, element: str) -> str:
    return str(await page.evaluate(f"document.getElementById({json.dumps(element)}).textContent"))


async def click(page: Page, button: str) -> None:
    await page.evaluate(f"document.getElementById({json.dumps(button)}).click()")


async def points_become(page: Page, points: int) -> None:
    await page.wait_for(f"document.getElementById('points').textContent === '{points}'")


async def fill(page: Page, fields: dict[str, str]) -> None:
    for element, value in fields.items():
        await page.evaluate(
            f"document.getElementById({json.dumps(element)}).value = {json.dumps(value)}"
        )


async def forbidden_checkins(admin: str) -> int:
    """The web business's check-ins the gateway refused itself with a 403, from /metrics."""
    async with aiohttp.ClientSession() as http, http.get(admin + "/metrics") as resp:
        body = await resp.text()
    wanted = {
        "route": CHECKIN_ROUTE,
        "status": "403",
        "source": "gateway",
        "business": "web",
    }
    return sum(
        int(sample.value)
        for family in text_string_to_metric_families(body)
        for sample in family.samples
        if sample.name == "loyalty_gateway_requests_total"
        and wanted.items() <= sample.labels.items()
    )


async def balance_with_bearer(gateway: str, token: str) -> int:
    """The balance read by a non-browser client holding the session token."""
    headers = {"Host": f"{HOST}:{gateway.rpartition(':')[2]}", "Authorization": f"Bearer {token}"}
    async with (
        aiohttp.ClientSession() as http,
        http.get(gateway + "/api/auth/checkins/balance", headers=headers) as resp,
    ):
        return resp.status


async def test_the_browser_example_in_chromium(chromium: str, tmp_path: Path) -> None:
    web_port, sibling_port, admin_port = free_port(), free_port(), free_port()
    env = {
        "GATEWAY_CONFIG": str(dev_config_on(tmp_path, web_port)),
        "GATEWAY_SESSION_SECRET": "web-example-" + "w" * 32,
        "GATEWAY_SANDBOX_PORT": "0",
        "GATEWAY_ADMIN_PORT": str(admin_port),
    }
    admin = f"http://127.0.0.1:{admin_port}"
    async with (
        asyncio.timeout(120),
        gateway_process(env) as gp,
        serving_the_page(web_port),
        serving_the_page(sibling_port),
        devtools(chromium, tmp_path / "profile") as browser,
        open_page(browser) as page,
    ):
        gw_port = gp.url.rpartition(":")[2]
        gateway = f"http://{HOST}:{gw_port}"
        example = f"http://{HOST}:{web_port}/?gateway_port={gw_port}"

        # Not signed in: the page's balance read is the gateway's 401, which it can read.
        await page.navigate(example)
        await state(page, "signed-out")
        assert await text(page, "gateway") == gateway

        # 1. Sign up: the session arrives as a cookie the browser holds for the gateway's host.
        await fill(page, GUEST)
        await click(page, "sign-up")
        await state(page, "signed-in")
        await points_become(page, 0)
        assert GUEST["email"] in await text(page, "who")
        cookie = (await page.cookies(gateway + "/"))["lg_session"]
        token = cookie["value"]
        assert token.count(".") == 2  # the gateway's session token (a JWT), not Punchh's
        assert (cookie["domain"], cookie["path"]) == (HOST, "/")
        assert (cookie["httpOnly"], cookie["sameSite"], cookie["secure"]) == (True, "Lax", False)

        # The page's script cannot read it. Cookies ignore ports: one this host set without
        # HttpOnly is in document.cookie, so the HttpOnly flag is what hides the session.
        await page.send("Network.setCookie", name="probe", value="visible", domain=HOST, path="/")
        seen = await page.evaluate("document.cookie")
        assert "probe=visible" in seen
        assert "lg_session" not in seen
        assert token not in seen
        assert "token" not in await page.evaluate("JSON.stringify(localStorage)")

        # 2. Check in an order: 12.50 earns 12 points, and the balance shows them.
        await click(page, "check-in")
        await points_become(page, 12)
        assert await text(page, "message") == "Order checked in: 12 points earned."
        assert await balance_with_bearer(gp.url, token) == 200  # bearer still works too

        # 3. A sibling origin (same site, so the browser sends the cookie; not allowed):
        # CORS keeps the balance from it, the Origin check refuses its forged check-in.
        checkins = json.dumps(gateway + "/api/auth/checkins/online_order")
        await page.navigate(f"http://{HOST}:{sibling_port}/?gateway_port={gw_port}")
        await state(page, "error")
        assert "Could not reach the gateway" in await text(page, "message")
        assert await page.evaluate(CORS_CHECKIN % checkins) == "refused: TypeError"
        assert await forbidden_checkins(admin) == 0
        assert await page.evaluate(FORGED_CHECKIN % (checkins, '"forged-1"')) == "opaque"
        assert await forbidden_checkins(admin) == 1  # it reached the gateway, and stopped there

        # Back on the example's origin: no points from it. The very same request sent from
        # here counts, so the refusal above was the origin's alone.
        await page.navigate(example)
        await state(page, "signed-in")
        await points_become(page, 12)
        assert await page.evaluate(FORGED_CHECKIN % (checkins, '"from-the-example-1"')) == "opaque"
        await click(page, "refresh")
        await points_become(page, 24)
        assert await forbidden_checkins(admin) == 1

        # 4. Sign out: the cookie is gone, the balance refused, the token dead at the gateway.
        await click(page, "sign-out")
        await state(page, "signed-out")
        assert await text(page, "points") == "-"
        assert "lg_session" not in await page.cookies(gateway + "/")
        balance = json.dumps(gateway + "/api/auth/checkins/balance")
        after = f"fetch({balance}, {{credentials: 'include'}}).then((r) => r.json())"
        assert (await page.evaluate(after))["error"]["code"] == "session_required"
        assert await balance_with_bearer(gp.url, token) == 401

        # 5. Sign in again: the same guest, the same points.
        await fill(page, {"email": GUEST["email"], "password": GUEST["password"]})
        await click(page, "sign-in")
        await state(page, "signed-in")
        await points_become(page, 24)
        assert (await page.cookies(gateway + "/"))["lg_session"]["value"] != token
