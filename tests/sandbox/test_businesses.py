"""Several Punchh businesses in one sandbox: each its own guests, keys, rules and counts.

A is the primary (the credentials of ``make_config``), B another business with its own
client id, secret, business key, location key and a richer points rule. Each test
checks something that only holds while the two stay apart.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from yarl import URL

from sandbox.app import make_sandbox_app
from sandbox.config import SandboxConfig
from sandbox.server import SandboxServer, start_sandbox
from tests.sandbox.conftest import (
    BUSINESS_KEY,
    CLIENT_ID,
    LOCATION_KEY,
    OO_UA,
    SECRET,
    ManualClock,
    Punchh,
    Reply,
    digest,
    make_config,
)

B_CLIENT = "b-client"
B_SECRET = "b-secret"
B_BUSINESS_KEY = "b-biz-key"
B_LOCATION = "b-loc-key"
B_STORE = "0077"
B_POS_AUTH = f"Token token={B_LOCATION}, btoken={B_BUSINESS_KEY}"
PHONE = "5550107777"
BALANCE = "/api/auth/checkins/balance"


def b_config(**overrides: Any) -> SandboxConfig:
    settings: dict[str, Any] = {
        "client_id": B_CLIENT,
        "client_secret": B_SECRET,
        "business_key": B_BUSINESS_KEY,
        "location_keys": {B_LOCATION: B_STORE},
        "points_per_dollar": 3,
    }
    settings.update(overrides)
    return make_config(**settings)


@pytest.fixture
async def server(clock: ManualClock) -> AsyncIterator[SandboxServer]:
    started = await start_sandbox([make_config(), b_config()], clock=clock)
    yield started
    await started.close()


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as opened:
        yield opened


@pytest.fixture
def a(session: aiohttp.ClientSession, server: SandboxServer) -> Punchh:
    return Punchh(session, server.url)


@pytest.fixture
def b(session: aiohttp.ClientSession, server: SandboxServer) -> Punchh:
    return Punchh(session, server.url, B_CLIENT, B_SECRET, B_POS_AUTH)


async def post_raw(punchh: Punchh, path_qs: str, raw: bytes, secret: str) -> Reply:
    """A body sent as is (not necessarily JSON), signed with ``secret``."""
    headers = {
        "User-Agent": OO_UA,
        "Accept": "application/json",
        "Content-Type": "application/json",
        "x-pch-digest": digest(path_qs, raw, "sha1", secret),
    }
    url = URL(punchh.base + path_qs, encoded=True)
    async with punchh.session.post(url, data=raw, headers=headers) as resp:
        text = await resp.text()
        return Reply(resp.status, json.loads(text) if text else None)


async def test_the_same_email_signs_up_at_each_business_as_two_guests(a: Punchh, b: Punchh) -> None:
    at_a = await a.sign_up("same@example.com", first_name="Ada")
    at_b = await b.sign_up("same@example.com", first_name="Bea")  # 422 if A's guests leaked
    assert at_a["access_token"] != at_b["access_token"]
    only_a = await a.sign_up("only-a@example.com")
    a_view = await a.sandbox("GET", f"users/{at_a['id']}")
    b_view = await a.sandbox("GET", f"users/{at_b['id']}?client={B_CLIENT}")
    assert (a_view.body["user"]["first_name"], b_view.body["user"]["first_name"]) == (
        "Ada",
        "Bea",
    )
    assert (await a.sandbox("GET", f"users/{only_a['id']}?client={B_CLIENT}")).status == 404
    assert (await a.sandbox("GET", f"users/{only_a['id']}?client={CLIENT_ID}")).status == 200


async def test_a_checkin_changes_only_its_business_points(a: Punchh, b: Punchh) -> None:
    token_a = (await a.sign_up("eat@example.com"))["access_token"]
    token_b = (await b.sign_up("eat@example.com"))["access_token"]
    assert (await a.checkin(token_a, "order-1", 40)).status == 200
    assert (await a.balance(token_a))["points_balance"] == 40
    assert (await b.balance(token_b))["points_balance"] == 0
    assert (await b.checkin(token_b, "order-1", 20)).status == 200  # not a repeat of A's
    assert (await b.balance(token_b))["points_balance"] == 60  # B's 3 points a dollar
    assert (await a.balance(token_a))["points_balance"] == 40
    ledger_a = (await a.sandbox("GET", "ledger")).body["checkins"]
    ledger_b = (await a.sandbox("GET", f"ledger?client={B_CLIENT}")).body["checkins"]
    assert [(e["external_uid"], e["points"]) for e in ledger_a] == [("order-1", 40)]
    assert [(e["external_uid"], e["points"]) for e in ledger_b] == [("order-1", 60)]


async def test_a_business_does_not_know_the_other_business_tokens(a: Punchh, b: Punchh) -> None:
    token_a = (await a.sign_up("tok-a@example.com"))["access_token"]
    await b.sign_up("tok-b@example.com")
    assert (await a.call("GET", BALANCE, token=token_a)).status == 200
    reply = await b.call("GET", BALANCE, token=token_a)
    assert reply.status == 401


@pytest.mark.parametrize(
    ("client_id", "secret", "status"),
    [
        (B_CLIENT, SECRET, 412),
        (CLIENT_ID, B_SECRET, 412),
        (B_CLIENT, B_SECRET, 201),
        (CLIENT_ID, SECRET, 201),
    ],
)
async def test_a_request_is_checked_with_the_secret_of_the_business_it_names(
    session: aiohttp.ClientSession, server: SandboxServer, client_id: str, secret: str, status: int
) -> None:
    punchh = Punchh(session, server.url, client_id, secret)
    fields = {"email": "sig@example.com", "password": "password123"}
    fields.update({"first_name": "Ada", "last_name": "Lovelace"})
    body = await punchh.call("POST", "/api/auth/customers.json", {"user": fields})
    query = await punchh.call("GET", BALANCE)  # the client in the query string
    assert body.status == status
    if status == 412:
        assert body.body == query.body == ["Invalid Signature"]
        assert query.status == 412
    else:
        assert query.status == 401  # signed right, but no token


async def test_a_request_naming_no_known_business_gets_the_primary_answers(
    a: Punchh, b: Punchh
) -> None:
    stranger = Punchh(a.session, a.base, "no-such-client", SECRET)
    assert (await stranger.call("GET", BALANCE)).body == {"error": "Invalid client"}
    malformed = b"{not json"
    as_b = await post_raw(b, f"/api/auth/customers.json?client={B_CLIENT}", malformed, B_SECRET)
    assert (as_b.status, as_b.body) == (400, {"error": "Malformed JSON body"})
    as_a = await post_raw(b, f"/api/auth/customers.json?client={B_CLIENT}", malformed, SECRET)
    assert (as_a.status, as_a.body) == (412, ["Invalid Signature"])


async def test_pos_finds_the_guest_of_the_business_its_btoken_names(a: Punchh, b: Punchh) -> None:
    me_a = await a.sign_up("pos-a@example.com", phone=PHONE)
    me_b = await b.sign_up("pos-b@example.com", phone=PHONE)
    await b.checkin(me_b["access_token"], "online", 10)
    found_b = await b.call("GET", "/api/pos/users/search", query={"phone": PHONE})
    assert (found_b.status, found_b.body["email"]) == (200, "pos-b@example.com")
    assert found_b.body["balance"]["points_balance"] == 30
    found_a = await a.call("GET", "/api/pos/users/search", query={"phone": PHONE})
    assert (found_a.body["email"], found_a.body["id"]) == ("pos-a@example.com", me_a["id"])
    checkin = await b.call(
        "POST",
        "/api/pos/checkins",
        {
            "phone": PHONE,
            "external_uid": "pos-1",
            "receipt_amount": 5,
            "subtotal_amount": 5,
            "receipt_datetime": "2025-01-02T12:00:00Z",
            "transaction_no": "pos-1",
        },
    )
    assert checkin.body["checkin"]["store_number"] == B_STORE
    assert (await a.sandbox("GET", "ledger")).body["checkins"] == []


@pytest.mark.parametrize(
    "authorization",
    [
        f"Token token={LOCATION_KEY}, btoken={B_BUSINESS_KEY}",
        f"Token token={B_LOCATION}, btoken={BUSINESS_KEY}",
        f"Token token={B_LOCATION}, btoken=no-such-business",
    ],
)
async def test_pos_keys_of_two_businesses_do_not_mix(a: Punchh, authorization: str) -> None:
    await a.sign_up("mix@example.com", phone=PHONE)
    reply = await a.call(
        "GET",
        "/api/pos/users/search",
        query={"phone": PHONE},
        headers={"Authorization": authorization},
    )
    assert (reply.status, reply.body) == (401, {"error": "Unauthorized"})


async def test_calls_are_counted_per_business_and_summed(a: Punchh, b: Punchh) -> None:
    await a.call("GET", BALANCE)
    await a.call("GET", BALANCE)
    await b.call("GET", BALANCE)
    await b.call("GET", "/api/pos/users/search", query={"phone": PHONE})
    everyone = {f"GET {BALANCE}": 3, "GET /api/pos/users/search": 1}
    assert (await a.sandbox("GET", "calls")).body == everyone
    assert (await a.sandbox("GET", f"calls?client={CLIENT_ID}")).body == {f"GET {BALANCE}": 2}
    assert (await a.sandbox("GET", f"calls?client={B_CLIENT}")).body == {
        f"GET {BALANCE}": 1,
        "GET /api/pos/users/search": 1,
    }
    assert (await a.sandbox("POST", f"calls/reset?client={B_CLIENT}")).status == 200
    assert (await a.sandbox("GET", "calls")).body == {f"GET {BALANCE}": 2}
    assert (await a.sandbox("POST", "calls/reset")).status == 200
    assert (await a.sandbox("GET", f"calls?client={CLIENT_ID}")).body == {}


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "calls"),
        ("POST", "calls/reset"),
        ("GET", "otp?email=x@example.com"),
        ("GET", "ledger"),
        ("GET", "users/1001"),
        ("POST", "users/1001/rewards"),
        ("POST", "sso/code"),
        ("POST", "settings"),
    ],
)
async def test_control_routes_refuse_an_unknown_client(a: Punchh, method: str, path: str) -> None:
    await a.sign_up("known@example.com")
    sep = "&" if "?" in path else "?"
    reply = await a.sandbox(method, f"{path}{sep}client=no-such-client", {"user_id": 1001})
    assert (reply.status, reply.body) == (404, {"error": "Unknown client"})


async def test_control_routes_act_on_the_business_they_name(
    a: Punchh, b: Punchh, clock: ManualClock
) -> None:
    sent = await b.call("POST", "/api2/password_less/token", {"email": "otp@example.com"})
    assert sent.status == 200
    assert (await a.sandbox("GET", "otp?email=otp@example.com")).status == 404
    code = await a.sandbox("GET", f"otp?email=otp@example.com&client={B_CLIENT}")
    assert code.status == 200
    ttl = await a.sandbox("POST", f"settings?client={B_CLIENT}", {"access_token_ttl": 60})
    assert ttl.body == {"access_token_ttl": 60}
    token_a = (await a.sign_up("ttl@example.com"))["access_token"]
    me_b = await b.sign_up("ttl@example.com")
    gift = await a.sandbox("POST", f"users/{me_b['id']}/rewards?client={B_CLIENT}", {})
    assert gift.status == 201
    assert len((await b.balance(me_b["access_token"]))["rewards"]) == 1
    assert (await a.balance(token_a))["rewards"] == []
    clock.advance(61)
    assert (await a.call("GET", BALANCE, token=token_a)).status == 200
    assert (await b.call("GET", BALANCE, token=me_b["access_token"])).status == 401


async def test_faults_are_one_book_and_echo_the_business_guests(a: Punchh, b: Punchh) -> None:
    token_a = (await a.sign_up("echo@example.com"))["access_token"]
    token_b = (await b.sign_up("echo@example.com"))["access_token"]
    rule = {"method": "GET", "path": BALANCE, "status": 503, "times": 1}
    assert (await a.sandbox("POST", "faults", rule)).status == 201
    assert (await b.call("GET", BALANCE, token=token_b)).status == 503
    assert (await a.call("GET", BALANCE, token=token_a)).status == 200
    echo = {"method": "GET", "path": BALANCE, "echo": "json", "times": 1}
    assert (await a.sandbox("POST", "faults", echo)).status == 201
    echoed = await b.call("GET", BALANCE, token=token_b)
    assert echoed.status == 200
    tokens = {shape["bearer"] for shape in echoed.body["echo"]}
    assert f"Bearer {token_b}" in tokens
    assert f"Bearer {token_a}" not in tokens


async def test_a_business_or_location_key_or_client_id_is_one_business_only() -> None:
    with pytest.raises(ValueError, match=r"configs\[0\] and configs\[1\] share client_id"):
        await start_sandbox([make_config(), b_config(client_id=CLIENT_ID)])
    with pytest.raises(ValueError, match="share a business_key") as caught:
        await start_sandbox([make_config(), b_config(business_key=BUSINESS_KEY)])
    assert BUSINESS_KEY not in str(caught.value)
    with pytest.raises(ValueError, match="share a location key") as caught:
        await start_sandbox([make_config(), b_config(location_keys={LOCATION_KEY: "9"})])
    assert LOCATION_KEY not in str(caught.value)
    with pytest.raises(ValueError, match="at least one"):
        await start_sandbox([])


async def test_businesses_without_pos_may_share_the_empty_business_key() -> None:
    closed = {"business_key": "", "location_keys": {}}
    server = await start_sandbox([make_config(**closed), b_config(**closed)])
    await server.close()


def test_the_pipeline_order_with_several_businesses() -> None:
    app = make_sandbox_app([make_config(), b_config()])
    names = [getattr(m, "__name__", None) for m in app.middlewares]
    assert names == [
        "business",
        "calls",
        "faults",
        "errors",
        "headers",
        "signature",
        "body",
        "client",
        "pos_key",
    ]
    alone = make_sandbox_app([make_config()])
    assert [getattr(m, "__name__", None) for m in alone.middlewares] == names[1:]
