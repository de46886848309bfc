"""A session's life: idle and absolute timeouts, key rotation, logout, revoke-all, readiness."""

from __future__ import annotations

import asyncio
import base64
import json
from typing import Any

import jwt
import pytest
from aiohttp import ClientResponse, web
from aiohttp.test_utils import TestServer

from gateway.tokens import TokenClaims, encode_session_token, key_id
from tests.conftest import CLIENT_ID, CLIENT_SECRET, Client, GatewayFactory
from tests.support.clock import ManualClock
from tests.support.recorder import Recorder, Reply, Seen, digest

SECRET_A = "rotation-secret-A-" + "a" * 32
SECRET_B = "rotation-secret-B-" + "b" * 32
SECRET_C = "rotation-secret-C-" + "c" * 32

ID_TOKEN = jwt.encode({"sub": "901", "email": "otp@example.com"}, "i" * 32, algorithm="HS256")
OTP_VERIFY = {
    "data": {
        "access_token": "PUNCHH-ACCESS-OTP",
        "id_token": ID_TOKEN,
        "refresh_token": "PUNCHH-REFRESH-OTP",
        "token_type": "Bearer",
        "expires_in": 86400,
    }
}
MOBILE_LOGIN = {
    "user": {"id": 7},
    "access_token": {
        "token": "PUNCHH-ACCESS-MOBILE",
        "refresh_token": "PUNCHH-REFRESH-MOBILE",
        "seconds_to_expire": 86400,
        "revoked_at": None,
        "scopes": ["all"],
    },
}


def _sign_in_answer(user_id: int, n: int) -> dict[str, Any]:
    return {
        "id": user_id,
        "email": f"u{user_id}@example.com",
        "authentication_token": f"PUNCHH-AUTH-{user_id}-{n}",
        "access_token": f"PUNCHH-ACCESS-{user_id}-{n}",
    }


async def _password_sign_in(gw: Client, recorder: Recorder, user_id: int = 42, n: int = 1) -> str:
    recorder.reply("POST", "/api/auth/customers/sign_in", Reply(200, _sign_in_answer(user_id, n)))
    resp = await gw.post(
        "/api/auth/customers/sign_in", json={"user": {"email": "u@example.com", "password": "p"}}
    )
    assert resp.status == 200, await resp.text()
    return str((await resp.json())["access_token"])


async def _otp_sign_in(gw: Client, recorder: Recorder) -> str:
    recorder.reply("POST", "/api2/password_less/verify", Reply(200, OTP_VERIFY))
    resp = await gw.post(
        "/api2/password_less/verify", json={"email": "otp@example.com", "otp": "123456"}
    )
    assert resp.status == 200, await resp.text()
    return str((await resp.json())["data"]["access_token"])


async def _mobile_sign_in(gw: Client, recorder: Recorder) -> str:
    recorder.reply("POST", "/api2/mobile/users/login", Reply(200, MOBILE_LOGIN))
    resp = await gw.post("/api2/mobile/users/login", json={"user": {"email": "m@example.com"}})
    assert resp.status == 200, await resp.text()
    return str((await resp.json())["access_token"]["token"])


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def _users(gw: Client, token: str) -> ClientResponse:
    return await gw.get("/api/auth/users", headers=_bearer(token))


async def _assert_401(gw: Client, recorder: Recorder, token: str) -> None:
    before = len(recorder.seen)
    resp = await _users(gw, token)
    assert resp.status == 401, await resp.text()
    assert (await resp.json())["error"]["code"] == "invalid_session"
    assert len(recorder.seen) == before


def _claims(token: str) -> dict[str, Any]:
    payload = token.split(".")[1]
    doc: dict[str, Any] = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    return doc


def _resigned(token: str, secret: str) -> str:
    c = _claims(token)
    return encode_session_token(
        TokenClaims(c["sid"], c.get("sub"), c["iat"], c["exp"]), secret.encode()
    )


