"""The token swap both ways: Punchh's tokens stay in the gateway, the frontend holds ours."""

from __future__ import annotations

import base64
import json
from typing import Any

import jwt
import pytest

from gateway.tokens import TokenClaims, encode_session_token, key_id
from tests.conftest import SESSION_SECRET, Client, GatewayFactory
from tests.support.clock import ManualClock
from tests.support.recorder import Recorder, Reply

pytestmark = pytest.mark.asyncio

PUNCHH_TOKENS = ("PUNCHH-ACCESS-1", "PUNCHH-AUTH-1", "PUNCHH-REFRESH-1", "PUNCHH-ID-1")
ID_TOKEN = jwt.encode({"sub": "901", "email": "otp@example.com"}, "i" * 32, algorithm="HS256")

SIGNUP = {
    "id": 42,
    "user_id": 42,
    "email": "g@example.com",
    "first_name": "Gia",
    "authentication_token": "PUNCHH-AUTH-1",
    "access_token": "PUNCHH-ACCESS-1",
    "referral_code": "GIA42",
}
OTP_VERIFY = {
    "data": {
        "access_token": "PUNCHH-ACCESS-2",
        "id_token": ID_TOKEN,
        "refresh_token": "PUNCHH-REFRESH-2",
        "token_type": "Bearer",
        "expires_in": 1800,
    }
}
MOBILE_LOGIN = {
    "user": {"id": 7},
    "access_token": {
        "token": "PUNCHH-ACCESS-3",
        "refresh_token": "PUNCHH-REFRESH-3",
        "seconds_to_expire": 7200,
        "revoked_at": None,
        "scopes": ["all"],
    },
}


def _assert_no_punchh_token(raw: bytes, headers: Any) -> None:
    everything = raw + json.dumps(dict(headers)).encode()
    assert b"PUNCHH-" not in everything
    assert ID_TOKEN.encode() not in everything


async def _sign_up(gw: Client, recorder: Recorder) -> str:
    recorder.reply("POST", "/api/auth/customers.json", Reply(201, SIGNUP))
    resp = await gw.post(
        "/api/auth/customers.json",
        json={"user": {"email": "g@example.com", "password": "long-pass"}},
    )
    assert resp.status == 201
    body = await resp.json()
    _assert_no_punchh_token(await resp.read(), resp.headers)
    return str(body["access_token"])


async def test_sign_up_answer_carries_the_gateway_token(
    gw: Client, recorder: Recorder, clock: ManualClock
) -> None:
    recorder.reply("POST", "/api/auth/customers.json", Reply(201, SIGNUP))
    resp = await gw.post("/api/auth/customers.json", json={"user": {}})
    body = await resp.json()
    assert body["access_token"] == body["authentication_token"]
    assert {k: v for k, v in body.items() if k not in ("access_token", "authentication_token")} == {
        k: v for k, v in SIGNUP.items() if k not in ("access_token", "authentication_token")
    }
    header = jwt.get_unverified_header(body["access_token"])
    assert header["alg"] == "HS256"
    assert header["kid"] == key_id(SESSION_SECRET.encode())
    claims = jwt.decode(
        body["access_token"],
        SESSION_SECRET,
        algorithms=["HS256"],
        options={"verify_exp": False, "verify_iat": False},
    )
    assert claims["sub"] == "42"
    assert claims["exp"] == int(clock.now) + 86400
    assert claims["iat"] == int(clock.now)
    assert len(claims["sid"]) >= 32


async def test_bearer_becomes_punchh_bearer(gw: Client, recorder: Recorder) -> None:
    token = await _sign_up(gw, recorder)
    resp = await gw.get("/api/auth/users", headers={"Authorization": f"Bearer {token}"})
    assert resp.status == 200
    seen = recorder.last
    assert seen.headers["Authorization"] == "Bearer PUNCHH-ACCESS-1"
    assert "id-token" not in seen.headers  # a password sign-in has no id token
    _assert_no_punchh_token(await resp.read(), resp.headers)


async def test_authentication_token_in_body_and_query(gw: Client, recorder: Recorder) -> None:
    token = await _sign_up(gw, recorder)
    await gw.post(
        "/api/auth/checkins/online_order",
        json={"authentication_token": token, "external_uid": "o-1"},
    )
    body = recorder.last.json()
    assert body["authentication_token"] == "PUNCHH-AUTH-1"
    assert body["external_uid"] == "o-1"
    assert recorder.last.headers["Authorization"] == "Bearer PUNCHH-ACCESS-1"
    await gw.get(f"/api/auth/checkins/balance?authentication_token={token}")
    assert "authentication_token=PUNCHH-AUTH-1" in recorder.last.query


