"""The sandbox's in-memory world: plain dataclasses and one container per app.

Nothing here talks HTTP or reads a clock; times are passed in as floats (epoch seconds).
Lookups are linear scans on purpose: a sandbox holds tens of guests, not millions.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from typing import Any, Literal

TokenKind = Literal["access", "authentication", "refresh"]
GrantSource = Literal["password", "otp", "mobile", "sso"]


@dataclass
class User:
    id: int
    email: str | None
    phone: str | None  # digits only
    first_name: str = ""
    last_name: str = ""
    password_hash: str | None = None  # None: cannot sign in with a password
    profile: dict[str, Any] = field(default_factory=dict)
    referral_code: str = ""
    user_as_qrcode: str = ""
    user_as_barcode: str = ""
    created_at: float = 0.0
    updated_at: float = 0.0
    dummy: bool = False  # POS phone-only partial account (seed 000)
    invited_by: int | None = None
    points: int = 0  # current balance; a void after a conversion may take it below 0
    lifetime_points: int = 0
    visits: int = 0  # applied, not voided, check-ins
    promo_codes_used: set[str] = field(default_factory=set)


@dataclass
class Grant:
    """Tokens issued together by one sign-in; revoking the grant revokes them all."""

    id: int
    user_id: int
    source: GrantSource
    issued_at: float
    access_token: str
    authentication_token: str | None = None
    refresh_token: str | None = None
    id_token: str | None = None  # set: the id-token header must match (Advanced Auth)
    revoked_at: float | None = None
    refreshed_at: float | None = None  # its refresh token has been used
    access_ttl: int = 86400  # seconds its access token lives, fixed when issued


@dataclass
class Otp:
    code: str
    issued_at: float
    attempts: int = 0


@dataclass
class SsoCode:
    user_id: int
    issued_at: float


@dataclass
class Checkin:
    """One ledger line: a check-in as applied, kept after a void."""

    id: int
    user_id: int
    external_uid: str
    points: int
    receipt_amount: float
    receipt_datetime: str
    channel: str
    store_number: str | None
    bar_code: str
    created_at: float
    voided_at: float | None = None


@dataclass
class Receipt:
    """A POS receipt stored by ``POST /receipt_details`` (seed 003, item 7b): the barcode
    printed on it (``punchh_key``) earns its points once, by ``/api2/mobile/checkins/barcode``."""

    punchh_key: str
    store_number: str
    amount: float
    receipt_datetime: str
    transaction_no: str
    payable: float
    received_at: float
    void: bool = False
    used_by: int | None = None  # the guest who earned it
    checkin_id: int | None = None


@dataclass
class Reward:
    id: int
    user_id: int
    name: str
    discount_amount: float
    points: int  # points it was converted from; 0 for a gift
    campaign_name: str
    created_at: float
    expires_at: float | None = None
    redeemed_at: float | None = None
    redemption_id: int | None = None


@dataclass
class Redemption:
    id: int
    code: str
    user_id: int
    discount_type: str
    target: str  # reward id, redeemable id, promo code, or "points"
    amount: float
    points_spent: int
    campaign_name: str
    created_at: float
    reward_id: int | None = None
    promo_code: str | None = None
    external_uid: str | None = None
    batch_ref: str | None = None
    voided_at: float | None = None


@dataclass
class BasketItem:
    id: int
    discount_type: str
    discount_id: str | None
    discount_value: float | None
    created_at: float


@dataclass
class Basket:
    """The guest's one active Redemptions 2.0 discount basket."""

    user_id: int
    redemption_ref: str
    created_at: float
    items: list[BasketItem] = field(default_factory=list)


@dataclass
class Batch:
    """A committed batch redemption, addressed by its basket's redemption_ref."""

    ref: str
    user_id: int
    redemption_ids: list[int]
    external_uid: str | None
    response: dict[str, Any]
    created_at: float
    voided_at: float | None = None


_ID_BASES = {"user": 1000, "grant": 0, "checkin": 7000, "reward": 5000, "redemption": 9000}


@dataclass
class SandboxState:
    """All data of one emulated business; handlers reach it through ``context.ctx``."""

    id_token_key: str = field(default_factory=lambda: secrets.token_urlsafe(32), repr=False)
    users: dict[int, User] = field(default_factory=dict)
    grants: dict[int, Grant] = field(default_factory=dict)
    tokens: dict[str, tuple[int, TokenKind]] = field(default_factory=dict, repr=False)
    otps: dict[tuple[str, str], Otp] = field(default_factory=dict, repr=False)
    sso_codes: dict[str, SsoCode] = field(default_factory=dict, repr=False)
    checkins: dict[int, Checkin] = field(default_factory=dict)  # the ledger, in order
    checkin_index: dict[tuple[int, str], int] = field(default_factory=dict)
    rewards: dict[int, Reward] = field(default_factory=dict)
    redemptions: dict[int, Redemption] = field(default_factory=dict)
    baskets: dict[int, Basket] = field(default_factory=dict)  # user id -> active basket
    batches: dict[str, Batch] = field(default_factory=dict)
    # POST /receipt_details: punchh_key -> every stored version, oldest first (receipts.py)
    receipts: dict[str, list[Receipt]] = field(default_factory=dict)
    _counters: dict[str, int] = field(default_factory=dict)
    # Set by POST /__sandbox/settings: the access-token lifetime of grants issued from now on
    # (None: config.access_token_ttl). Lets a test make a token "about to expire" across
    # processes whose clocks it cannot move.
    access_token_ttl: int | None = None

    def next_id(self, kind: str) -> int:
        """Sequential ids per kind, from distinct bases so ids of kinds don't collide."""
        value = self._counters.get(kind, _ID_BASES.get(kind, 3000)) + 1
        self._counters[kind] = value
        return value

    def user_by_email(self, email: str) -> User | None:
        wanted = email.strip().lower()
        return next((u for u in self.users.values() if u.email == wanted), None)

    def user_by_phone(self, phone: str) -> User | None:
        return next((u for u in self.users.values() if phone and u.phone == phone), None)

    def user_by_qrcode(self, code: str) -> User | None:
        return next((u for u in self.users.values() if u.user_as_qrcode == code), None)

    def user_by_referral_code(self, code: str) -> User | None:
        wanted = code.strip().upper()
        return next((u for u in self.users.values() if u.referral_code == wanted), None)
