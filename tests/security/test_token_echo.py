"""Issue 15, finding 6: Punchh tokens reached the frontend in answer shapes the gateway
did not know. The sandbox echoes every token it issued to the guest (``echo`` faults): in
a sign-in answer at depth, in a refused sign-in, in a forwarded answer (JSON, and a
text/plain 500), and after a refresh that replaced them. No token the sandbox issued is in
any answer's bytes; the gateway token stands where the guest's credential stood. A real
gateway process, the sandbox."""

from __future__ import annotations

from typing import Any

import aiohttp

from sandbox.context import STATE_KEY
from sandbox.echo import grant_tokens
from sandbox.server import SandboxServer
from tests.conftest import gateway_env
from tests.support.process import GatewayProcess, gateway_process

SIGN_UP = "/api/auth/customers.json"
SIGN_IN = "/api/auth/customers/sign_in"
PROFILE = "/api/auth/users"
BALANCE = "/api/auth/users/balance"
SHOWN = ("access_token", "authentication_token")
NAMES = {"first_name": "Ada", "last_name": "L"}  # the business uses referral codes (seed 001)
NO_CACHE = {"Cache-Control": "no-cache"}


def _punchh_tokens(sandbox: SandboxServer) -> list[str]:
    """Every token the sandbox ever issued, read from the sandbox itself."""
    grants = sandbox.app[STATE_KEY].grants.values()
    return [token for g in grants for _, token in grant_tokens(g)]


def _assert_no_punchh_token(raw: bytes, headers: Any, sandbox: SandboxServer) -> None:
    seen = raw + repr(list(headers.items())).encode()
    tokens = _punchh_tokens(sandbox)
    assert tokens
    leaked = [t for t in tokens if t.encode() in seen or t.replace("/", "\\/").encode() in seen]
    assert not leaked, f"Punchh tokens in the answer: {raw[:600]!r}"


def _assert_echoes_swapped(echo: list[dict[str, Any]], gw: str) -> None:
    """Each echoed access or authentication token became the gateway token; id and refresh
    tokens are gone from every shape."""
    assert echo
    for entry in echo:
        name = entry["grants"][0]["kind"]
        if name in SHOWN:
            assert entry["bearer"] == f"Bearer {gw}"
            assert entry["link"] == f"https://punchh.example/welcome?token={gw}&src=email"
            assert entry["deep"] == [[[[[gw]]]]]
            assert entry["keyed"] == {gw: name}
            assert entry["user"] == {"profile": {name: gw}}
            assert entry["grants"] == [{name: gw, "kind": name}]
        else:
            assert entry["bearer"] == "Bearer "
            assert entry["deep"] == [[[[[]]]]]
            assert entry["keyed"] == {}
            assert entry["user"] == {"profile": {}}
            assert entry["grants"] == [{"kind": name}]


async def _fault(http: aiohttp.ClientSession, sandbox: SandboxServer, **rule: object) -> None:
    async with http.post(f"{sandbox.url}/__sandbox/faults", json=rule) as resp:
        assert resp.status == 201, await resp.text()


async def _clear(http: aiohttp.ClientSession, sandbox: SandboxServer) -> None:
    async with http.delete(f"{sandbox.url}/__sandbox/faults") as resp:
        assert resp.status == 200


async def _sign_up(http: aiohttp.ClientSession, gw: GatewayProcess, email: str) -> str:
    user = {"email": email, "password": "password123", "first_name": "Ada", "last_name": "L"}
    async with http.post(f"{gw.url}{SIGN_UP}", json={"user": user}) as resp:
        assert resp.status == 201, await resp.text()
        return str((await resp.json())["access_token"])


async def test_a_sign_in_answer_echoing_its_tokens_at_depth(sandbox: SandboxServer) -> None:
    async with gateway_process(gateway_env(sandbox.url)) as gw, aiohttp.ClientSession() as http:
        await _fault(http, sandbox, method="POST", path=SIGN_UP, echo="json", times=1)
        user = {"email": "deep@example.com", "password": "password123", **NAMES}
        async with http.post(f"{gw.url}{SIGN_UP}", json={"user": user}) as resp:
            raw, headers, status = await resp.read(), resp.headers, resp.status
            answer = await resp.json()
        token = answer["access_token"]
        async with http.get(
            f"{gw.url}{PROFILE}", headers={"Authorization": f"Bearer {token}"}
        ) as r:
            works = r.status
    assert status == 201, raw
    _assert_no_punchh_token(raw, headers, sandbox)
    assert answer["authentication_token"] == token
    _assert_echoes_swapped(answer["echo"], token)
    assert works == 200