async def test_otp_session_sends_id_token(gw: Client, recorder: Recorder) -> None:
    recorder.reply("POST", "/api2/password_less/verify", Reply(200, OTP_VERIFY))
    resp = await gw.post(
        "/api2/password_less/verify", json={"email": "otp@example.com", "otp": "123456"}
    )
    assert resp.status == 200
    _assert_no_punchh_token(await resp.read(), resp.headers)
    data = (await resp.json())["data"]
    assert set(data) == {"access_token", "token_type", "expires_in"}
    claims = jwt.decode(
        data["access_token"],
        SESSION_SECRET,
        algorithms=["HS256"],
        options={"verify_exp": False, "verify_iat": False},
    )
    assert claims["sub"] == "901"  # read from Punchh's id_token
    await gw.get(
        "/api/auth/users/balance", headers={"Authorization": f"Bearer {data['access_token']}"}
    )
    assert recorder.last.headers["Authorization"] == "Bearer PUNCHH-ACCESS-2"
    assert recorder.last.headers["id-token"] == ID_TOKEN


async def test_mobile_login_object_is_rewritten(gw: Client, recorder: Recorder) -> None:
    recorder.reply("POST", "/api2/mobile/users/login", Reply(200, MOBILE_LOGIN))
    resp = await gw.post("/api2/mobile/users/login", json={"user": {}})
    _assert_no_punchh_token(await resp.read(), resp.headers)
    access = (await resp.json())["access_token"]
    assert set(access) == {"token", "seconds_to_expire", "revoked_at", "scopes"}
    await gw.get(
        "/api2/mobile/users/balance", headers={"Authorization": f"Bearer {access['token']}"}
    )
    assert recorder.last.headers["Authorization"] == "Bearer PUNCHH-ACCESS-3"


async def test_echoed_tokens_are_scrubbed(gw: Client, recorder: Recorder) -> None:
    token = await _sign_up(gw, recorder)
    recorder.reply(
        "GET",
        "/api/auth/users",
        Reply(
            200, {"id": 42, "authentication_token": "PUNCHH-AUTH-1", "nested": ["PUNCHH-ACCESS-1"]}
        ),
    )
    resp = await gw.get("/api/auth/users", headers={"Authorization": f"Bearer {token}"})
    _assert_no_punchh_token(await resp.read(), resp.headers)
    assert await resp.json() == {"id": 42, "authentication_token": token, "nested": [token]}


async def test_refresh_uses_the_session_refresh_token(gw: Client, recorder: Recorder) -> None:
    recorder.reply("POST", "/api2/password_less/verify", Reply(200, OTP_VERIFY))
    token = (await (await gw.post("/api2/password_less/verify", json={})).json())["data"][
        "access_token"
    ]
    recorder.reply(
        "POST",
        "/api2/password_less/refresh_token",
        Reply(
            200,
            {
                "data": {
                    "access_token": "PUNCHH-ACCESS-2b",
                    "refresh_token": "PUNCHH-REFRESH-2b",
                    "token_type": "Bearer",
                    "expires_in": 1800,
                }
            },
        ),
    )
    resp = await gw.post(
        "/api2/password_less/refresh_token", headers={"Authorization": f"Bearer {token}"}
    )
    assert resp.status == 200
    assert recorder.last.json()["refresh_token"] == "PUNCHH-REFRESH-2"
    _assert_no_punchh_token(await resp.read(), resp.headers)
    assert (await resp.json())["data"]["access_token"] == token
    await gw.get("/api/auth/users", headers={"Authorization": f"Bearer {token}"})
    assert recorder.last.headers["Authorization"] == "Bearer PUNCHH-ACCESS-2b"
    assert recorder.last.headers["id-token"] == ID_TOKEN  # kept: Punchh did not send a new one


def _b64(doc: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(doc).encode()).rstrip(b"=").decode()


def _forge(kind: str, good: str, now: float) -> str:
    head, payload, sig = good.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    if kind == "wrong_key":
        return encode_session_token(
            TokenClaims(claims["sid"], claims["sub"], claims["iat"], claims["exp"]), b"w" * 40
        )
    if kind == "wrong_key_same_kid":
        return jwt.encode(
            claims, "w" * 40, algorithm="HS256", headers={"kid": key_id(SESSION_SECRET.encode())}
        )
    if kind == "alg_none":
        return (
            _b64({"alg": "none", "typ": "JWT", "kid": key_id(SESSION_SECRET.encode())})
            + "."
            + payload
            + "."
        )
    if kind == "tampered":
        return f"{head}.{_b64({**claims, 'sub': '43'})}.{sig}"
    if kind == "punchh_token":
        return "PUNCHH-ACCESS-1"
    raise AssertionError(kind)