def _calls(recorder: Recorder, method: str, path: str) -> list[Seen]:
    return [s for s in recorder.seen if s.method == method and s.path == path]


# --- idle timeout and absolute lifetime ---------------------------------------------


async def test_idle_timeout_ends_a_quiet_session(
    recorder: Recorder, make_gateway: GatewayFactory, clock: ManualClock
) -> None:
    gw = await make_gateway(recorder.url, GATEWAY_SESSION_IDLE_TIMEOUT="600")
    token = await _password_sign_in(gw, recorder)
    clock.advance(599)
    assert (await _users(gw, token)).status == 200
    clock.advance(601)
    await _assert_401(gw, recorder, token)


async def test_idle_timeout_without_any_request(
    recorder: Recorder, make_gateway: GatewayFactory, clock: ManualClock
) -> None:
    gw = await make_gateway(recorder.url, GATEWAY_SESSION_IDLE_TIMEOUT="600")
    token = await _password_sign_in(gw, recorder)
    clock.advance(601)
    await _assert_401(gw, recorder, token)


async def test_activity_keeps_a_session_alive_past_the_idle_timeout(
    recorder: Recorder, make_gateway: GatewayFactory, clock: ManualClock
) -> None:
    gw = await make_gateway(recorder.url, GATEWAY_SESSION_IDLE_TIMEOUT="600")
    token = await _password_sign_in(gw, recorder)
    for _ in range(6):  # 3000 s in all, never 600 s quiet
        clock.advance(500)
        resp = await _users(gw, token)
        assert resp.status == 200, await resp.text()
    clock.advance(601)
    await _assert_401(gw, recorder, token)


async def test_absolute_lifetime_ends_even_an_active_session(
    recorder: Recorder, make_gateway: GatewayFactory, clock: ManualClock
) -> None:
    gw = await make_gateway(
        recorder.url, GATEWAY_SESSION_TTL="3600", GATEWAY_SESSION_IDLE_TIMEOUT="3600"
    )
    token = await _password_sign_in(gw, recorder)
    for _ in range(3):  # 1000, 2000, 3000
        clock.advance(1000)
        assert (await _users(gw, token)).status == 200
    clock.advance(599)  # 3599
    assert (await _users(gw, token)).status == 200
    clock.advance(2)  # 3601: past the absolute end, well inside the idle timeout
    await _assert_401(gw, recorder, token)
    clock.advance(399)  # 4000
    await _assert_401(gw, recorder, token)


# --- key rotation ----------------------------------------------------------------


async def test_rotated_gateway_signs_with_the_new_key(
    recorder: Recorder, make_gateway: GatewayFactory
) -> None:
    gw = await make_gateway(
        recorder.url, GATEWAY_SESSION_SECRET=SECRET_B, GATEWAY_SESSION_PREVIOUS_SECRETS=SECRET_A
    )
    token = await _password_sign_in(gw, recorder)
    assert jwt.get_unverified_header(token)["kid"] == key_id(SECRET_B.encode())
    assert key_id(SECRET_B.encode()) != key_id(SECRET_A.encode())
    jwt.decode(
        token, SECRET_B, algorithms=["HS256"], options={"verify_exp": False, "verify_iat": False}
    )
    assert (await _users(gw, token)).status == 200


async def test_token_signed_with_a_previous_key_is_accepted(
    recorder: Recorder, make_gateway: GatewayFactory
) -> None:
    gw = await make_gateway(
        recorder.url, GATEWAY_SESSION_SECRET=SECRET_B, GATEWAY_SESSION_PREVIOUS_SECRETS=SECRET_A
    )
    token = await _password_sign_in(gw, recorder)
    old = _resigned(token, SECRET_A)
    assert jwt.get_unverified_header(old)["kid"] == key_id(SECRET_A.encode())
    resp = await _users(gw, old)
    assert resp.status == 200, await resp.text()
    assert recorder.last.headers["Authorization"] == "Bearer PUNCHH-ACCESS-42-1"


