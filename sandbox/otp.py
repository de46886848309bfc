"""One-time passwords of Advanced Authentication, over the state.

An OTP is six digits, one live per email or phone (a new one replaces the old), single
use, valid while ``now <= issued_at + otp_ttl``, burnt after ``otp_max_attempts`` wrong
tries. Bad input and bad codes answer 422 ``{"errors": {...}}``.
"""

from __future__ import annotations

import hmac
import secrets
from typing import Any

from sandbox.config import SandboxConfig
from sandbox.errors import Unprocessable
from sandbox.state import Otp, SandboxState, User
from sandbox.tokens import expired
from sandbox.users import EMAIL_RE, new_user, normalize_phone

OtpKey = tuple[str, str]  # ("email", address) or ("phone", digits)
DUMMY_SIGN_IN = "Please complete your sign-up with an email and a password before signing in"


def identifier(email: Any, phone: Any) -> OtpKey:
    """Who the OTP is for: a valid email, else a valid phone; 422 otherwise."""
    if isinstance(email, str) and email.strip():
        if not EMAIL_RE.match(email.strip()):
            raise Unprocessable.one("email", "is invalid")
        return ("email", email.strip().lower())
    if phone not in (None, ""):
        digits = normalize_phone(phone)
        if digits is None or not 10 <= len(digits) <= 15:
            raise Unprocessable.one("phone", "is invalid")
        return ("phone", digits)
    raise Unprocessable.one("base", "email or phone is required")


def issue(state: SandboxState, key: OtpKey, now: float) -> Otp:
    code = f"{secrets.randbelow(1_000_000):06d}"
    state.otps[key] = Otp(code=code, issued_at=now)
    return state.otps[key]


def live(state: SandboxState, key: OtpKey, now: float, ttl: int) -> Otp | None:
    """The unexpired OTP for ``key``, if any."""
    otp = state.otps.get(key)
    if otp is None or expired(otp.issued_at, ttl, now):
        return None
    return otp


def consume(state: SandboxState, cfg: SandboxConfig, key: OtpKey, code: Any, now: float) -> None:
    """Accept ``code`` once; 422 when absent, expired, wrong, or burnt by wrong tries."""
    otp = live(state, key, now, cfg.otp_ttl)
    if otp is None:
        raise Unprocessable.one("otp", "has expired or was never sent")
    if not isinstance(code, str | int) or not hmac.compare_digest(
        str(code).encode(), otp.code.encode()
    ):
        otp.attempts += 1
        if otp.attempts >= cfg.otp_max_attempts:
            del state.otps[key]
        raise Unprocessable.one("otp", "is invalid")
    del state.otps[key]


def user_for(state: SandboxState, key: OtpKey, now: float) -> User:
    """The guest with this email or phone; a new one (no password) when there is none.

    A POS dummy account is refused (422): it "cannot log in ... until completing the account
    setup" (seed 000, step 1), i.e. an online sign-up with its phone.
    """
    kind, value = key
    user = state.user_by_email(value) if kind == "email" else state.user_by_phone(value)
    if user is not None and user.dummy:
        raise Unprocessable.one("base", DUMMY_SIGN_IN)
    if user is None:
        user = new_user(
            state,
            now,
            email=value if kind == "email" else None,
            phone=value if kind == "phone" else None,
        )
        user.profile["signup_channel"] = "OnlineOrder"
        user.profile["terms_and_conditions"] = True
    return user