async def test_a_refused_sign_in_holding_tokens(sandbox: SandboxServer) -> None:
    """A 422 holding tokens (and this guest's earlier ones): no session, no token shown."""
    async with gateway_process(gateway_env(sandbox.url)) as gw, aiohttp.ClientSession() as http:
        await _sign_up(http, gw, "refused@example.com")
        await _fault(http, sandbox, method="POST", path=SIGN_IN, echo="json", status=422)
        user = {"email": "refused@example.com", "password": "password123"}
        async with http.post(f"{gw.url}{SIGN_IN}", json={"user": user}) as resp:
            raw, headers, status = await resp.read(), resp.headers, resp.status
            answer = await resp.json()
    assert status == 422, raw
    _assert_no_punchh_token(raw, headers, sandbox)
    assert "access_token" not in answer
    assert "authentication_token" not in answer
    assert answer["email"] == "refused@example.com"
    assert len(answer["echo"]) == 4  # two grants, two tokens each: every one emptied
    assert {e["bearer"] for e in answer["echo"]} == {"Bearer "}


async def test_forwarded_answers_echoing_the_session_tokens(sandbox: SandboxServer) -> None:
    async with gateway_process(gateway_env(sandbox.url)) as gw, aiohttp.ClientSession() as http:
        token = await _sign_up(http, gw, "echo@example.com")
        auth = {"Authorization": f"Bearer {token}", **NO_CACHE}
        await _fault(http, sandbox, method="GET", path=PROFILE, echo="json", times=1)
        async with http.get(f"{gw.url}{PROFILE}", headers=auth) as resp:
            raw, headers, status = await resp.read(), resp.headers, resp.status
            answer = await resp.json()
        # Every attempt, retries included, is a text/plain 500 echoing the tokens.
        await _fault(http, sandbox, method="GET", path=PROFILE, echo="text", status=500)
        async with http.get(f"{gw.url}{PROFILE}", headers=auth) as resp:
            text_raw, text_headers, text_status = await resp.read(), resp.headers, resp.status
        await _clear(http, sandbox)
    assert status == 200, raw
    _assert_no_punchh_token(raw, headers, sandbox)
    assert answer["email"] == "echo@example.com"
    _assert_echoes_swapped(answer["echo"], token)
    assert text_status == 500, text_raw
    assert text_headers["Content-Type"].startswith("text/plain")
    _assert_no_punchh_token(text_raw, text_headers, sandbox)
    assert text_raw.count(f"Bearer {token} (".encode()) == 2  # access and authentication


async def _otp_sign_in(
    http: aiohttp.ClientSession, gw: GatewayProcess, sandbox: SandboxServer, email: str
) -> str:
    async with http.post(f"{gw.url}/api2/password_less/token", json={"email": email}) as resp:
        assert resp.status == 200, await resp.text()
    async with http.get(f"{sandbox.url}/__sandbox/otp", params={"email": email}) as resp:
        code = (await resp.json())["otp"]
    body = {"email": email, "otp": code, "privacy_policy": True, "terms_and_conditions": True}
    async with http.post(f"{gw.url}/api2/password_less/verify", json=body) as resp:
        raw = await resp.read()
        assert resp.status == 200, raw
        _assert_no_punchh_token(raw, resp.headers, sandbox)
        return str((await resp.json())["data"]["access_token"])


async def test_tokens_a_request_refreshed_away_are_scrubbed_too(sandbox: SandboxServer) -> None:
    env = gateway_env(sandbox.url, GATEWAY_REFRESH_MARGIN="60")
    async with gateway_process(env) as gw, aiohttp.ClientSession() as http:
        # An access token living 30 s, inside the 60 s margin: the next request refreshes
        # it first, and Punchh's answer echoes the old grant's tokens and the new one's.
        async with http.post(
            f"{sandbox.url}/__sandbox/settings", json={"access_token_ttl": 30}
        ) as resp:
            assert resp.status == 200
        token = await _otp_sign_in(http, gw, sandbox, "fresh@example.com")
        await _fault(http, sandbox, method="GET", path=BALANCE, echo="json", times=1)
        auth = {"Authorization": f"Bearer {token}", **NO_CACHE}
        async with http.get(f"{gw.url}{BALANCE}", headers=auth) as resp:
            raw, headers, status = await resp.read(), resp.headers, resp.status
            answer = await resp.json()
        async with http.get(f"{sandbox.url}/__sandbox/calls") as resp:
            calls = await resp.json()
    assert status == 200, raw
    assert calls.get("POST /api2/password_less/refresh_token") == 1
    _assert_no_punchh_token(raw, headers, sandbox)
    assert len(answer["echo"]) == 6  # access, refresh and id_token of the old and new grant
    _assert_echoes_swapped(answer["echo"], token)
