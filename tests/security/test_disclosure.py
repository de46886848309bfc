"""Issue 15, finding 9 (the protocol half): answers name no software versions, and the
requests aiohttp's parser refuses are answered in the gateway's JSON error shape without
echoing a byte of them, in the answer or in the log. A real gateway process, raw TCP."""

from __future__ import annotations

import asyncio
import re

import aiohttp

from sandbox.server import SandboxServer
from tests.conftest import gateway_env
from tests.support.process import GatewayProcess, gateway_process
from tests.support.raw_connection import Answer, RawConnection

RESET = "/api/auth/users/forgot_password"  # reads a body
ECHO = b"secret-echo"  # in every malformed request; never in an answer or a log line

MALFORMED: dict[str, bytes] = {
    "control character in the path": b"GET /\x00<script>secret-echo HTTP/1.1\r\n\r\n",
    "header line without a colon": (
        b"GET /healthz HTTP/1.1\r\nHost: g\r\nBad Header secret-echo\r\n\r\n"
    ),
    "invalid Content-Length": (
        f"POST {RESET} HTTP/1.1\r\nHost: g\r\nContent-Length: 12abc-secret-echo\r\n\r\n".encode()
    ),
    "two Content-Lengths": (
        f"POST {RESET} HTTP/1.1\r\nHost: g\r\nContent-Length: 2\r\n"
        "Content-Length: 3\r\nX-Note: secret-echo\r\n\r\n{}".encode()
    ),
    "request line too long": b"GET /secret-echo" + b"a" * 9000 + b" HTTP/1.1\r\n\r\n",
    "header too long": b"GET /healthz HTTP/1.1\r\nX-Long: secret-echo" + b"a" * 9000 + b"\r\n\r\n",
    "invalid chunk size": (
        f"POST {RESET} HTTP/1.1\r\nHost: g\r\nTransfer-Encoding: chunked\r\n\r\n".encode()
        + b"zz-secret-echo\r\n"
    ),
    "not HTTP at all": b"\x16\x03\x01\x02\x00secret-echo\r\n\r\n",
}


def _assert_no_versions(answer: Answer | aiohttp.ClientResponse) -> None:
    server = answer.headers.get("Server", "")
    assert not re.search(r"\d", server), server
    assert "aiohttp" not in server.lower()
    assert "python" not in server.lower()


def _assert_json_error(answer: Answer, codes: set[str]) -> None:
    assert answer.headers["Content-Type"] == "application/json", answer.raw
    error = answer.json()["error"]
    assert error["code"] in codes
    assert error["request_id"]
    assert error["request_id"] == answer.headers["X-Request-ID"]
    assert error["message"]
    assert ECHO not in answer.raw
    assert b"<script>" not in answer.raw


async def _send(gw: GatewayProcess, data: bytes) -> Answer:
    conn = await RawConnection.open(gw.url)
    await conn.send(data)
    answer = await conn.answer()
    await conn.close()
    return answer


async def test_no_versions_in_the_server_header(sandbox: SandboxServer) -> None:
    async with gateway_process(gateway_env(sandbox.url)) as gw, aiohttp.ClientSession() as http:
        for path in ("/healthz", "/readyz", "/no/such/route"):
            async with http.get(f"{gw.url}{path}") as resp:
                _assert_no_versions(resp)
        async with http.post(f"{gw.url}{RESET}", json={"user": {"email": "a@b.co"}}) as resp:
            assert resp.status == 200  # Punchh's (the sandbox's) answer, passed on
            _assert_no_versions(resp)
        answer = await _send(gw, MALFORMED["control character in the path"])
        assert answer.status == 400
        _assert_no_versions(answer)


async def test_malformed_requests_are_json_and_never_echoed(sandbox: SandboxServer) -> None:
    async with gateway_process(gateway_env(sandbox.url)) as gw:
        for name, data in MALFORMED.items():
            answer = await _send(gw, data)
            assert answer.status == 400, name
            assert answer.headers["Connection"] == "close", name
            _assert_json_error(answer, {"malformed_request", "headers_too_large"})
            _assert_no_versions(answer)
        logs = gw.logs()
    assert "malformed request" in logs
    assert ECHO.decode() not in logs
    assert "<script>" not in logs


async def test_invalid_chunked_framing_after_the_headers(sandbox: SandboxServer) -> None:
    """The headers arrive first and the route starts reading its body; the broken framing
    comes later: a 400 at once, not a wait until the body timeout."""
    async with gateway_process(gateway_env(sandbox.url)) as gw:
        conn = await RawConnection.open(gw.url)
        await conn.send(
            f"POST {RESET} HTTP/1.1\r\nHost: g\r\nContent-Type: application/json\r\n"
            "Transfer-Encoding: chunked\r\n\r\n".encode()
        )
        await asyncio.sleep(0.2)
        await conn.send(b"zz-secret-echo\r\n")
        answer = await conn.answer(within=3)
        assert answer.status == 400
        _assert_json_error(answer, {"malformed_request"})
        await conn.close()
        logs = gw.logs()
    assert ECHO.decode() not in logs
