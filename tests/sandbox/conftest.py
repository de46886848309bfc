"""Fixtures: a real sandbox on 127.0.0.1 with a manual clock, and a tiny signed client.

The client signs on its own (hmac over path + "?" + query + body, as Punchh documents),
independently of ``sandbox.signing``, so a bug there cannot hide in both.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import aiohttp
import pytest
from yarl import URL

from sandbox.config import SandboxConfig
from sandbox.context import STATE_KEY
from sandbox.server import SandboxServer, start_sandbox
from sandbox.state import SandboxState

CLIENT_ID = "test-client"
SECRET = "test-secret"
BUSINESS_KEY = "biz-key"
LOCATION_KEY = "loc-key"
STORE = "0042"
T0 = 1_700_000_000.0
OO_UA = "Punchh/OnlineOrder/1.0/Web/BrowserVersion/OS_Type"
POS_UA = "NCRSilverPro/POS/3.5.6b"
POS_AUTH = f"Token token={LOCATION_KEY}, btoken={BUSINESS_KEY}"


class ManualClock:
    """The injected clock: tests move ``now``; nothing sleeps."""

    def __init__(self, now: float = T0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def digest(raw_path_and_query: str, body: bytes, algorithm: str, secret: str = SECRET) -> str:
    algo = {"sha1": hashlib.sha1, "sha256": hashlib.sha256}[algorithm]
    return hmac.new(secret.encode(), raw_path_and_query.encode() + body, algo).hexdigest()


def algorithm_for(path: str) -> str | None:
    if path.startswith("/api/auth/") or path == "/oauth/token":
        return "sha1"
    if path.startswith("/api2/mobile/"):
        return "sha256"
    return None


@dataclass
class Reply:
    status: int
    body: Any
    headers: Mapping[str, str] = field(default_factory=dict)


@dataclass
class Punchh:
    """Sends requests the way a Punchh integrator must: signed, with client and User-Agent.

    The credentials default to ``make_config``'s; another business's make another client.
    """

    session: aiohttp.ClientSession
    base: str
    client_id: str = CLIENT_ID
    secret: str = SECRET
    pos_auth: str = POS_AUTH

    async def call(
        self,
        method: str,
        path: str,
        body: dict[str, Any] | None = None,
        *,
        query: dict[str, str] | None = None,
        token: str | None = None,
        id_token: str | None = None,
        headers: dict[str, str] | None = None,
        add_client: bool = True,
        sign_path: str | None = None,
    ) -> Reply:
        is_pos = path.startswith("/api/pos/")
        query = dict(query or {})
        if add_client and not is_pos:
            if body is not None:
                body = {"client": self.client_id, **body}
            else:
                query.setdefault("client", self.client_id)
        raw = json.dumps(body, separators=(",", ":")).encode() if body is not None else b""
        path_qs = path + ("?" + urlencode(query) if query else "")
        sent = {"User-Agent": POS_UA if is_pos else OO_UA, "Accept": "application/json"}
        if body is not None:
            sent["Content-Type"] = "application/json"
        algorithm = algorithm_for(path)
        if algorithm:
            sent["x-pch-digest"] = digest(sign_path or path_qs, raw, algorithm, self.secret)
        if is_pos:
            sent["Authorization"] = self.pos_auth
        if token:
            sent["Authorization"] = f"Bearer {token}"
        if id_token:
            sent["id-token"] = id_token
        sent.update(headers or {})
        url = URL(self.base + path_qs, encoded=True)
        async with self.session.request(method, url, data=raw or None, headers=sent) as resp:
            text = await resp.text()
            return Reply(resp.status, json.loads(text) if text else None, dict(resp.headers))

    async def sandbox(self, method: str, path: str, body: Any = None) -> Reply:
        url = self.base + "/__sandbox/" + path
        async with self.session.request(method, url, json=body) as resp:
            text = await resp.text()
            return Reply(resp.status, json.loads(text) if text else None, dict(resp.headers))

    # -- workflows used by many tests ------------------------------------------------

    async def sign_up(self, email: str, **user: Any) -> dict[str, Any]:
        fields = {"email": email, "password": "password123", "first_name": "Ada"}
        fields.update({"last_name": "Lovelace", **user})
        reply = await self.call("POST", "/api/auth/customers.json", {"user": fields})
        assert reply.status == 201, reply.body
        return dict(reply.body)

    async def checkin(self, token: str, uid: str, amount: float) -> Reply:
        body = {
            "external_uid": uid,
            "receipt_amount": amount,
            "subtotal_amount": amount,
            "receipt_datetime": "2025-01-02T12:00:00Z",
            "payable": str(amount),
            "transaction_no": uid,
            "channel": "online_order",
            "menu_items": [
                {
                    "item_name": "Meal",
                    "item_qty": 1,
                    "item_amount": amount,
                    "menu_item_type": "M",
                    "menu_item_id": 1,
                    "serial_number": "1.0",
                }
            ],
        }
        return await self.call("POST", "/api/auth/checkins/online_order", body, token=token)

    async def balance(self, token: str, id_token: str | None = None) -> dict[str, Any]:
        reply = await self.call("GET", "/api/auth/checkins/balance", token=token, id_token=id_token)
        assert reply.status == 200, reply.body
        return dict(reply.body)

    async def otp_sign_in(self, email: str) -> dict[str, Any]:
        sent = await self.call("POST", "/api2/password_less/token", {"email": email})
        assert sent.status == 200, sent.body
        code = (await self.sandbox("GET", f"otp?email={email}")).body["otp"]
        body = {"email": email, "otp": code, "privacy_policy": True, "terms_and_conditions": True}
        reply = await self.call("POST", "/api2/password_less/verify", body)
        assert reply.status == 200, reply.body
        return dict(reply.body["data"])


def make_config(**overrides: Any) -> SandboxConfig:
    settings: dict[str, Any] = {
        "client_id": CLIENT_ID,
        "client_secret": SECRET,
        "business_key": BUSINESS_KEY,
        "location_keys": {LOCATION_KEY: STORE},
    }
    settings.update(overrides)
    return SandboxConfig(**settings)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def config() -> SandboxConfig:
    return make_config()


@pytest.fixture
async def server(config: SandboxConfig, clock: ManualClock) -> AsyncIterator[SandboxServer]:
    started = await start_sandbox(config, clock=clock)
    yield started
    await started.close()


@pytest.fixture
def state(server: SandboxServer) -> SandboxState:
    return server.app[STATE_KEY]


@pytest.fixture
async def punchh(server: SandboxServer) -> AsyncIterator[Punchh]:
    async with aiohttp.ClientSession() as session:
        yield Punchh(session, server.url)
