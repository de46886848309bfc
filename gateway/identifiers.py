"""Guest identifiers in one normal form, for everything that keys by them: the rate
limiter's OTP-target and sign-in-account budgets and the cache's identifier tags must
agree on who a phone number or an email address is.

A phone is its digits, in ASCII, without the North American country code:
`"+1 (555) 010-0101"`, `"15550100101"`, `15550100101`, `"5550100101"`, and the same
digits in another script (Arabic-Indic, fullwidth) are one phone, so that no spelling
Punchh may accept buys another budget. Dropping the leading 1 of 11 digits may join two
numbers of other countries into one key: a shared budget or an extra cache invalidation,
never a leak (the cache keys answers by session; identifiers only tag them). An email
address, a referral code or another identifier is its text, trimmed, lower-cased where
case does not matter. Only a string or an integer (not a bool) is an identifier; anything
else, or nothing left after normalising, is None.
"""

from __future__ import annotations

import re
import unicodedata
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
        text = _NOT_DIGIT.sub("", text)  # \D: Unicode digits of any script stay
        if not text.isascii():
            text = "".join(str(unicodedata.decimal(c)) for c in text)
        if len(text) == 11 and text[0] == "1":
            text = text[1:]
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
