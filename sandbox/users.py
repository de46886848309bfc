"""Guest accounts: sign-up, the POS dummy-account merge, sign-in, profile and password.

Sign-up (seed 001) needs a valid email and a password of at least 8 characters, and, when
the business uses referral codes (``cfg.referral_codes``), first_name and last_name; email is
unique (case-insensitive) and so is phone; an ``invite_code`` must be another guest's
``referral_code``. Failures answer 422 ``{"errors": {field: [...]}}``.
Merge (seed 000, step 3): a sign-up whose phone belongs to a phone-only account (a POS
dummy, or an account an OTP sent to a phone created: no email, no password) completes that
account in place: it keeps its id, created_at (= user_joined_at), referral and QR codes,
points, visits and rewards, and gains email, password and profile. A POS dummy cannot sign
in (seed 000, step 1) until then: ``otp.user_for`` refuses it.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import string
from collections.abc import Mapping
from datetime import date
from typing import Any

from sandbox import ledger
from sandbox.config import SandboxConfig
from sandbox.errors import Unauthorized, Unprocessable
from sandbox.state import SandboxState, User

EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
MIN_PASSWORD = 8
PBKDF2_ROUNDS = 1_000  # a sandbox: cheap on purpose, but never plain text
BAD_SIGN_IN = "Incorrect information submitted. Please retry."
PROFILE_FIELDS = (
    "birthday",
    "anniversary",
    "gender",
    "city",
    "state",
    "zip_code",
    "address_line1",
    "secondary_email",
    "terms_and_conditions",
    "marketing_email_subscription",
    "marketing_pn_subscription",
    "external_source",
    "external_source_id",
    "signup_channel",
    "age_verified_status",
)
Errors = dict[str, list[str]]


def normalize_phone(value: Any) -> str | None:
    digits = re.sub(r"\D", "", str(value)) if value not in (None, "") else ""
    return digits or None


def hash_password(password: str) -> str:
    salt = secrets.token_bytes(16)
    digest = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, PBKDF2_ROUNDS)
    return f"{salt.hex()}${digest.hex()}"


def password_matches(password: str, stored: str | None) -> bool:
    if stored is None:
        return False
    salt_hex, _, digest_hex = stored.partition("$")
    digest = hashlib.pbkdf2_hmac(
        "sha256", password.encode(), bytes.fromhex(salt_hex), PBKDF2_ROUNDS
    )
    return hmac.compare_digest(digest.hex(), digest_hex)


def profile_errors(fields: Mapping[str, Any]) -> Errors:
    """Format checks shared by sign-up and profile update (pure)."""
    errors: Errors = {}
    email = fields.get("email")
    if email is not None and (not isinstance(email, str) or not EMAIL_RE.match(email.strip())):
        errors["email"] = ["is invalid"]
    phone = fields.get("phone")
    if phone not in (None, "") and not 10 <= len(normalize_phone(phone) or "") <= 15:
        errors["phone"] = ["is invalid"]
    for name in ("birthday", "anniversary"):
        value = fields.get(name)
        if value not in (None, "") and not _is_date(value):
            errors[name] = ["is not a valid date (YYYY-MM-DD)"]
    for name in ("first_name", "last_name"):
        if fields.get(name) is not None and not isinstance(fields.get(name), str):
            errors[name] = ["must be a string"]
    return errors


def signup_errors(fields: Mapping[str, Any], *, names_required: bool = False) -> Errors:
    """Sign-up format checks (pure): profile checks plus email, password and name rules."""
    errors = profile_errors(fields)
    if not fields.get("email"):
        errors["email"] = ["can't be blank"]
    for name in ("first_name", "last_name") if names_required else ():
        value = fields.get(name)
        if name not in errors and not (isinstance(value, str) and value.strip()):
            errors[name] = ["can't be blank"]
    errors.update(new_password_errors(fields.get("password"), fields.get("password_confirmation")))
    return errors


def new_password_errors(password: Any, confirmation: Any) -> Errors:
    if not password:
        return {"password": ["can't be blank"]}
    if not isinstance(password, str) or len(password) < MIN_PASSWORD:
        return {"password": [f"is too short (minimum is {MIN_PASSWORD} characters)"]}
    if confirmation is not None and confirmation != password:
        return {"password_confirmation": ["doesn't match Password"]}
    return {}


def _is_date(value: Any) -> bool:
    try:
        date.fromisoformat(str(value))
    except ValueError:
        return False
    return True


def _referral_code(state: SandboxState, first: str, last: str) -> str:
    # Punchh builds it from first name, last name and random characters (seed 001).
    stem = "".join(c for c in (first[:3] + last[:1]).upper() if c.isalpha()) or "GST"
    alphabet = string.ascii_uppercase + string.digits
    while True:
        code = stem + "".join(secrets.choice(alphabet) for _ in range(5))
        if state.user_by_referral_code(code) is None:
            return code


def phone_only(user: User) -> bool:
    """A partial account a sign-up with its phone merges into (seed 000, step 3)."""
    return user.dummy or (user.email is None and user.password_hash is None)


def new_user(state: SandboxState, now: float, *, email: str | None, phone: str | None) -> User:
    user = User(
        id=state.next_id("user"),
        email=email.strip().lower() if email else None,
        phone=phone,
        user_as_qrcode="SBX" + secrets.token_hex(8).upper(),
        user_as_barcode="".join(str(secrets.randbelow(10)) for _ in range(12)),
        created_at=now,
        updated_at=now,
    )
    user.referral_code = _referral_code(state, "", "")
    state.users[user.id] = user
    return user


def apply_profile(user: User, fields: Mapping[str, Any], now: float) -> None:
    for name in ("first_name", "last_name"):
        if isinstance(fields.get(name), str):
            setattr(user, name, fields[name].strip())
    if fields.get("email"):
        user.email = str(fields["email"]).strip().lower()
    if fields.get("phone"):
        user.phone = normalize_phone(fields["phone"])
    user.profile.update({k: fields[k] for k in PROFILE_FIELDS if k in fields})
    user.updated_at = now


def _uniqueness_errors(state: SandboxState, fields: Mapping[str, Any], me: User | None) -> Errors:
    errors: Errors = {}
    owner = state.user_by_email(str(fields["email"])) if fields.get("email") else None
    if owner is not None and owner is not me:
        errors["email"] = ["has already been taken"]
    phone_owner = state.user_by_phone(normalize_phone(fields.get("phone")) or "")
    if phone_owner is not None and phone_owner is not me:
        errors["phone"] = ["has already been taken"]
    return errors


def sign_up(state: SandboxState, cfg: SandboxConfig, fields: Mapping[str, Any], now: float) -> User:
    """Create (or complete a dummy) account; credit the referrer of a valid invite_code."""
    errors = signup_errors(fields, names_required=cfg.referral_codes)
    phone = normalize_phone(fields.get("phone"))
    dummy = state.user_by_phone(phone) if phone else None
    if dummy is not None and not phone_only(dummy):
        dummy = None
    if not errors:
        errors = _uniqueness_errors(state, fields, dummy)
    code = fields.get("invite_code")
    referrer = state.user_by_referral_code(str(code)) if code else None
    if code and (referrer is None or referrer is dummy):
        errors["invite_code"] = ["is invalid"]
    if errors:
        raise Unprocessable(errors)
    user = dummy or new_user(state, now, email=None, phone=phone)
    apply_profile(user, fields, now)
    user.password_hash = hash_password(str(fields["password"]))
    user.dummy = False
    if dummy is None:
        user.referral_code = _referral_code(state, user.first_name, user.last_name)
    if referrer is not None and user.invited_by is None:
        user.invited_by = referrer.id
        ledger.credit(state, cfg, referrer, cfg.referral_points, now)
    return user


def create_pos_user(state: SandboxState, fields: Mapping[str, Any], now: float) -> User:
    """POS sign-up: phone and/or email, no password; phone only makes a dummy (seed 000)."""
    errors = profile_errors(fields)
    if not fields.get("phone") and not fields.get("email"):
        errors["phone"] = ["can't be blank"]
    if not errors:
        errors = _uniqueness_errors(state, fields, None)
    if errors:
        raise Unprocessable(errors)
    user = new_user(state, now, email=None, phone=None)
    apply_profile(user, fields, now)
    user.dummy = user.email is None
    user.referral_code = _referral_code(state, user.first_name, user.last_name)
    return user


def update_profile(state: SandboxState, user: User, fields: Mapping[str, Any], now: float) -> None:
    errors = profile_errors(fields) or _uniqueness_errors(state, fields, user)
    if "password" in fields:
        errors["password"] = ["can only be changed with PATCH /api/auth/users/change_password"]
    if errors:
        raise Unprocessable(errors)
    apply_profile(user, fields, now)


def change_password(user: User, current: Any, fields: Mapping[str, Any], now: float) -> None:
    """Set a new password; the current one must match when the account has one (422)."""
    errors = new_password_errors(fields.get("password"), fields.get("password_confirmation"))
    if user.password_hash is not None and not (
        isinstance(current, str) and password_matches(current, user.password_hash)
    ):
        errors["current_password"] = ["is invalid"]
    if errors:
        raise Unprocessable(errors)
    user.password_hash = hash_password(str(fields["password"]))
    user.updated_at = now


def sign_in(state: SandboxState, email: Any, password: Any) -> User:
    user = state.user_by_email(email) if isinstance(email, str) else None
    if user is None or not isinstance(password, str):
        raise Unauthorized(BAD_SIGN_IN)
    if not password_matches(password, user.password_hash):
        raise Unauthorized(BAD_SIGN_IN)
    return user
