"""Errors the gateway makes itself: one JSON shape, the right status, Punchh not called."""

from __future__ import annotations

import socket
from typing import Any

import pytest

from tests.conftest import Client, GatewayFactory
from tests.support.raw_http import raw_request
from tests.support.recorder import Recorder, Reply

pytestmark = pytest.mark.asyncio


async def _error(resp: Any, status: int, code: str, outcome: str = "not_applied") -> dict[str, Any]:
    assert resp.status == status, await resp.text()
    body = await resp.json()
    assert set(body) == {"error"}
    err = body["error"]
    assert set(err) == {"code", "message", "request_id", "outcome"}
    assert err["code"] == code
    assert err["message"]
    assert err["request_id"] == resp.headers["X-Request-ID"]
    assert err["outcome"] == outcome
    return dict(err)


@pytest.mark.parametrize(
    ("method", "path", "kwargs", "status", "code"),
    [
        ("GET", "/admin", {}, 404, "route_not_found"),
        ("GET", "/__sandbox/otp", {}, 404, "route_not_found"),
        ("GET", "/api/pos/users/search?phone=1", {}, 404, "route_not_found"),
        ("POST", "/api/auth/users", {"json": {}}, 405, "method_not_allowed"),
        (
            "POST",
            "/api/auth/users/forgot_password",
            {"data": b"{not json", "headers": {"Content-Type": "application/json"}},
            400,
            "invalid_json",
        ),
        (
            "POST",
            "/api/auth/users/forgot_password",
            {"data": b"[1, 2]", "headers": {"Content-Type": "application/json"}},
            400,
            "invalid_body",
        ),
        (
            "POST",
            "/api/auth/users/forgot_password",
            {"data": b"a=1", "headers": {"Content-Type": "application/x-www-form-urlencoded"}},
            415,
            "unsupported_media_type",
        ),
        (
            "POST",
            "/api/auth/users/forgot_password",
            {
                "data": b'{"a": "' + b"x" * 70_000 + b'"}',
                "headers": {"Content-Type": "application/json"},
            },
            413,
            "payload_too_large",
        ),
        ("GET", "/api/auth/users", {}, 401, "session_required"),
    ],
)
async def test_gateway_errors(
    gw: Client,
    recorder: Recorder,
    method: str,
    path: str,
    kwargs: dict[str, Any],
    status: int,
    code: str,
) -> None:
    resp = await gw.request(method, path, **kwargs)
    await _error(resp, status, code)
    assert recorder.seen == []


@pytest.mark.parametrize(
    ("target", "status", "code"),
    [
        ("/api/auth%2fusers", 400, "invalid_path"),
        ("/api/../../etc/passwd", 400, "invalid_path"),
        ("/api/auth/users%00", 400, "invalid_path"),
        ("/api/auth/%252e%252e/users", 400, "invalid_path"),
        # Resolved, then matched: and what is forwarded is the resolved path (see forwarding tests).
        ("/api/auth/%2e%2e/pos/users/search?phone=1", 404, "route_not_found"),
    ],
)
async def test_path_tricks(
    gw: Client, recorder: Recorder, target: str, status: int, code: str
) -> None:
    assert gw.server.port is not None
    got, headers, body = await raw_request("127.0.0.1", gw.server.port, "GET", target)
    assert got == status
    assert body["error"]["code"] == code
    assert body["error"]["request_id"] == headers["X-Request-ID"]
    assert recorder.seen == []


async def test_405_names_allowed_methods(gw: Client) -> None:
    resp = await gw.delete("/api/auth/users")
    assert resp.headers["Allow"] == "GET, PUT"


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_unreachable_upstream_is_502(make_gateway: GatewayFactory) -> None:
    gw = await make_gateway(f"http://127.0.0.1:{_closed_port()}")
    err = await _error(
        await gw.post("/api/auth/users/forgot_password", json={}), 502, "upstream_unavailable"
    )
    assert "127.0.0.1" not in err["message"]


async def test_slow_upstream_is_504(recorder: Recorder, make_gateway: GatewayFactory) -> None:
    recorder.reply("POST", "/api/auth/users/forgot_password", Reply(200, {}, delay=2.0))
    gw = await make_gateway(recorder.url, PUNCHH_TOTAL_TIMEOUT="0.3", PUNCHH_CONNECT_TIMEOUT="0.2")
    resp = await gw.post("/api/auth/users/forgot_password", json={})
    await _error(resp, 504, "upstream_timeout", "unknown")  # it was sent: it may have applied


async def test_unreadable_login_answer_is_502(gw: Client, recorder: Recorder) -> None:
    """A login answer we cannot parse might hold tokens: it is never passed on."""
    recorder.reply(
        "POST", "/api/auth/customers/sign_in", Reply(200, raw=b'{"access_token": "PUNCHH-ACC')
    )
    resp = await gw.post("/api/auth/customers/sign_in", json={})
    await _error(resp, 502, "upstream_unavailable", "applied")  # Punchh said 200
    assert b"PUNCHH-ACC" not in await resp.read()


async def test_health_and_ready(gw: Client) -> None:
    assert (await gw.get("/healthz")).status == 200
    resp = await gw.get("/readyz")
    assert resp.status == 200
    assert await resp.json() == {"status": "ready", "store": "ok"}
