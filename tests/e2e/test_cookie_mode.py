"""Cookie mode: the session in an HttpOnly cookie, CSRF by Origin, CORS for the frontend."""

from __future__ import annotations

import json
from http.cookies import Morsel, SimpleCookie

import pytest
from aiohttp import ClientResponse

from gateway.config import ConfigError, load_config
from tests.conftest import CLIENT_ID, Client, GatewayFactory, gateway_env
from tests.support.recorder import Recorder, Reply

ORIGIN = "https://order.example.com"
OTHER = "https://evil.example.net"
TTL = 7200
COOKIE_ENV = {
    "GATEWAY_COOKIE_MODE": "1",
    "GATEWAY_ALLOWED_ORIGINS": ORIGIN,
    "GATEWAY_SESSION_TTL": str(TTL),
}

SIGNUP = {
    "id": 42,
    "user_id": 42,
    "email": "g@example.com",
    "first_name": "Gia",
    "authentication_token": "PUNCHH-AUTH-1",
    "access_token": "PUNCHH-ACCESS-1",
    "referral_code": "GIA42",
}
CHECKIN = {"external_uid": "order-1", "receipt_amount": 12.5}


async def _cookie_gateway(recorder: Recorder, make_gateway: GatewayFactory, **env: str) -> Client:
    recorder.reply("POST", "/api/auth/customers.json", Reply(201, SIGNUP))
    return await make_gateway(recorder.url, **{**COOKIE_ENV, **env})


def _session_morsel(resp: ClientResponse) -> Morsel[str]:
    jar: SimpleCookie = SimpleCookie()
    for header in resp.headers.getall("Set-Cookie", []):
        jar.load(header)
    assert "lg_session" in jar, resp.headers.getall("Set-Cookie", [])
    return jar["lg_session"]


async def _sign_up(gw: Client) -> tuple[ClientResponse, str]:
    """Sign up from the allowed origin; the answer and the cookie's value (the gateway token)."""
    resp = await gw.post(
        "/api/auth/customers.json",
        json={"user": {"email": "g@example.com", "password": "long-pass"}},
        headers={"Origin": ORIGIN},
    )
    assert resp.status == 201, await resp.text()
    token = _session_morsel(resp).value
    # The test client's jar must not send the cookie by itself: every test says what it sends.
    gw.session.cookie_jar.clear()
    return resp, token


def _cookie(token: str) -> dict[str, str]:
    return {"Cookie": f"lg_session={token}"}


async def _error(resp: ClientResponse, status: int, code: str) -> None:
    assert resp.status == status, await resp.text()
    assert (await resp.json())["error"]["code"] == code


async def test_sign_in_sets_a_hardened_cookie_and_shows_no_token(
    recorder: Recorder, make_gateway: GatewayFactory
) -> None:
    gw = await _cookie_gateway(recorder, make_gateway)
    resp, token = await _sign_up(gw)
    raw_headers = resp.headers.getall("Set-Cookie")
    assert len([h for h in raw_headers if h.startswith("lg_session=")]) == 1
    morsel = _session_morsel(resp)
    assert token.count(".") == 2  # a JWT
    assert morsel["httponly"] is True
    assert morsel["secure"] is True
    assert morsel["samesite"] == "Lax"
    assert morsel["path"] == "/"
    assert morsel["max-age"] == str(TTL)
    raw = await resp.read()
    body = json.loads(raw)
    assert "access_token" not in body
    assert "authentication_token" not in body
    assert token.encode() not in raw
    assert b"PUNCHH-" not in raw
    assert body["email"] == "g@example.com"
    assert body["referral_code"] == "GIA42"


async def test_get_with_only_the_cookie_reaches_punchh_with_the_punchh_token(
    recorder: Recorder, make_gateway: GatewayFactory
) -> None:
    gw = await _cookie_gateway(recorder, make_gateway)
    _, token = await _sign_up(gw)
    resp = await gw.get("/api/auth/users", headers=_cookie(token))
    assert resp.status == 200, await resp.text()
    seen = recorder.last
    assert seen.path == "/api/auth/users"
    assert seen.headers["Authorization"] == "Bearer PUNCHH-ACCESS-1"
    assert "Cookie" not in seen.headers
    assert token not in seen.raw_path


async def test_post_with_cookie_and_allowed_origin_is_forwarded(
    recorder: Recorder, make_gateway: GatewayFactory
) -> None:
    gw = await _cookie_gateway(recorder, make_gateway)
    _, token = await _sign_up(gw)
    resp = await gw.post(
        "/api/auth/checkins/online_order",
        json=CHECKIN,
        headers={**_cookie(token), "Origin": ORIGIN},
    )
    assert resp.status == 200, await resp.text()
    assert recorder.last.path == "/api/auth/checkins/online_order"
    assert recorder.last.headers["Authorization"] == "Bearer PUNCHH-ACCESS-1"
    assert recorder.last.json()["client"] == CLIENT_ID


