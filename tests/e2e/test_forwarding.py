"""Through the real gateway to a fake Punchh on 127.0.0.1 that checks every signature."""

from __future__ import annotations

import json

import pytest

from tests.conftest import CLIENT_ID, Client, GatewayFactory
from tests.support.recorder import Recorder, Reply, digest

pytestmark = pytest.mark.asyncio

JSON = {"Content-Type": "application/json"}


async def test_post_is_signed_sha1_with_our_client(gw: Client, recorder: Recorder) -> None:
    recorder.reply("POST", "/api/auth/users/forgot_password", Reply(200, {"ok": True}))
    resp = await gw.post(
        "/api/auth/users/forgot_password",
        data=json.dumps({"client": "evil-client", "user": {"email": "g@example.com"}}),
        headers=JSON,
    )
    assert resp.status == 200, await resp.text()
    seen = recorder.last
    assert seen.json() == {"client": CLIENT_ID, "user": {"email": "g@example.com"}}
    assert seen.headers["x-pch-digest"] == digest(
        "s3cret-client-value", seen.raw_path, seen.body, "sha1"
    )
    assert seen.headers["Content-Type"] == "application/json"
    assert seen.headers["Accept"] == "application/json"
    assert seen.headers["User-Agent"] == "LoyaltyGateway/OnlineOrder/0.1/Web"


async def test_client_is_added_when_left_out(gw: Client, recorder: Recorder) -> None:
    await gw.post("/api/auth/users/forgot_password", json={"user": {"email": "a@b.co"}})
    assert recorder.last.json()["client"] == CLIENT_ID
    # A POST with no body at all still carries the client, in a JSON body.
    await gw.post("/api2/password_less/token")
    assert recorder.last.json() == {"client": CLIENT_ID}


async def test_mobile_is_signed_sha256(gw: Client, recorder: Recorder) -> None:
    resp = await gw.post("/api2/mobile/users/login", json={"user": {"email": "m@x.co"}})
    assert resp.status == 200, await resp.text()
    seen = recorder.last
    assert seen.headers["x-pch-digest"] == digest(
        "s3cret-client-value", seen.raw_path, seen.body, "sha256"
    )


async def test_password_less_and_pos_are_unsigned(gw: Client, recorder: Recorder) -> None:
    await gw.post("/api2/password_less/token", json={"email": "g@example.com"})
    assert "x-pch-digest" not in recorder.last.headers
    assert recorder.last.json() == {"email": "g@example.com", "client": CLIENT_ID}


async def test_wrong_secret_is_answered_412_by_upstream(
    recorder: Recorder, make_gateway: GatewayFactory
) -> None:
    """The fake really checks: a gateway holding another secret gets Punchh's 412, unchanged."""
    bad = await make_gateway(recorder.url, PUNCHH_CLIENT_SECRET="not-the-right-secret")
    resp = await bad.post("/api/auth/users/forgot_password", json={"user": {}})
    assert resp.status == 412
    assert await resp.json() == ["Invalid Signature"]
    resp = await bad.post("/api2/mobile/users/login", json={"user": {}})
    assert resp.status == 412
    assert await resp.json() == {"errors": {"invalid_signature": ["Invalid Signature"]}}


async def test_get_with_query_signs_path_and_query(
    recorder: Recorder, make_gateway: GatewayFactory, gw: Client
) -> None:
    """A body-less GET carries the client in the query; the digest covers path?query."""
    resp = await gw.post("/api/auth/customers/sign_in", json={"user": {}})  # no tokens: no session
    assert resp.status == 200
    recorder.reply(
        "POST",
        "/api/auth/customers/sign_in",
        Reply(
            200, {"id": 1, "access_token": "PUNCHH-ACCESS", "authentication_token": "PUNCHH-AUTH"}
        ),
    )
    token = (await (await gw.post("/api/auth/customers/sign_in", json={"user": {}})).json())[
        "access_token"
    ]
    resp = await gw.get(
        "/api/auth/checkins/balance?client=evil&b=2&a=1",
        headers={"Authorization": f"Bearer {token}"},
    )
    assert resp.status == 200, await resp.text()
    seen = recorder.last
    assert seen.method == "GET"
    assert seen.query == f"b=2&a=1&client={CLIENT_ID}"
    assert seen.body == b""
    assert seen.headers["x-pch-digest"] == digest(
        "s3cret-client-value", f"/api/auth/checkins/balance?{seen.query}", b"", "sha1"
    )


