"""Issue 15, finding 8: deeply nested JSON. A frontend body nested deeper than 32 levels is
400 invalid_json, refused while parsing, before any budget, store or Punchh call; before,
a body past orjson's writing limit (255) fell back to `json`, which hit Python's recursion
limit while serialising what is sent to Punchh: 500 and a traceback. 32 levels still pass.
A real gateway process, the sandbox."""

from __future__ import annotations

import asyncio

import aiohttp

from sandbox.server import SandboxServer
from tests.conftest import gateway_env
from tests.support.process import gateway_process

RESET = "/api/auth/users/forgot_password"


def body(email: str, levels: int) -> bytes:
    """A body `levels` deep: the body object, then `levels - 1` arrays under `note`."""
    inner = "[" * (levels - 1) + '"x"' + "]" * (levels - 1)
    return f'{{"user": {{"email": "{email}"}}, "note": {inner}}}'.encode()


async def test_nesting_beyond_32_levels_is_invalid_json(sandbox: SandboxServer) -> None:
    async with gateway_process(gateway_env(sandbox.url)) as gw, aiohttp.ClientSession() as http:
        answers = []
        for i, levels in enumerate((33, 1000, 20000)):
            raw = body(f"deep{i}@example.com", levels)
            async with http.post(
                f"{gw.url}{RESET}", data=raw, headers={"Content-Type": "application/json"}
            ) as resp:
                answers.append((resp.status, await resp.json()))
        async with http.post(
            f"{gw.url}{RESET}",
            data=body("ok@example.com", 32),
            headers={"Content-Type": "application/json"},
        ) as resp:
            allowed = resp.status
        async with http.get(f"{sandbox.url}/__sandbox/calls") as resp:
            calls = await resp.json()
        logs = gw.logs()
    for status, answer in answers:
        assert status == 400
        assert answer["error"]["code"] == "invalid_json"
        assert answer["error"]["request_id"]
    assert allowed == 200  # 32 levels: the body object, and 31 arrays
    assert calls.get(f"POST {RESET}") == 1
    assert "Traceback" not in logs
    assert "RecursionError" not in logs


async def test_what_orjson_refuses_the_json_fallback_refuses_too(sandbox: SandboxServer) -> None:
    """After an attack review: a body holding a 19-digit number is parsed by `json`, which
    took a lone surrogate (then a 500 writing the body for Punchh, the budget drawn) and
    NaN or Infinity (sent on as null). Each is 400 invalid_json, nothing sent."""
    bodies = [
        b'{"x": 12345678901234567890, "phone": "5550100001", "y": "\\ud800"}',
        b'{"x": 12345678901234567890, "phone": "5550100002", "y": NaN}',
        b'{"x": 12345678901234567890, "phone": "5550100003", "y": -Infinity}',
    ]
    async with gateway_process(gateway_env(sandbox.url)) as gw, aiohttp.ClientSession() as http:
        answers = []
        for raw in bodies:
            async with http.post(
                f"{gw.url}/api2/password_less/token",
                data=raw,
                headers={"Content-Type": "application/json"},
            ) as resp:
                answers.append((resp.status, (await resp.json())["error"]["code"]))
        async with http.get(f"{sandbox.url}/__sandbox/calls") as resp:
            calls = await resp.json()
        logs = gw.logs()
    assert answers == [(400, "invalid_json")] * 3
    assert calls.get("POST /api2/password_less/token", 0) == 0
    assert "Traceback" not in logs


async def test_unmatched_quotes_do_not_stall_the_depth_check(sandbox: SandboxServer) -> None:
    """After a code review: the depth check once scanned unparsed text for strings, which
    took seconds on a 64 KB body of unmatched quotes (17 s measured), freezing the process.
    Now it counts on the parsed value: malformed text is refused at once."""
    raw = b"[" * 33 + b'\\"' * 32000  # 64 KB: under max_body_bytes
    async with gateway_process(gateway_env(sandbox.url)) as gw, aiohttp.ClientSession() as http:
        started = asyncio.get_running_loop().time()
        async with http.post(
            f"{gw.url}{RESET}", data=raw, headers={"Content-Type": "application/json"}
        ) as resp:
            status, code = resp.status, (await resp.json())["error"]["code"]
        took = asyncio.get_running_loop().time() - started
        async with http.get(f"{gw.url}/healthz") as resp:
            alive = resp.status
    assert (status, code) == (400, "invalid_json")
    assert took < 3.0, took  # seconds: 17 s before, milliseconds now
    assert alive == 200