@pytest.mark.parametrize(
    "origin", [None, OTHER, "null", "http://order.example.com", "https://order.example.com:8443"]
)
async def test_post_without_the_allowed_origin_is_403_and_punchh_not_called(
    recorder: Recorder, make_gateway: GatewayFactory, origin: str | None
) -> None:
    gw = await _cookie_gateway(recorder, make_gateway)
    _, token = await _sign_up(gw)
    before = len(recorder.seen)
    headers = _cookie(token)
    if origin is not None:
        headers["Origin"] = origin
    resp = await gw.post("/api/auth/checkins/online_order", json=CHECKIN, headers=headers)
    await _error(resp, 403, "origin_forbidden")
    assert len(recorder.seen) == before


async def test_get_without_origin_is_allowed(
    recorder: Recorder, make_gateway: GatewayFactory
) -> None:
    gw = await _cookie_gateway(recorder, make_gateway)
    _, token = await _sign_up(gw)
    resp = await gw.get("/api/auth/checkins/balance", headers=_cookie(token))
    assert resp.status == 200, await resp.text()
    assert recorder.last.path == "/api/auth/checkins/balance"


@pytest.mark.parametrize("origin", [None, OTHER])
async def test_sign_in_without_the_allowed_origin_is_403(
    recorder: Recorder, make_gateway: GatewayFactory, origin: str | None
) -> None:
    gw = await _cookie_gateway(recorder, make_gateway)
    headers = {} if origin is None else {"Origin": origin}
    resp = await gw.post(
        "/api/auth/customers.json", json={"user": {"email": "g@example.com"}}, headers=headers
    )
    await _error(resp, 403, "origin_forbidden")
    assert "Set-Cookie" not in resp.headers
    assert recorder.seen == []


async def test_preflight_from_the_allowed_origin(
    recorder: Recorder, make_gateway: GatewayFactory
) -> None:
    gw = await _cookie_gateway(recorder, make_gateway)
    resp = await gw.options(
        "/api/auth/checkins/online_order",
        headers={
            "Origin": ORIGIN,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type",
        },
    )
    assert resp.status == 204, await resp.text()
    assert resp.headers["Access-Control-Allow-Origin"] == ORIGIN
    assert resp.headers["Access-Control-Allow-Credentials"] == "true"
    methods = {m.strip() for m in resp.headers["Access-Control-Allow-Methods"].split(",")}
    assert {"GET", "POST", "PUT", "PATCH", "DELETE"} <= methods
    allowed_headers = {
        h.strip().lower() for h in resp.headers["Access-Control-Allow-Headers"].split(",")
    }
    assert {"content-type", "authorization", "x-request-id"} <= allowed_headers
    assert "Origin" in resp.headers.get("Vary", "")
    assert recorder.seen == []


@pytest.mark.parametrize("origin", [OTHER, None])
async def test_preflight_from_another_origin_is_403(
    recorder: Recorder, make_gateway: GatewayFactory, origin: str | None
) -> None:
    gw = await _cookie_gateway(recorder, make_gateway)
    headers = {"Access-Control-Request-Method": "POST"}
    if origin is not None:
        headers["Origin"] = origin
    resp = await gw.options("/api/auth/checkins/online_order", headers=headers)
    await _error(resp, 403, "origin_forbidden")
    assert "Access-Control-Allow-Origin" not in resp.headers
    assert "Access-Control-Allow-Credentials" not in resp.headers
    assert recorder.seen == []


@pytest.mark.parametrize("path", ["/api/auth/checkins/online_order", "/healthz", "/nowhere"])
async def test_a_preflight_where_no_origin_is_allowed_is_403_not_405(
    recorder: Recorder, make_gateway: GatewayFactory, path: str
) -> None:
    """The default configuration allows no origin: a browser's preflight gets the same
    403 origin_forbidden as from an origin not allowed (not 405 for OPTIONS)."""
    gw = await make_gateway(recorder.url)
    headers = {"Origin": OTHER, "Access-Control-Request-Method": "POST"}
    resp = await gw.options(path, headers=headers)
    await _error(resp, 403, "origin_forbidden")
    assert "Access-Control-Allow-Origin" not in resp.headers
    assert recorder.seen == []
    plain = await gw.options("/api/auth/checkins/online_order")  # not a preflight
    assert plain.status == 405


async def test_answers_to_the_allowed_origin_carry_cors_headers(
    recorder: Recorder, make_gateway: GatewayFactory
) -> None:
    gw = await _cookie_gateway(recorder, make_gateway)
    _, token = await _sign_up(gw)
    resp = await gw.get("/api/auth/users", headers={**_cookie(token), "Origin": ORIGIN})
    assert resp.status == 200
    assert resp.headers["Access-Control-Allow-Origin"] == ORIGIN
    assert resp.headers["Access-Control-Allow-Credentials"] == "true"
    assert "Origin" in resp.headers["Vary"]