async def test_several_previous_keys_are_accepted(
    recorder: Recorder, make_gateway: GatewayFactory
) -> None:
    gw = await make_gateway(
        recorder.url,
        GATEWAY_SESSION_SECRET=SECRET_B,
        GATEWAY_SESSION_PREVIOUS_SECRETS=f"{SECRET_A},{SECRET_C}",
    )
    token = await _password_sign_in(gw, recorder)
    for secret in (SECRET_A, SECRET_C):
        assert (await _users(gw, _resigned(token, secret))).status == 200


async def test_token_signed_with_an_unlisted_key_is_401(
    recorder: Recorder, make_gateway: GatewayFactory
) -> None:
    gw = await make_gateway(
        recorder.url, GATEWAY_SESSION_SECRET=SECRET_B, GATEWAY_SESSION_PREVIOUS_SECRETS=SECRET_A
    )
    token = await _password_sign_in(gw, recorder)
    await _assert_401(gw, recorder, _resigned(token, SECRET_C))


async def test_without_previous_secrets_the_old_key_is_401(
    recorder: Recorder, make_gateway: GatewayFactory
) -> None:
    gw = await make_gateway(recorder.url, GATEWAY_SESSION_SECRET=SECRET_B)
    token = await _password_sign_in(gw, recorder)
    await _assert_401(gw, recorder, _resigned(token, SECRET_A))


# --- logout signs out at Punchh ----------------------------------------------------


async def test_logout_of_an_otp_session_signs_out_at_punchh(
    recorder: Recorder, make_gateway: GatewayFactory
) -> None:
    gw = await make_gateway(recorder.url)
    token = await _otp_sign_in(gw, recorder)
    recorder.reply("POST", "/api2/password_less/sign_out", Reply(200, {}))
    resp = await gw.post("/gateway/logout", headers=_bearer(token))
    assert resp.status == 204, await resp.text()
    (call,) = _calls(recorder, "POST", "/api2/password_less/sign_out")
    assert call.headers["Authorization"] == "Bearer PUNCHH-ACCESS-OTP"
    assert call.headers["id-token"] == ID_TOKEN
    assert call.json()["client"] == CLIENT_ID
    assert token not in call.body.decode()
    await _assert_401(gw, recorder, token)


async def test_logout_of_a_mobile_session_signs_out_at_punchh(
    recorder: Recorder, make_gateway: GatewayFactory
) -> None:
    gw = await make_gateway(recorder.url)
    token = await _mobile_sign_in(gw, recorder)
    recorder.reply("DELETE", "/api2/mobile/users/logout", Reply(200, {}))
    resp = await gw.post("/gateway/logout", headers=_bearer(token))
    assert resp.status == 204, await resp.text()
    (call,) = _calls(recorder, "DELETE", "/api2/mobile/users/logout")
    assert call.headers["Authorization"] == "Bearer PUNCHH-ACCESS-MOBILE"
    assert call.headers["x-pch-digest"] == digest(CLIENT_SECRET, call.raw_path, call.body, "sha256")
    assert call.json()["client"] == CLIENT_ID
    before = len(recorder.seen)
    after = await gw.get("/api2/mobile/users/balance", headers=_bearer(token))
    assert after.status == 401
    assert len(recorder.seen) == before


async def test_logout_of_a_password_session_makes_no_punchh_call(
    recorder: Recorder, make_gateway: GatewayFactory
) -> None:
    gw = await make_gateway(recorder.url)
    token = await _password_sign_in(gw, recorder)
    before = len(recorder.seen)
    assert (await gw.post("/gateway/logout", headers=_bearer(token))).status == 204
    assert len(recorder.seen) == before
    await _assert_401(gw, recorder, token)


