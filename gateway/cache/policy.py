"""What a cached answer is, what it is keyed by, and whose it is: pure functions.

A key always holds the identity the answer belongs to (the session's Punchh user, or for
POS the location and the look-up), the route template, and the query and body with the
gateway-owned fields (`client`, `authentication_token`) taken out and keys sorted.
Answers are tagged (`user:<id>`, `ident:<kind>:<value>`); invalidating a tag makes every
answer carrying it stale, in every replica sharing the cache.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from gateway.identifiers import normal

_GATEWAY_FIELDS = frozenset({"client", "authentication_token"})
# Answer and request fields naming a guest, and the kind of identifier each is. A POS
# `card_number` is the guest's `user_as_barcode` in Punchh's answers.
IDENT_FIELDS = {
    "phone": "phone",
    "email": "email",
    "user_as_qrcode": "user_as_qrcode",
    "card_number": "card_number",
    "user_as_barcode": "card_number",
    "user_id": "user_id",
    "referral_code": "referral_code",
}


@dataclass(frozen=True, slots=True)
class Entry:
    status: int
    headers: tuple[tuple[str, str], ...]
    body: bytes
    stored_at: float


def cache_key(route: str, identity: str, query: list[tuple[str, str]], body: Any) -> str:
    pairs = sorted((k, v) for k, v in query if k not in _GATEWAY_FIELDS) if query else []
    fields = {k: v for k, v in body.items() if k not in _GATEWAY_FIELDS} if body else {}
    if not pairs and not fields:  # the common read: nothing to canonicalise or hash
        return f"{route}|{identity}"
    parts = [route, identity, pairs, fields]
    canonical = json.dumps(parts, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def user_tag(user: str) -> str:
    return f"user:{user}"


def _boxes(source: Any) -> list[dict[str, Any]]:
    """Where Punchh puts a guest's fields: the top level, `user`, or `data`."""
    if not isinstance(source, dict):
        return []
    return [source, *(v for k in ("user", "data") if isinstance(v := source.get(k), dict))]


def identifiers(*sources: Any) -> tuple[str, ...]:
    """`ident:<kind>:<value>` tags for the guest identifiers requests or answers name
    (see IDENT_FIELDS), at the top level, under `user` or under `data`."""
    found: set[str] = set()
    for source in sources:
        for box in _boxes(source):
            for field, kind in IDENT_FIELDS.items():
                value = normal(kind, box.get(field))
                if value:
                    found.add(f"ident:{kind}:{value}")
    return tuple(sorted(found))


def invite_tag(body: Any) -> str | None:
    """The referrer a sign-up names: `user.invite_code` is another guest's referral code."""
    user = body.get("user") if isinstance(body, dict) else None
    code = normal("referral_code", user.get("invite_code")) if isinstance(user, dict) else None
    return f"ident:referral_code:{code}" if code else None


def answer_user(doc: Any) -> str | None:
    """The Punchh user id an answer is about (`user_id` or `id`; top level, `user`, `data`)."""
    for box in _boxes(doc):
        for key in ("user_id", "id"):
            value = normal("user_id", box.get(key))
            if value:
                return value
    return None