async def test_sign_in_answer_to_the_allowed_origin_carries_cors_headers(
    recorder: Recorder, make_gateway: GatewayFactory
) -> None:
    gw = await _cookie_gateway(recorder, make_gateway)
    resp, _ = await _sign_up(gw)
    assert resp.headers["Access-Control-Allow-Origin"] == ORIGIN
    assert resp.headers["Access-Control-Allow-Credentials"] == "true"
    assert "Origin" in resp.headers["Vary"]


async def test_answers_to_another_origin_carry_no_cors_headers(
    recorder: Recorder, make_gateway: GatewayFactory
) -> None:
    gw = await _cookie_gateway(recorder, make_gateway)
    _, token = await _sign_up(gw)
    resp = await gw.get("/api/auth/users", headers={**_cookie(token), "Origin": OTHER})
    assert resp.status == 200  # a GET is not CSRF-checked; the browser just cannot read it
    assert "Access-Control-Allow-Origin" not in resp.headers
    assert "Access-Control-Allow-Credentials" not in resp.headers


async def test_gateway_errors_to_the_allowed_origin_carry_cors_headers(
    recorder: Recorder, make_gateway: GatewayFactory
) -> None:
    gw = await _cookie_gateway(recorder, make_gateway)
    resp = await gw.get("/api/auth/users", headers={"Origin": ORIGIN})
    await _error(resp, 401, "session_required")
    assert resp.headers.get("Access-Control-Allow-Origin") == ORIGIN
    assert resp.headers.get("Access-Control-Allow-Credentials") == "true"


async def test_gateway_logout_clears_the_cookie_and_ends_the_session(
    recorder: Recorder, make_gateway: GatewayFactory
) -> None:
    gw = await _cookie_gateway(recorder, make_gateway)
    _, token = await _sign_up(gw)
    resp = await gw.post("/gateway/logout", headers={**_cookie(token), "Origin": ORIGIN})
    assert resp.status == 204, await resp.text()
    morsel = _session_morsel(resp)
    assert morsel.value == ""
    assert morsel["max-age"] == "0" or "1970" in morsel["expires"]
    assert morsel["path"] == "/"
    gw.session.cookie_jar.clear()
    before = len(recorder.seen)
    after = await gw.get("/api/auth/users", headers=_cookie(token))
    await _error(after, 401, "invalid_session")
    assert len(recorder.seen) == before


async def test_gateway_logout_without_origin_is_403_and_keeps_the_session(
    recorder: Recorder, make_gateway: GatewayFactory
) -> None:
    gw = await _cookie_gateway(recorder, make_gateway)
    _, token = await _sign_up(gw)
    await _error(await gw.post("/gateway/logout", headers=_cookie(token)), 403, "origin_forbidden")
    assert (await gw.get("/api/auth/users", headers=_cookie(token))).status == 200


async def test_cookie_secure_can_be_turned_off_for_plain_http_development(
    recorder: Recorder, make_gateway: GatewayFactory
) -> None:
    gw = await _cookie_gateway(recorder, make_gateway, GATEWAY_COOKIE_SECURE="0")
    resp, _ = await _sign_up(gw)
    morsel = _session_morsel(resp)
    assert not morsel["secure"]
    assert morsel["httponly"] is True
    assert morsel["samesite"] == "Lax"


@pytest.mark.parametrize("origins", [None, ""])
def test_cookie_mode_without_allowed_origins_is_refused(origins: str | None) -> None:
    env = gateway_env("http://127.0.0.1:9", GATEWAY_COOKIE_MODE="1")
    if origins is not None:
        env["GATEWAY_ALLOWED_ORIGINS"] = origins
    with pytest.raises(ConfigError) as info:
        load_config(None, env)
    assert any(p.startswith("session.allowed_origins") for p in info.value.problems)


async def test_outside_cookie_mode_the_cookie_is_ignored(
    recorder: Recorder, make_gateway: GatewayFactory
) -> None:
    gw = await make_gateway(recorder.url)
    recorder.reply("POST", "/api/auth/customers.json", Reply(201, SIGNUP))
    signed_up = await gw.post("/api/auth/customers.json", json={"user": {}})
    assert "Set-Cookie" not in signed_up.headers
    token = (await signed_up.json())["access_token"]
    before = len(recorder.seen)
    resp = await gw.get("/api/auth/users", headers=_cookie(token))
    await _error(resp, 401, "session_required")
    assert len(recorder.seen) == before
    # the same token as a Bearer works: the cookie alone was refused, not the session
    ok = await gw.get("/api/auth/users", headers={"Authorization": f"Bearer {token}"})
    assert ok.status == 200
