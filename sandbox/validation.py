"""Request-field checks for check-ins and redemptions (pure); errors are {field: [msgs]}.

Check-in (seed 002) requires ``external_uid``, ``receipt_amount`` (number >= 0),
``receipt_datetime`` (ISO 8601) and ``payable`` (number, sent as a string by Punchh's own
example); ``menu_items``, when sent, is a list of objects with ``item_name``, ``item_qty``,
``item_amount`` (>= 0: "always positive"), ``menu_item_type`` (M, D, S, T, P) and
``menu_item_id``. The online-order check-in is stricter (``online_checkin_problems``):
``menu_items`` is required ("Requires menu items"), ``receipt_datetime`` must be
``YYYY-MM-DDThh:mm:ssZ`` (fractions and a ``+hh:mm`` offset accepted, a date alone not)
and ``channel``, when sent, one of ``CHANNELS`` (seeds 002 and 004).
Redemptions 2.0 ``line_items`` need ``item_name``, ``item_qty``,
``amount``, ``item_type`` and ``item_id``; Punchh names a missing one ``<field>_<index>``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

Errors = dict[str, list[str]]
BLANK = "can't be blank"
MENU_ITEM_TYPES = ("M", "D", "S", "T", "P")
_MENU_ITEM_FIELDS = ("item_name", "item_qty", "item_amount", "menu_item_type", "menu_item_id")
_LINE_ITEM_FIELDS = ("item_name", "item_qty", "amount", "item_type", "item_id")
CHANNELS = ("online_order", "pos", "web", "mobile", "dashboard", "chatbot", "kiosk")
NOT_IN_LIST = "is not included in the list"
RECEIPT_DATETIME = "is not an ISO 8601 timestamp (YYYY-MM-DDThh:mm:ssZ)"
_RECEIPT_DATETIME_RE = re.compile(
    r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,6})?(Z|[+-]\d{2}:\d{2})", re.ASCII
)


def as_amount(value: Any) -> float | None:
    """A number, or a numeric string, as float; None for anything else (bools included)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value.strip())
        except ValueError:
            return None
    return None


def is_iso_datetime(value: Any) -> bool:
    if not isinstance(value, str) or not value:
        return False
    try:
        datetime.fromisoformat(value)
    except ValueError:
        return False
    return True


def is_receipt_datetime(value: Any) -> bool:
    """Seed 002's ``YYYY-MM-DDThh:mm:ssZ``: date, time to the second and a zone."""
    return (
        isinstance(value, str)
        and _RECEIPT_DATETIME_RE.fullmatch(value) is not None
        and is_iso_datetime(value)
    )


def blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def required_errors(body: Mapping[str, Any], names: Iterable[str]) -> Errors:
    return {name: [BLANK] for name in names if blank(body.get(name))}


def amount_errors(body: Mapping[str, Any], name: str) -> Errors:
    """For a present field: a number >= 0."""
    if blank(body.get(name)):
        return {}
    value = as_amount(body.get(name))
    if value is None:
        return {name: ["is not a number"]}
    if value < 0:
        return {name: ["must be greater than or equal to 0"]}
    return {}


def checkin_errors(body: Mapping[str, Any], *, require_payable: bool = True) -> Errors:
    required = ["external_uid", "receipt_amount", "receipt_datetime"]
    if require_payable:
        required.append("payable")
    errors = required_errors(body, required)
    for name in ("receipt_amount", "payable", "subtotal_amount"):
        errors.update(amount_errors(body, name))
    when = body.get("receipt_datetime")
    if not blank(when) and not is_iso_datetime(when):
        errors["receipt_datetime"] = [RECEIPT_DATETIME]
    uid = body.get("external_uid")
    if not blank(uid) and not isinstance(uid, str | int):
        errors["external_uid"] = ["must be a string"]
    errors.update(menu_items_errors(body.get("menu_items")))
    return errors


def online_checkin_problems(body: Mapping[str, Any]) -> tuple[Errors, Errors]:
    """(missing or malformed -> 400, invalid values -> 422) for an online-order check-in.

    Seed 002: 400 is "missing/incorrect params", 422 an "invalid Entity": a missing field,
    a wrong type or format, an unknown channel are 400; a negative amount is 422.
    """
    errors = checkin_errors(body)
    if blank(body.get("menu_items")) or body.get("menu_items") == []:
        errors["menu_items"] = [BLANK]
    when = body.get("receipt_datetime")
    if not blank(when) and not is_receipt_datetime(when):
        errors["receipt_datetime"] = [RECEIPT_DATETIME]
    channel = body.get("channel")
    if channel is not None and channel not in CHANNELS:
        errors["channel"] = [NOT_IN_LIST]
    invalid = {name: msgs for name, msgs in errors.items() if _only_range(msgs)}
    malformed = {name: msgs for name, msgs in errors.items() if name not in invalid}
    return malformed, invalid


def bad_params_message(errors: Errors) -> str:
    """A 400's text: the missing parameters, else each malformed one with its problem."""
    missing = [name for name, msgs in errors.items() if BLANK in msgs]
    if missing:
        return "Required parameter missing or the value is empty: " + ", ".join(missing)
    problems = (f"{name} {'; '.join(msgs)}" for name, msgs in errors.items())
    return "Invalid parameter: " + "; ".join(problems)


def _only_range(messages: list[str]) -> bool:
    # Well-formed but out of range: "must be greater than..." / "... non-negative number".
    return all("greater than" in m or "non-negative" in m for m in messages)


def menu_items_errors(items: Any) -> Errors:
    if items is None:
        return {}
    if not isinstance(items, list):
        return {"menu_items": ["must be a list of menu item objects"]}
    problems: list[str] = []
    for index, item in enumerate(items):
        if not isinstance(item, dict):
            problems.append(f"item {index}: must be an object")
            continue
        problems.extend(
            f"item {index}: {name} {BLANK}" for name in _MENU_ITEM_FIELDS if blank(item.get(name))
        )
        qty, amount = as_amount(item.get("item_qty")), as_amount(item.get("item_amount"))
        if not blank(item.get("item_qty")) and (qty is None or qty < 0):
            problems.append(f"item {index}: item_qty must be a non-negative number")
        if not blank(item.get("item_amount")) and (amount is None or amount < 0):
            problems.append(f"item {index}: item_amount must be a non-negative number")
        kind = item.get("menu_item_type")
        if not blank(kind) and kind not in MENU_ITEM_TYPES:
            problems.append(f"item {index}: menu_item_type must be one of M, D, S, T, P")
    return {"menu_items": problems} if problems else {}


def missing_line_item_field(items: Any) -> str | None:
    """Punchh's 400 parameter name for the first bad line item ("item_qty_0"), else None."""
    if not isinstance(items, list) or not items:
        return "line_items"
    for index, item in enumerate(items):
        if not isinstance(item, dict):
            return f"line_items_{index}"
        for name in _LINE_ITEM_FIELDS:
            if blank(item.get(name)):
                return f"{name}_{index}"
        if as_amount(item.get("amount")) is None or as_amount(item.get("item_qty")) is None:
            return f"amount_{index}"
    return None
