"""Sandbox settings: one frozen dataclass, checked once when it is built.

Reads nothing from the environment (the CLI builds it). Rejects a bad value with a
``ValueError`` that names the field, the value and what was expected; secrets
(``client_secret``, ``business_key``, ``location_keys``) are never echoed, nor in ``repr``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

DIGESTS = ("sha1", "sha256", "none")


@dataclass(frozen=True)
class Redeemable:
    """A catalog item a guest buys with points (Redemptions ``discount_type=redeemable``)."""

    id: int
    name: str
    points: int
    discount_amount: float


DEFAULT_REDEEMABLES = (
    Redeemable(id=101, name="Free Drink", points=50, discount_amount=3.0),
    Redeemable(id=102, name="$5 Off", points=80, discount_amount=5.0),
)


def _default_promo_codes() -> Mapping[str, float]:
    return MappingProxyType({"WELCOME5": 5.0})


@dataclass(frozen=True)
class SandboxConfig:
    """Everything the sandbox decides by; see ``sandbox.points`` for the loyalty rules."""

    client_id: str
    client_secret: str = field(repr=False)
    business_key: str = field(repr=False)  # POS btoken
    location_keys: Mapping[str, str] = field(repr=False)  # POS location key -> store_number
    host: str = "127.0.0.1"
    port: int = 0  # 0 = ephemeral
    allow_non_loopback: bool = False
    access_token_ttl: int = 86400
    refresh_token_ttl: int = 30 * 86400
    otp_ttl: int = 600
    sso_code_ttl: int = 600
    digest_auth: str = "sha1"  # /api/auth
    digest_oauth: str = "sha1"  # /oauth/token
    digest_mobile: str = "sha256"  # /api2/mobile
    digest_password_less: str = "none"  # noqa: S105 - /api2/password_less: a digest name
    # Rotation: OAuth servers such as Doorkeeper (Rails) revoke the old access token when
    # its refresh token is used. Punchh does not document it; False keeps it until expiry.
    refresh_revokes_access: bool = True
    otp_max_attempts: int = 5
    points_per_dollar: int = 1
    points_per_reward: int = 100  # 0 disables converting points into rewards
    reward_amount: float = 10.0
    points_per_discount_dollar: int = 10  # price of $1 of discount_amount, in points
    referral_points: int = 50
    # The business uses referral codes: sign-up then needs first_name and last_name, which
    # the code is made from (seed 001's NOTE). False: names optional.
    referral_codes: bool = True
    redeemables: tuple[Redeemable, ...] = DEFAULT_REDEEMABLES
    promo_codes: Mapping[str, float] = field(default_factory=_default_promo_codes)

    def __post_init__(self) -> None:
        for name in ("client_id", "client_secret"):
            if not isinstance(getattr(self, name), str) or not getattr(self, name):
                raise ValueError(f"{name} must be a non-empty string")
        # An empty business_key or location_keys is allowed: POS is then closed (every
        # /api/pos request answers 401), which suits a gateway with no POS devices.
        if not isinstance(self.business_key, str):
            raise ValueError("business_key must be a string (empty closes the POS routes)")
        for name in ("digest_auth", "digest_oauth", "digest_mobile", "digest_password_less"):
            value = getattr(self, name)
            if value not in DIGESTS:
                raise ValueError(f"{name}={value!r}: expected one of {', '.join(DIGESTS)}")
        for name in ("access_token_ttl", "refresh_token_ttl", "otp_ttl", "sso_code_ttl"):
            _require(name, getattr(self, name), minimum=1)
        for name in ("points_per_dollar", "points_per_discount_dollar", "otp_max_attempts"):
            _require(name, getattr(self, name), minimum=1)
        for name in ("points_per_reward", "referral_points"):
            _require(name, getattr(self, name), minimum=0)
        if not isinstance(self.referral_codes, bool):
            raise ValueError(f"referral_codes={self.referral_codes!r}: expected true or false")
        if not 0 <= self.port <= 65535:
            raise ValueError(f"port={self.port!r}: expected 0..65535")
        if self.reward_amount <= 0:
            raise ValueError(f"reward_amount={self.reward_amount!r}: expected a positive amount")
        # Freeze the mappings too, so nothing can change the config after start.
        object.__setattr__(self, "location_keys", MappingProxyType(dict(self.location_keys)))
        object.__setattr__(self, "promo_codes", MappingProxyType(dict(self.promo_codes)))


def _require(name: str, value: object, *, minimum: int) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise ValueError(f"{name}={value!r}: expected an integer >= {minimum}")