@pytest.mark.parametrize("kind", ["otp", "mobile"])
async def test_logout_ends_the_session_when_punchh_sign_out_fails(
    recorder: Recorder, make_gateway: GatewayFactory, kind: str
) -> None:
    gw = await make_gateway(recorder.url)
    if kind == "otp":
        token = await _otp_sign_in(gw, recorder)
        recorder.reply("POST", "/api2/password_less/sign_out", Reply(500, {"error": "boom"}))
    else:
        token = await _mobile_sign_in(gw, recorder)
        recorder.reply("DELETE", "/api2/mobile/users/logout", Reply(500, {"error": "boom"}))
    resp = await gw.post("/gateway/logout", headers=_bearer(token))
    assert resp.status == 204, await resp.text()
    assert recorder.last.path in ("/api2/password_less/sign_out", "/api2/mobile/users/logout")
    await _assert_401(gw, recorder, token)


async def test_logout_ends_the_session_when_punchh_is_unreachable(
    make_gateway: GatewayFactory,
) -> None:
    punchh = Recorder(CLIENT_SECRET)
    server = TestServer(punchh.app, host="127.0.0.1")
    await server.start_server()
    punchh.url = str(server.make_url("")).rstrip("/")
    gw = await make_gateway(punchh.url)
    token = await _otp_sign_in(gw, punchh)
    await server.close()  # Punchh goes away: the sign-out cannot reach it
    assert (await gw.post("/gateway/logout", headers=_bearer(token))).status == 204
    resp = await _users(gw, token)
    assert resp.status == 401
    assert (await resp.json())["error"]["code"] == "invalid_session"
    assert _calls(punchh, "POST", "/api2/password_less/sign_out") == []


async def test_logout_twice_is_401(recorder: Recorder, make_gateway: GatewayFactory) -> None:
    gw = await make_gateway(recorder.url)
    token = await _otp_sign_in(gw, recorder)
    recorder.reply("POST", "/api2/password_less/sign_out", Reply(200, {}))
    assert (await gw.post("/gateway/logout", headers=_bearer(token))).status == 204
    before = len(recorder.seen)
    again = await gw.post("/gateway/logout", headers=_bearer(token))
    assert again.status == 401
    assert (await again.json())["error"]["code"] == "invalid_session"
    assert len(recorder.seen) == before  # no second sign-out at Punchh


class _BlockingPunchh:
    """A fake Punchh whose token refresh waits until the test lets it answer."""

    def __init__(self) -> None:
        self.refresh_arrived = asyncio.Event()
        self.release = asyncio.Event()
        self.app = web.Application()
        self.app.router.add_post("/api2/password_less/verify", self._verify)
        self.app.router.add_post("/api2/password_less/refresh_token", self._refresh)
        self.app.router.add_post("/api2/password_less/sign_out", self._ok)
        self.app.router.add_get("/api/auth/users", self._ok)

    async def _verify(self, request: web.Request) -> web.Response:
        return web.json_response({"data": {**OTP_VERIFY["data"], "expires_in": 1800}})

    async def _refresh(self, request: web.Request) -> web.Response:
        self.refresh_arrived.set()
        await self.release.wait()
        return web.json_response(
            {
                "data": {
                    "access_token": "PUNCHH-ACCESS-OTP-2",
                    "refresh_token": "R2",
                    "expires_in": 86400,
                }
            }
        )

    async def _ok(self, request: web.Request) -> web.Response:
        return web.json_response({})


async def test_logout_during_a_token_refresh_stays_logged_out(
    make_gateway: GatewayFactory, clock: ManualClock
) -> None:
    punchh = _BlockingPunchh()
    server = TestServer(punchh.app, host="127.0.0.1")
    await server.start_server()
    try:
        gw = await make_gateway(str(server.make_url("")).rstrip("/"))
        verify = await gw.post("/api2/password_less/verify", json={"otp": "123456"})
        token = str((await verify.json())["data"]["access_token"])
        clock.advance(1800 - 30)  # within the refresh margin: the next request refreshes first
        in_flight = asyncio.ensure_future(_users(gw, token))
        try:
            await asyncio.wait_for(punchh.refresh_arrived.wait(), 10)
            assert (await gw.post("/gateway/logout", headers=_bearer(token))).status == 204
        finally:
            punchh.release.set()
            await in_flight
        resp = await _users(gw, token)
        assert resp.status == 401, await resp.text()
    finally:
        await server.close()


