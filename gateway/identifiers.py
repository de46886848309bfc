"""Guest identifiers in one normal form, for everything that keys by them: the rate
limiter's OTP-target and sign-in-account budgets and the cache's identifier tags must
agree on who a phone number or an email address is.

A phone is its digits (`"+1 (555) 010-0101"`, `"15550100101"` and `15550100101` are one
phone); an email address, a referral code or another identifier is its text, trimmed,
lower-cased where case does not matter. Only a string or an integer (not a bool) is an
identifier; anything else, or nothing left after normalising, is None.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from gateway.errors import InvalidIdentifier

_NOT_DIGIT = re.compile(r"\D")
_CASELESS = frozenset({"email", "referral_code"})


def normal(kind: str, value: object) -> str | None:
    if isinstance(value, bool) or not isinstance(value, str | int):
        return None
    text = str(value).strip()
    if kind == "phone":
        text = _NOT_DIGIT.sub("", text)
    elif kind in _CASELESS:
        text = text.lower()
    return text or None


def identifier(box: Mapping[str, Any], name: str, kind: str) -> str | None:
    """`box[name]` in normal form; absent or null: None. Any other JSON type than a string
    (or an integer, for a phone) is `InvalidIdentifier` (400): a list, an object or a
    number in an email's place must not slip past the budget keyed by it."""
    value = box.get(name)
    if value is None:
        return None
    if isinstance(value, str) or (
        kind == "phone" and isinstance(value, int) and not isinstance(value, bool)
    ):
        return normal(kind, value)
    expected = "a string or a number" if kind == "phone" else "a string"
    raise InvalidIdentifier(f"{name} must be {expected}")
