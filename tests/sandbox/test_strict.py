"""Issue 16: the sandbox refuses what Punchh refuses (seeds 000, 001) and answers its shapes."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from sandbox import headers
from sandbox.server import start_sandbox
from sandbox.state import SandboxState
from tests.sandbox.conftest import CLIENT_ID, OO_UA, ManualClock, Punchh, digest, make_config

SIGN_UP = "/api/auth/customers.json"
SEED_001 = Path("/work/shared/seeds/001_f8e9c72f36b2e00d.txt")
PHONE = "5550104242"
CONSENT = {"privacy_policy": True, "terms_and_conditions": True}


def _seed_001_answer() -> dict[str, Any]:
    text = SEED_001.read_text()
    start = re.search(r'^\{\n  "address_line1"', text, re.MULTILINE)
    assert start is not None
    answer: dict[str, Any] = json.loads(text[start.start() :])
    return answer


# -- seed 001: referral codes need names; the answer carries the example's fields ----------


@pytest.mark.parametrize("missing", ["first_name", "last_name"])
async def test_sign_up_needs_names_when_the_business_uses_referral_codes(
    punchh: Punchh, missing: str
) -> None:
    user = {"email": "n@example.com", "password": "password123", "first_name": "A"}
    user = {**user, "last_name": "B", missing: " "}
    reply = await punchh.call("POST", SIGN_UP, {"user": user})
    assert reply.status == 422
    assert reply.body["errors"] == {missing: ["can't be blank"]}
    del user[missing]
    reply = await punchh.call("POST", SIGN_UP, {"user": user})
    assert (reply.status, reply.body["errors"]) == (422, {missing: ["can't be blank"]})
    mobile = await punchh.call(
        "POST", "/api2/mobile/users", {"user": user}, headers={"punchh-app-device-id": "d1"}
    )
    assert (mobile.status, mobile.body["errors"]) == (422, {missing: ["can't be blank"]})


async def test_names_are_optional_without_referral_codes(clock: ManualClock) -> None:
    server = await start_sandbox(make_config(referral_codes=False), clock=clock)
    try:
        async with aiohttp.ClientSession() as session:
            punchh = Punchh(session, server.url)
            user = {"email": "anon@example.com", "password": "password123"}
            reply = await punchh.call("POST", SIGN_UP, {"user": user})
            assert reply.status == 201, reply.body
    finally:
        await server.close()


def test_referral_codes_must_be_a_bool() -> None:
    with pytest.raises(ValueError, match="referral_codes"):
        make_config(referral_codes="yes")
    assert make_config().referral_codes is True


async def test_sign_up_answer_has_every_field_of_the_seed_001_example(punchh: Punchh) -> None:
    seed = _seed_001_answer()
    mine = await punchh.sign_up("fields@example.com", phone=PHONE)
    assert set(seed) - set(mine) == set()
    # Types match the example's, except where the example shows null or the sandbox has no
    # such feature (null for a date/URL it cannot know); access_token is set on sign-up.
    for name, value in seed.items():
        if value is not None and mine[name] is not None:
            assert type(mine[name]) is type(value), name
    assert mine["communicable_email"] == "fields@example.com"
    assert (mine["profile_field_answers"], mine["user_relations"]) == ({}, [])
    signed_in = await punchh.call(
        "POST",
        "/api/auth/customers/sign_in",
        {"user": {"email": "fields@example.com", "password": "password123"}},
    )
    assert set(seed) <= set(signed_in.body)


# -- seed 000: a dummy cannot sign in; a phone-only account merges like a dummy -----------


async def _otp_by_phone(punchh: Punchh, phone: str) -> Any:
    sent = await punchh.call("POST", "/api2/password_less/token", {"phone": phone})
    assert sent.status == 200, sent.body
    code = (await punchh.sandbox("GET", f"otp?phone={phone}")).body["otp"]
    return await punchh.call(
        "POST", "/api2/password_less/verify", {"phone": phone, "otp": code, **CONSENT}
    )


async def test_pos_dummy_cannot_sign_in_by_otp_until_it_signs_up(
    punchh: Punchh, state: SandboxState
) -> None:
    dummy = await punchh.call("POST", "/api/pos/users", {"user": {"phone": PHONE}})
    assert dummy.status == 201
    refused = await _otp_by_phone(punchh, PHONE)
    assert refused.status == 422
    assert set(refused.body["errors"]) == {"base"}
    assert not state.grants  # nothing issued
    full = await punchh.sign_up("done@example.com", phone=PHONE)
    assert full["id"] == dummy.body["id"]
    signed_in = await _otp_by_phone(punchh, PHONE)
    assert signed_in.status == 200, signed_in.body
    assert signed_in.body["data"]["user_id"] == dummy.body["id"]


async def test_phone_first_used_for_otp_merges_into_the_online_sign_up(
    punchh: Punchh, state: SandboxState
) -> None:
    first = await _otp_by_phone(punchh, PHONE)
    assert first.status == 200
    user_id = first.body["data"]["user_id"]
    visit = {
        "phone": PHONE,
        "external_uid": "otp-visit",
        "receipt_amount": 20,
        "receipt_datetime": "2025-01-02T12:00:00Z",
    }
    reply = await punchh.call("POST", "/api/pos/checkins", visit)
    assert reply.status == 200, reply.body
    full = await punchh.sign_up("later@example.com", phone=PHONE)
    assert full["id"] == user_id  # one account (step 3), not 422 "has already been taken"
    assert len(state.users) == 1
    balance = await punchh.balance(full["access_token"])
    assert (balance["points_balance"], balance["visits"]) == (20, 1)
    # A full account's phone stays taken.
    other = {"email": "x@example.com", "password": "password123", "phone": PHONE}
    again = await punchh.call("POST", SIGN_UP, {"user": {**other, "first_name": "X"}})
    assert again.status == 422


async def test_an_account_with_an_email_is_not_merged(punchh: Punchh) -> None:
    pos = await punchh.call(
        "POST", "/api/pos/users", {"user": {"phone": PHONE, "email": "pos@example.com"}}
    )
    assert pos.status == 201
    user = {"email": "web@example.com", "password": "password123", "phone": PHONE}
    reply = await punchh.call(
        "POST", SIGN_UP, {"user": {**user, "first_name": "W", "last_name": "E"}}
    )
    assert (reply.status, reply.body["errors"]) == (422, {"phone": ["has already been taken"]})


# -- seeds 001, 002, 004 (and docs/punchh.md "Required headers"): Content-Type, Accept, UA -----


@pytest.mark.parametrize(
    ("agent", "ok"),
    [
        ("Punchh/OnlineOrder/1.0/Web/BrowserVersion/OS_Type", True),
        ("NCRSilverPro/POS/3.5.6b", True),
        ("LoyaltyGateway/OnlineOrder/0.1/Web", True),
        ("Biz/Integrator/OnlineOrder/2.1/Web/Chrome 120/Windows 11", True),
        ("curl/8.5.0", False),
        ("Python/3.11 aiohttp/3.9.1", False),
        ("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36", False),
        ("Name//1.0", False),
        ("LoyaltyGateway", False),
    ],
)
def test_user_agent_form(agent: str, ok: bool) -> None:
    assert headers.user_agent_ok(agent) is ok


JSON = {"Accept": "application/json", "Content-Type": "application/json"}


@pytest.mark.parametrize(
    ("sent", "has_body", "problem"),
    [
        ({"User-Agent": OO_UA, **JSON}, True, None),
        ({"User-Agent": OO_UA, "Accept": "*/*"}, False, None),  # a GET needs no Content-Type
        (
            {"User-Agent": OO_UA, **JSON, "Content-Type": "application/json; charset=utf-8"},
            True,
            None,
        ),
        ({**JSON}, True, ("User-Agent", "is required")),
        (
            {"User-Agent": "curl/8", **JSON},
            True,
            ("User-Agent", "must be in the form Name/Type/Version"),
        ),
        (
            {"User-Agent": OO_UA, "Content-Type": "application/json"},
            True,
            ("Accept", "is required"),
        ),
        (
            {"User-Agent": OO_UA, "Accept": "application/json"},
            True,
            ("Content-Type", "is required"),
        ),
        (
            {"User-Agent": OO_UA, **JSON, "Content-Type": "text/plain"},
            True,
            ("Content-Type", "must be application/json"),
        ),
    ],
)
def test_header_problem(sent: dict[str, str], has_body: bool, problem: Any) -> None:
    assert headers.header_problem(sent, has_body=has_body) == problem


async def _raw(
    punchh: Punchh, method: str, path: str, body: bytes, sent: dict[str, str]
) -> tuple[int, Any]:
    url = punchh.base + path
    async with punchh.session.request(
        method,
        url,
        data=body or None,
        headers=sent,
        skip_auto_headers=["User-Agent", "Content-Type", "Accept"],
    ) as resp:
        return resp.status, await resp.json()


@pytest.mark.parametrize("drop", ["Accept", "Content-Type", "User-Agent"])
async def test_online_ordering_refuses_a_missing_header_with_400(punchh: Punchh, drop: str) -> None:
    path = "/api/auth/customers.json"
    raw = b'{"client":"test-client","user":{"email":"h@example.com","password":"password123"}}'
    sent = {"User-Agent": OO_UA, **JSON, "x-pch-digest": digest(path, raw, "sha1")}
    del sent[drop]
    status, body = await _raw(punchh, "POST", path, raw, sent)
    assert (status, body) == (400, {"error": f"{drop} header is required"})


async def test_a_bad_user_agent_is_400_in_each_family_shape(punchh: Punchh) -> None:
    bad = {"User-Agent": "python-requests/2.31"}
    auth = await punchh.call("POST", "/api/auth/customers/sign_in", {"user": {}}, headers=bad)
    assert (auth.status, auth.body) == (
        400,
        {"error": "User-Agent header must be in the form Name/Type/Version"},
    )
    pos = await punchh.call("GET", "/api/pos/users/search", query={"phone": PHONE}, headers=bad)
    assert pos.status == 400
    assert set(pos.body) == {"error"}
    mobile = await punchh.call(
        "POST",
        "/api2/mobile/users/login",
        {"user": {}},
        headers={**bad, "punchh-app-device-id": "d"},
    )
    assert mobile.status == 400
    assert mobile.body == {
        "errors": {"user_agent": ["User-Agent header must be in the form Name/Type/Version"]}
    }
    otp = await punchh.call(
        "POST", "/api2/password_less/token", {"email": "a@example.com"}, headers={"Accept": ""}
    )
    assert (otp.status, otp.body) == (400, {"errors": {"accept": ["Accept header is required"]}})


async def test_a_body_must_be_sent_as_json(punchh: Punchh) -> None:
    reply = await punchh.call(
        "POST",
        "/api/pos/users",
        {"user": {"phone": PHONE}},
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert (reply.status, reply.body) == (
        400,
        {"error": "Content-Type header must be application/json"},
    )


async def test_a_get_without_a_body_needs_no_content_type(punchh: Punchh) -> None:
    me = await punchh.sign_up("get@example.com")
    path = f"/api/auth/users?client={CLIENT_ID}"
    sent = {
        "User-Agent": OO_UA,
        "Accept": "application/json",
        "Authorization": f"Bearer {me['access_token']}",
        "x-pch-digest": digest(path, b"", "sha1"),
    }
    status, body = await _raw(punchh, "GET", path, b"", sent)
    assert status == 200
    assert body["id"] == me["id"]


async def test_sandbox_routes_need_no_punchh_headers(punchh: Punchh) -> None:
    async with punchh.session.get(
        punchh.base + "/__sandbox/ledger", skip_auto_headers=["User-Agent", "Accept"]
    ) as resp:
        assert resp.status == 200