async def test_get_with_json_body_signs_the_body(gw: Client, recorder: Recorder) -> None:
    recorder.reply(
        "POST",
        "/api/auth/customers/sign_in",
        Reply(200, {"id": 1, "access_token": "PUNCHH-ACCESS"}),
    )
    token = (await (await gw.post("/api/auth/customers/sign_in", json={})).json())["access_token"]
    resp = await gw.request(
        "GET",
        "/api/auth/users/balance",
        data=json.dumps({"x": 1}),
        headers={"Authorization": f"Bearer {token}", **JSON},
    )
    assert resp.status == 200, await resp.text()
    seen = recorder.last
    assert seen.json() == {"x": 1, "client": CLIENT_ID}
    assert seen.query == ""
    assert seen.headers["x-pch-digest"] == digest(
        "s3cret-client-value", "/api/auth/users/balance", seen.body, "sha1"
    )


async def test_spoofed_headers_never_reach_punchh(gw: Client, recorder: Recorder) -> None:
    resp = await gw.post(
        "/api/auth/users/forgot_password",
        json={"user": {}},
        headers={
            "Authorization": "Bearer spoofed-access",
            "id-token": "spoofed-id",
            "x-pch-digest": "spoofed-digest",
            "X-Forwarded-For": "6.6.6.6",
            "X-Forwarded-Host": "evil.example",
            "X-Forwarded-Proto": "http",
            "Cookie": "session=spoofed",
            "X-Custom": "nope",
            "punchh-app-device-id": "device-1",
        },
    )
    assert resp.status == 200
    h = recorder.last.headers
    assert "Authorization" not in h
    assert "id-token" not in h
    assert h["x-pch-digest"] != "spoofed-digest"
    assert h["X-Forwarded-For"] == "127.0.0.1"  # the socket peer: nobody is trusted by default
    for name in ("X-Forwarded-Host", "X-Forwarded-Proto", "Cookie", "X-Custom"):
        assert name not in h
    assert h["punchh-app-device-id"] == "device-1"


async def test_forwarded_for_is_believed_from_trusted_proxies_only(
    recorder: Recorder, make_gateway: GatewayFactory
) -> None:
    trusting = await make_gateway(recorder.url, GATEWAY_TRUSTED_PROXIES="127.0.0.1/32")
    await trusting.post(
        "/api/auth/users/forgot_password",
        json={},
        headers={"X-Forwarded-For": "6.6.6.6, 198.51.100.7"},
    )
    assert recorder.last.headers.getall("X-Forwarded-For") == ["198.51.100.7"]


async def test_request_id_kept_made_and_sent_up(gw: Client, recorder: Recorder) -> None:
    resp = await gw.post(
        "/api/auth/users/forgot_password", json={}, headers={"X-Request-ID": "frontend-req-123"}
    )
    assert resp.headers["X-Request-ID"] == "frontend-req-123"
    assert recorder.last.headers["X-Request-ID"] == "frontend-req-123"
    resp = await gw.post(
        "/api/auth/users/forgot_password",
        json={},
        headers={"X-Request-ID": "bad id\u00e9 with spaces"},
    )
    made = resp.headers["X-Request-ID"]
    assert len(made) == 32
    assert recorder.last.headers["X-Request-ID"] == made


async def test_path_is_normalised_before_matching_and_forwarding(
    gw: Client, recorder: Recorder
) -> None:
    resp = await gw.post("/api/auth//users/x/../forgot_password", json={})
    assert resp.status == 200
    assert recorder.last.path == "/api/auth/users/forgot_password"


async def test_punchh_errors_pass_through_unchanged(gw: Client, recorder: Recorder) -> None:
    body = {"errors": {"email": ["has already been taken"]}}
    recorder.reply("POST", "/api/auth/customers.json", Reply(422, body))
    resp = await gw.post("/api/auth/customers.json", json={"user": {"email": "a@b.co"}})
    assert resp.status == 422
    assert await resp.json() == body


async def test_only_allowlisted_response_headers(gw: Client, recorder: Recorder) -> None:
    recorder.reply(
        "POST",
        "/api/auth/users/forgot_password",
        Reply(200, {}, {"Set-Cookie": "punchh=1", "X-Runtime": "0.1", "Cache-Control": "no-store"}),
    )
    resp = await gw.post("/api/auth/users/forgot_password", json={})
    assert "Set-Cookie" not in resp.headers
    assert "X-Runtime" not in resp.headers
    assert resp.headers["Cache-Control"] == "no-store"
