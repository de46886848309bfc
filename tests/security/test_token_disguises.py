"""Issue 15, finding 6, after an attack review: a Punchh token in a disguise the bytes
check did not see. A JSON `\\u` escape (a browser's JSON.parse gives the token back), a
percent-encoded token (in a link), and a token in one of the answer headers the gateway
passes on (ETag, Cache-Control, Content-Language, Retry-After, Content-Type). A real
gateway process in front of the signature-checking fake Punchh, which answers exactly
what the test says."""

from __future__ import annotations

import json
from urllib.parse import quote

import aiohttp

from tests.conftest import gateway_env
from tests.support.process import gateway_process
from tests.support.recorder import Recorder, Reply

SIGN_IN = "/api/auth/customers/sign_in"
PROFILE = "/api/auth/users"
ACCESS = "PUNCHH+access/token=0123456789abcdef"  # base64 characters: "+", "/" and "="
AUTH = "PUNCHH-auth-token-fedcba9876543210"


def _escaped(token: str) -> str:
    """The token as a JSON writer that escapes every letter would write it."""
    return "".join(f"\\u{ord(c):04x}" if c.isalpha() else c for c in token)


async def test_disguised_tokens_are_scrubbed_from_body_and_headers(recorder: Recorder) -> None:
    recorder.reply(
        "POST",
        SIGN_IN,
        Reply(200, {"id": 9, "access_token": ACCESS, "authentication_token": AUTH}),
    )
    echo = (
        '{"escaped": "' + _escaped(AUTH) + '", '
        '"link": "https://punchh.example/p?t=' + quote(ACCESS, safe="") + '", '
        '"name": "caf\\u00e9"}'
    )
    recorder.reply(
        "GET",
        PROFILE,
        Reply(
            200,
            raw=echo.encode(),
            headers={
                "ETag": f'"{AUTH}"',
                "Cache-Control": f"private, x={ACCESS}",
                "Content-Language": AUTH,
            },
        ),
    )
    async with gateway_process(gateway_env(recorder.url)) as gw, aiohttp.ClientSession() as http:
        body = {"user": {"email": "g@example.com", "password": "pw"}}
        async with http.post(gw.url + SIGN_IN, json=body) as resp:
            assert resp.status == 200
            token = (await resp.json())["access_token"]
        headers = {"Authorization": f"Bearer {token}", "Cache-Control": "no-cache"}
        async with http.get(gw.url + PROFILE, headers=headers) as resp:
            status, raw, answer_headers = resp.status, await resp.read(), resp.headers
    assert status == 200
    seen = raw.decode() + json.dumps(list(answer_headers.items()))
    decoded = json.loads(raw)
    for secret in (ACCESS, AUTH, quote(ACCESS, safe=""), _escaped(AUTH)):
        assert secret not in seen
        assert secret not in json.dumps(decoded, ensure_ascii=False)
    assert decoded["escaped"] == token  # where the guest's credential stood
    assert decoded["link"] == "https://punchh.example/p?t=" + quote(token, safe="")
    assert decoded["name"] == "café"  # the rest as Punchh sent it
    assert answer_headers["ETag"] == f'"{token}"'
    assert answer_headers["Cache-Control"] == f"private, x={token}"
    assert answer_headers["Content-Language"] == token
