"""What Punchh checks before any handler: signature, client, User-Agent, JSON, POS keys."""

from __future__ import annotations

import aiohttp
import pytest

from sandbox.app import make_sandbox_app
from sandbox.config import SandboxConfig
from sandbox.context import STATE_KEY
from sandbox.server import start_sandbox
from tests.sandbox.conftest import CLIENT_ID, OO_UA, Punchh, digest, make_config

JSON_HEADERS = {
    "User-Agent": OO_UA,
    "Accept": "application/json",
    "Content-Type": "application/json",
}


async def test_wrong_digest_is_412_with_the_online_ordering_body(punchh: Punchh) -> None:
    reply = await punchh.call(
        "POST",
        "/api/auth/customers/sign_in",
        {"user": {"email": "a@b.co", "password": "x"}},
        headers={"x-pch-digest": "0" * 40},
    )
    assert (reply.status, reply.body) == (412, ["Invalid Signature"])


async def test_missing_digest_is_412(punchh: Punchh) -> None:
    url = punchh.base + "/api/auth/users?client=" + CLIENT_ID
    headers = {"User-Agent": OO_UA, "Accept": "application/json"}
    async with punchh.session.get(url, headers=headers) as resp:
        assert resp.status == 412


async def test_mobile_wrong_digest_is_412_with_the_api2_body(punchh: Punchh) -> None:
    body = {"user": {"email": "a@b.co", "password": "x"}}
    # Signed with SHA1 where the mobile family wants SHA256.
    raw = b'{"client":"test-client","user":{"email":"a@b.co","password":"x"}}'
    headers = {
        "punchh-app-device-id": "d1",
        "x-pch-digest": digest("/api2/mobile/users/login", raw, "sha1"),
    }
    reply = await punchh.call("POST", "/api2/mobile/users/login", body, headers=headers)
    assert reply.status == 412
    assert reply.body == {"errors": {"invalid_signature": ["Invalid Signature"]}}


async def test_digest_over_a_different_query_is_412(punchh: Punchh) -> None:
    account = await punchh.sign_up("q@example.com")
    token = account["access_token"]
    ok = await punchh.call("GET", "/api/auth/users", query={"authentication_token": token})
    assert ok.status == 200
    forged = await punchh.call(
        "GET",
        "/api/auth/users",
        query={"authentication_token": token},
        sign_path=f"/api/auth/users?client={CLIENT_ID}",
    )
    assert forged.status == 412


async def test_get_with_a_json_body_is_signed_over_the_body(punchh: Punchh) -> None:
    account = await punchh.sign_up("g@example.com")
    body = {"authentication_token": account["authentication_token"]}
    ok = await punchh.call("GET", "/api/auth/checkins/balance", body)
    assert ok.status == 200
    assert ok.body["points_balance"] == 0
    # Same body, digest over the bare path: the body bytes are part of the message.
    raw = b""
    bad = await punchh.call(
        "GET",
        "/api/auth/checkins/balance",
        body,
        headers={"x-pch-digest": digest("/api/auth/checkins/balance", raw, "sha1")},
    )
    assert bad.status == 412


async def test_password_less_and_pos_need_no_digest(punchh: Punchh) -> None:
    reply = await punchh.call(
        "POST",
        "/api2/password_less/token",
        {"email": "n@example.com"},
        headers={"x-pch-digest": "junk"},
    )
    assert reply.status == 200
    pos = await punchh.call("GET", "/api/pos/users/search", query={"phone": "5550001111"})
    assert pos.status == 404


async def test_digest_algorithms_come_from_config() -> None:
    server = await start_sandbox(make_config(digest_auth="sha256"))
    try:
        async with aiohttp.ClientSession() as session:
            punchh = Punchh(session, server.url)
            reply = await punchh.call("POST", "/api/auth/customers/sign_in", {"user": {}})
            assert reply.status == 412  # the helper signed SHA1
    finally:
        await server.close()


@pytest.mark.parametrize(
    ("body", "query"),
    [({"client": "someone-else"}, None), (None, {"client": "someone-else"}), ({}, None)],
)
async def test_wrong_or_missing_client_is_401(
    punchh: Punchh, body: dict[str, str] | None, query: dict[str, str] | None
) -> None:
    reply = await punchh.call(
        "GET" if body is None else "POST",
        "/api/auth/users" if body is None else "/api/auth/customers/sign_in",
        body,
        query=query,
        add_client=False,
    )
    assert (reply.status, reply.body) == (401, {"error": "Invalid client"})


async def test_missing_user_agent_is_400(punchh: Punchh) -> None:
    raw = b'{"client":"test-client","user":{}}'
    headers = {
        "Accept": "application/json",
        "Content-Type": "application/json",
        "x-pch-digest": digest("/api/auth/customers/sign_in", raw, "sha1"),
    }
    async with punchh.session.post(
        punchh.base + "/api/auth/customers/sign_in",
        data=raw,
        headers=headers,
        skip_auto_headers=["User-Agent"],
    ) as resp:
        assert resp.status == 400
        assert await resp.json() == {"error": "User-Agent header is required"}
    empty = await punchh.call(
        "POST", "/api/auth/customers/sign_in", {"user": {}}, headers={"User-Agent": " "}
    )
    assert empty.status == 400


async def test_malformed_json_is_400(punchh: Punchh) -> None:
    raw = b'{"client": "test-client",'
    headers = {
        **JSON_HEADERS,
        "x-pch-digest": digest("/api/auth/customers.json", raw, "sha1"),
    }
    async with punchh.session.post(
        punchh.base + "/api/auth/customers.json", data=raw, headers=headers
    ) as resp:
        assert resp.status == 400
        assert "error" in await resp.json()


@pytest.mark.parametrize(
    "authorization",
    [
        "Token token=loc-key, btoken=wrong",
        "Token token=unknown, btoken=biz-key",
        "Bearer loc-key",
        "",
    ],
)
async def test_pos_keys_are_checked(punchh: Punchh, authorization: str) -> None:
    reply = await punchh.call(
        "GET",
        "/api/pos/users/search",
        query={"phone": "5550001111"},
        headers={"Authorization": authorization},
    )
    assert (reply.status, reply.body) == (401, {"error": "Unauthorized"})


def test_the_pipeline_order(config: SandboxConfig) -> None:
    app = make_sandbox_app(config)
    assert [getattr(m, "__name__", None) for m in app.middlewares] == [
        "calls",
        "faults",
        "errors",
        "headers",
        "signature",
        "body",
        "client",
        "pos_key",
    ]


async def test_unknown_route_is_a_json_404(punchh: Punchh) -> None:
    reply = await punchh.call("GET", "/api/auth/nowhere")
    assert reply.status == 404
    assert "error" in reply.body


async def test_config_is_shared_not_global(config: SandboxConfig, punchh: Punchh) -> None:
    # A second app in the same process has its own state.
    other = await start_sandbox(config)
    try:
        await punchh.sign_up("only-here@example.com")
        assert punchh.base != other.url
        assert other.app[STATE_KEY].users == {}
    finally:
        await other.close()


async def test_pos_is_closed_without_a_business_key() -> None:
    server = await start_sandbox(make_config(business_key="", location_keys={}))
    try:
        async with aiohttp.ClientSession() as session:
            punchh = Punchh(session, server.url)
            reply = await punchh.call(
                "GET",
                "/api/pos/users/search",
                query={"phone": "5550001111"},
                headers={"Authorization": "Token token=, btoken="},
            )
            assert reply.status == 401
    finally:
        await server.close()
