"""Workflow helpers: a frontend that checks every answer, and the sandbox's own routes.

`Frontend` is what a web or mobile app sees: it calls the gateway only, and every answer
it gets (body and headers) is checked at once against every token the sandbox has issued
so far. A sandbox token in any answer fails the test on the spot.
`SandboxAdmin` calls the sandbox directly for the `/__sandbox/` routes a test reads.
"""

from __future__ import annotations

import gc
import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import jwt
from multidict import CIMultiDictProxy

from gateway.tokens import ISSUER
from sandbox.state import SandboxState
from tests.conftest import CLIENT_ID, SESSION_SECRET, Client

PASSWORD = "correct-horse-1"
# The sandbox's business uses referral codes: sign-up needs both names (seed 001).
NAMES = {"first_name": "Ada", "last_name": "Byron"}
# What Punchh requires of a direct call (seeds 001, 002, 004): a Name/Type/Version agent.
PUNCHH_HEADERS = {"User-Agent": "Direct/OnlineOrder/1.0/Test", "Accept": "application/json"}
RECEIPT_AT = "2027-01-15T12:00:00Z"
DEVICE_KEY = "store-101-kiosk-device-key"
LOCATION_KEY = "LOC-101"
BUSINESS_KEY = "BIZ-KEY"
STORE_NUMBER = "101"
ACCESS_TTL = 3600  # the sandbox's access-token lifetime in these tests


def menu_items(amount: float) -> list[dict[str, Any]]:
    """An online order's lines (seed 002 "Requires menu items"): one main carrying it all."""
    return [
        {
            "item_name": "Burrito",
            "item_qty": 1,
            "item_amount": amount,
            "menu_item_type": "M",
            "menu_item_id": 1,
            "menu_family": "Mains",
            "menu_major_group": "Food",
            "serial_number": "1.0",
        }
    ]


POS_TOML = f"""
[pos]
enabled = true

[[pos.devices]]
name = "store-101"
key = "{DEVICE_KEY}"
location_key = "{LOCATION_KEY}"
"""
POS_HEADERS = {"Authorization": f"Token token={DEVICE_KEY}"}
LINE_ITEMS = [
    {"item_name": "Burger", "item_qty": 1, "amount": 25.0, "item_type": "M", "item_id": 1}
]

TokenSource = Callable[[], set[str]]


def sandbox_tokens(state: SandboxState) -> set[str]:
    """Every token a sandbox has issued: access, authentication, refresh and id tokens."""
    issued = set(state.tokens)
    issued.update(g.id_token for g in state.grants.values() if g.id_token)
    return issued


def every_sandbox_token() -> set[str]:
    """The tokens of every sandbox alive in this process (an embedded one included)."""
    issued: set[str] = set()
    for obj in gc.get_objects():
        if isinstance(obj, SandboxState):
            issued |= sandbox_tokens(obj)
    return issued


def gateway_claims(token: str) -> dict[str, Any]:
    """The claims of a gateway session token; fails unless it is one, signed by the gateway."""
    claims: dict[str, Any] = jwt.decode(
        token,
        SESSION_SECRET,
        algorithms=["HS256"],
        issuer=ISSUER,
        options={"verify_exp": False, "verify_iat": False},
    )
    return claims


@dataclass
class Answer:
    status: int
    raw: bytes
    headers: CIMultiDictProxy[str]

    @property
    def body(self) -> Any:
        return json.loads(self.raw) if self.raw else None

    def __repr__(self) -> str:  # what pytest shows when an assertion on it fails
        return f"Answer({self.status}, {self.raw[:400]!r})"


def leaked(answer: Answer, issued: Iterable[str]) -> list[str]:
    text = answer.raw.decode("utf-8", "replace") + "\n" + json.dumps(list(answer.headers.items()))
    return [t[:8] + "..." for t in issued if t and t in text]


