"""One normal form for guest identifiers: the rate limiter and the cache agree on who."""

from __future__ import annotations

import pytest

from gateway.cache.policy import identifiers
from gateway.identifiers import normal
from gateway.ratelimit.policies import account_of, target_of

SAME_PHONE = [
    "5550107777",
    5550107777,
    "(555) 010-7777",
    " 555.010.7777 ",
    "+1 555 010 7777",  # the North American country code
    15550107777,
    "\u0665\u0665\u0665\u0660\u0661\u0660\u0667\u0667\u0667\u0667",  # Arabic-Indic digits
    "\uff15\uff15\uff15\uff10\uff11\uff10\uff17\uff17\uff17\uff17",  # fullwidth digits
]
SAME_EMAIL = ["ada@example.com", " Ada@Example.COM "]


def test_other_phones_stay_apart() -> None:
    assert normal("phone", "+44 20 7946 0958") == "442079460958"
    assert normal("phone", "25550107777") == "25550107777"  # 11 digits, not a leading 1
    assert normal("phone", "155501077771") == "155501077771"  # 12 digits


@pytest.mark.parametrize("phone", SAME_PHONE)
def test_every_form_of_a_phone_is_one_phone(phone: object) -> None:
    assert normal("phone", phone) == "5550107777"
    assert target_of({"phone": phone}) == "5550107777"
    assert account_of({"phone": phone}, "password_less") == "5550107777"
    assert identifiers({"phone": phone}) == ("ident:phone:5550107777",)


@pytest.mark.parametrize("email", SAME_EMAIL)
def test_every_form_of_an_email_is_one_email(email: str) -> None:
    assert target_of({"email": email}) == "ada@example.com"
    assert account_of({"user": {"email": email}}, "auth") == "ada@example.com"
    assert identifiers({"email": email}) == ("ident:email:ada@example.com",)


@pytest.mark.parametrize("value", [None, True, 1.5, [], {}, "", "   ", "---"])
def test_what_is_not_an_identifier(value: object) -> None:
    assert normal("phone", value) is None