# --- revoke all --------------------------------------------------------------------


async def test_logout_all_ends_every_session_of_that_guest_only(
    recorder: Recorder, make_gateway: GatewayFactory
) -> None:
    gw = await make_gateway(recorder.url)
    first = await _password_sign_in(gw, recorder, user_id=42, n=1)
    second = await _password_sign_in(gw, recorder, user_id=42, n=2)
    other = await _password_sign_in(gw, recorder, user_id=43, n=1)
    assert first != second
    assert _claims(first)["sub"] == _claims(second)["sub"] == "42"
    for token in (first, second, other):
        assert (await _users(gw, token)).status == 200
    resp = await gw.post("/gateway/logout/all", headers=_bearer(second))
    assert resp.status == 204, await resp.text()
    await _assert_401(gw, recorder, first)
    await _assert_401(gw, recorder, second)
    assert (await _users(gw, other)).status == 200
    assert recorder.last.headers["Authorization"] == "Bearer PUNCHH-ACCESS-43-1"


async def test_the_guest_can_sign_in_again_after_logout_all(
    recorder: Recorder, make_gateway: GatewayFactory
) -> None:
    gw = await make_gateway(recorder.url)
    old = await _password_sign_in(gw, recorder, user_id=42, n=1)
    assert (await gw.post("/gateway/logout/all", headers=_bearer(old))).status == 204
    new = await _password_sign_in(gw, recorder, user_id=42, n=2)
    assert (await _users(gw, new)).status == 200
    await _assert_401(gw, recorder, old)
    assert (await gw.post("/gateway/logout/all", headers=_bearer(new))).status == 204
    await _assert_401(gw, recorder, new)


async def test_logout_all_without_a_live_session_is_401(
    recorder: Recorder, make_gateway: GatewayFactory
) -> None:
    gw = await make_gateway(recorder.url)
    resp = await gw.post("/gateway/logout/all")
    assert resp.status == 401
    assert (await resp.json())["error"]["code"] == "session_required"


# --- readiness ---------------------------------------------------------------------


async def test_readyz_reports_the_memory_store(
    recorder: Recorder, make_gateway: GatewayFactory
) -> None:
    gw = await make_gateway(recorder.url)
    resp = await gw.get("/readyz")
    assert resp.status == 200
    assert await resp.json() == {"status": "ready", "store": "ok"}
    assert recorder.seen == []


# --- a verified token is remembered by its exact bytes, never by its claims ----------


def _other_signature(token: str) -> str:
    """The same header and claims, another signature: one flipped character, and one made
    with a key the gateway never had."""
    head, payload, sig = token.split(".")
    flipped = sig[:-2] + ("A" if sig[-2] != "A" else "B") + sig[-1]
    return f"{head}.{payload}.{flipped}"


async def test_a_verified_token_with_another_signature_is_401(
    gw: Client, recorder: Recorder
) -> None:
    token = await _password_sign_in(gw, recorder)
    assert (await _users(gw, token)).status == 200  # verified once: now remembered
    await _assert_401(gw, recorder, _other_signature(token))
    head, payload, _ = token.split(".")
    foreign = _resigned(token, SECRET_C).split(".")[2]
    await _assert_401(gw, recorder, f"{head}.{payload}.{foreign}")
    await _assert_401(gw, recorder, f"{head}.{payload}.")
    assert (await _users(gw, token)).status == 200  # the genuine one still works