@pytest.mark.parametrize(
    "kind", ["wrong_key", "wrong_key_same_kid", "alg_none", "tampered", "punchh_token"]
)
async def test_forged_tokens_are_401_without_calling_punchh(
    gw: Client, recorder: Recorder, clock: ManualClock, kind: str
) -> None:
    good = await _sign_up(gw, recorder)
    before = len(recorder.seen)
    forged = _forge(kind, good, clock.now)
    for kwargs in (
        {"headers": {"Authorization": f"Bearer {forged}"}},
        {"params": {"authentication_token": forged}},
    ):
        resp = await gw.get("/api/auth/users", **kwargs)  # type: ignore[arg-type]
        assert resp.status == 401
        assert (await resp.json())["error"]["code"] == "invalid_session"
    assert len(recorder.seen) == before


async def test_expired_token_is_401(
    recorder: Recorder, make_gateway: GatewayFactory, clock: ManualClock
) -> None:
    gw = await make_gateway(recorder.url, GATEWAY_SESSION_IDLE_TIMEOUT="86400")
    token = await _sign_up(gw, recorder)
    clock.advance(86400 - 60)
    assert (
        await gw.get("/api/auth/users", headers={"Authorization": f"Bearer {token}"})
    ).status == 200
    clock.advance(120)
    before = len(recorder.seen)
    resp = await gw.get("/api/auth/users", headers={"Authorization": f"Bearer {token}"})
    assert resp.status == 401
    assert "expired" in (await resp.json())["error"]["message"]
    assert len(recorder.seen) == before


async def test_gateway_logout_ends_the_session(gw: Client, recorder: Recorder) -> None:
    token = await _sign_up(gw, recorder)
    auth = {"Authorization": f"Bearer {token}"}
    assert (await gw.post("/gateway/logout", headers=auth)).status == 204
    before = len(recorder.seen)
    resp = await gw.get("/api/auth/users", headers=auth)
    assert resp.status == 401
    assert (await resp.json())["error"]["code"] == "invalid_session"
    assert len(recorder.seen) == before
    assert (await gw.post("/gateway/logout", headers=auth)).status == 401


async def test_punchh_logout_route_ends_the_session(gw: Client, recorder: Recorder) -> None:
    recorder.reply("POST", "/api2/mobile/users/login", Reply(200, MOBILE_LOGIN))
    token = (await (await gw.post("/api2/mobile/users/login", json={})).json())["access_token"][
        "token"
    ]
    auth = {"Authorization": f"Bearer {token}"}
    resp = await gw.delete("/api2/mobile/users/logout", headers=auth)
    assert resp.status == 200
    assert recorder.last.headers["Authorization"] == "Bearer PUNCHH-ACCESS-3"
    assert (await gw.get("/api2/mobile/users/balance", headers=auth)).status == 401


async def test_session_without_access_token_sends_authentication_token(
    gw: Client, recorder: Recorder
) -> None:
    recorder.reply(
        "POST",
        "/api/auth/customers/sign_in",
        Reply(200, {"id": 5, "authentication_token": "PUNCHH-AUTH-ONLY"}),
    )
    token = (await (await gw.post("/api/auth/customers/sign_in", json={})).json())[
        "authentication_token"
    ]
    await gw.get("/api/auth/users", headers={"Authorization": f"Bearer {token}"})
    assert "Authorization" not in recorder.last.headers
    assert "authentication_token=PUNCHH-AUTH-ONLY" in recorder.last.query


async def test_logout_ends_the_session_even_when_punchh_fails(
    recorder: Recorder, make_gateway: GatewayFactory
) -> None:
    gw = await make_gateway(recorder.url, PUNCHH_TOTAL_TIMEOUT="0.3", PUNCHH_CONNECT_TIMEOUT="0.2")
    recorder.reply("POST", "/api2/mobile/users/login", Reply(200, MOBILE_LOGIN))
    recorder.reply("DELETE", "/api2/mobile/users/logout", Reply(200, {}, delay=1.0))
    token = (await (await gw.post("/api2/mobile/users/login", json={})).json())["access_token"][
        "token"
    ]
    auth = {"Authorization": f"Bearer {token}"}
    resp = await gw.delete("/api2/mobile/users/logout", headers=auth)
    assert resp.status == 504
    assert (await gw.get("/api2/mobile/users/balance", headers=auth)).status == 401