@dataclass
class Frontend:
    """A browser or app in front of the gateway; knows only gateway tokens."""

    client: Client
    issued: TokenSource
    answers: list[Answer] = field(default_factory=list)

    async def call(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        token: str | None = None,
        headers: Mapping[str, str] | None = None,
        params: Mapping[str, str] | None = None,
    ) -> Answer:
        sent = dict(headers or {})
        if token is not None:
            sent["Authorization"] = f"Bearer {token}"
        async with self.client.request(
            method, path, json=json, headers=sent, params=params
        ) as resp:
            answer = Answer(resp.status, await resp.read(), resp.headers)
        found = leaked(answer, self.issued())
        assert not found, f"{method} {path} answered sandbox tokens {found}: {answer}"
        self.answers.append(answer)
        return answer

    # -- guest flows -------------------------------------------------------------------

    async def sign_up(self, email: str, **fields: Any) -> tuple[str, dict[str, Any]]:
        user = {"email": email, "password": PASSWORD, **NAMES}
        user.update(fields)
        answer = await self.call("POST", "/api/auth/customers.json", json={"user": user})
        assert answer.status == 201, answer
        body: dict[str, Any] = answer.body
        return str(body["access_token"]), body

    async def sign_in(self, email: str, password: str = PASSWORD) -> Answer:
        user = {"email": email, "password": password}
        return await self.call("POST", "/api/auth/customers/sign_in", json={"user": user})

    async def checkin(self, token: str, uid: str, amount: float, **extra: Any) -> Answer:
        order = {
            "external_uid": uid,
            "receipt_amount": amount,
            "subtotal_amount": amount,
            "receipt_datetime": RECEIPT_AT,
            "payable": str(amount),
            "transaction_no": uid,
            "channel": "online_order",
            "menu_items": menu_items(amount),
            **extra,
        }
        return await self.call("POST", "/api/auth/checkins/online_order", json=order, token=token)

    async def balance(self, token: str, path: str = "/api/auth/checkins/balance") -> dict[str, Any]:
        answer = await self.call("GET", path, token=token)
        assert answer.status == 200, answer
        body: dict[str, Any] = answer.body
        return body

    async def pos(
        self, method: str, path: str, *, json: Any = None, params: Mapping[str, str] | None = None
    ) -> Answer:
        return await self.call(method, path, json=json, params=params, headers=POS_HEADERS)


@dataclass
class SandboxAdmin:
    """The sandbox's own routes, called on the sandbox itself (never through the gateway)."""

    http: aiohttp.ClientSession
    url: str

    async def _json(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        async with self.http.request(method, self.url + path, json=body) as resp:
            text = await resp.text()
            return resp.status, json.loads(text) if text else None

    async def get(self, path: str) -> Any:
        status, body = await self._json("GET", path)
        assert status == 200, (path, status, body)
        return body

    async def post(self, path: str, body: Any = None) -> tuple[int, Any]:
        return await self._json("POST", path, body)

    async def otp(self, **who: str) -> str:
        params = "&".join(f"{k}={v}" for k, v in who.items())
        return str((await self.get(f"/__sandbox/otp?{params}"))["otp"])

    async def calls(self) -> dict[str, int]:
        calls: dict[str, int] = await self.get("/__sandbox/calls")
        return calls

    async def reset_calls(self) -> None:
        status, _ = await self._json("POST", "/__sandbox/calls/reset")
        assert status == 200

    async def ledger(self) -> list[dict[str, Any]]:
        checkins: list[dict[str, Any]] = (await self.get("/__sandbox/ledger"))["checkins"]
        return checkins

    async def user(self, user_id: int | str) -> dict[str, Any]:
        found: dict[str, Any] = await self.get(f"/__sandbox/users/{user_id}")
        return found

    async def faults(self) -> list[Any]:
        rules: list[Any] = (await self.get("/__sandbox/faults"))["faults"]
        return rules

    async def punchh(
        self, method: str, path: str, body: dict[str, Any], headers: Mapping[str, str]
    ) -> tuple[int, Any]:
        """An unsigned family call straight to the sandbox (password_less): what a thief
        holding a Punchh token could do without the gateway."""
        async with self.http.request(
            method,
            self.url + path,
            json={"client": CLIENT_ID, **body},
            headers={**PUNCHH_HEADERS, **headers},
        ) as resp:
            text = await resp.text()
            return resp.status, json.loads(text) if text else None
