"""The policies: built-in abuse protection on by default, plus any from configuration.

Each policy has a key kind (whose budget it is), the route classes it covers, a rate,
what it counts (every request, or only the failures Punchh reports), and what to do
when its store cannot answer (abuse policies fail closed). Keys are derived from plain
values here (pure); the stage only gathers them.
"""

from __future__ import annotations

import functools
import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from gateway.errors import InvalidIdentifier
from gateway.identifiers import identifier
from gateway.ratelimit.gcra import Rate

KeyKind = Literal["ip", "session", "target", "account", "account_ip", "global"]
Counts = Literal["requests", "failures"]
KEY_KINDS: tuple[str, ...] = ("ip", "session", "target", "account", "account_ip", "global")
ROUTE_CLASSES: tuple[str, ...] = (
    "*",
    "guest",
    "otp_send",
    "sign_in",
    "sign_up",
    "password_reset",
    "pos",
)
MAX_WINDOW = 30 * 86400.0


def is_failure(status: int) -> bool:
    """A failed attempt, as Punchh answers it: any 4xx but 429 (401 wrong password, 422
    wrong OTP, 400 `invalid_grant` for a guessed SSO code, 404 no such account)."""
    return 400 <= status < 500 and status != 429


@dataclass(frozen=True, slots=True)
class Policy:
    name: str
    key: KeyKind
    classes: frozenset[str]
    rate: Rate
    counts: Counts = "requests"
    fail_closed: bool = False

    def covers(self, route_classes: frozenset[str]) -> bool:
        return "*" in self.classes or bool(self.classes & route_classes)


def _p(
    name: str,
    key: KeyKind,
    classes: str,
    limit: int,
    window: float,
    *,
    counts: Counts = "requests",
    closed: bool = False,
) -> Policy:
    return Policy(name, key, frozenset(classes.split(",")), Rate(limit, window), counts, closed)


BUILT_IN: tuple[Policy, ...] = (
    _p("ip", "ip", "*", 600, 60),
    _p("session", "session", "guest", 300, 60),
    # OTP pumping (SMS toll fraud): per target phone/email, and per client IP.
    _p("otp_target", "target", "otp_send", 3, 600, closed=True),
    _p("otp_ip", "ip", "otp_send", 10, 3600, closed=True),
    # Credential stuffing and OTP guessing: failed sign-ins (wrong passwords, wrong OTPs)
    # per (account, client IP), per account from every address, and per IP. A stranger
    # at one address spends the first, not the owner's: locking an account out for
    # everyone takes sign_in_account / sign_in_account_ip = 10 addresses. The pair is
    # drawn in this order, so a refusal of the first takes nothing from the second.
    _p("sign_in_account_ip", "account_ip", "sign_in", 5, 900, counts="failures", closed=True),
    _p("sign_in_account", "account", "sign_in", 50, 900, counts="failures", closed=True),
    _p("sign_in_ip", "ip", "sign_in", 20, 900, counts="failures", closed=True),
    _p("sign_up_ip", "ip", "sign_up", 10, 3600, closed=True),
    # Password-reset mail bombing: reset mails per account (user.email), besides `ip`.
    _p("password_reset_target", "account", "password_reset", 3, 600, closed=True),
)


def _person(box: dict[str, Any]) -> str | None:
    """The email, else the phone, of a body part, as the cache names them too; either of
    another JSON type is 400 invalid_identifier (gateway/identifiers.py)."""
    email = identifier(box, "email", "email")
    phone = identifier(box, "phone", "phone")
    return email or phone


def target_of(body: Any) -> str | None:
    """Whom an OTP goes to (docs/punchh.md: `email` or `phone` in the body)."""
    if not isinstance(body, dict):
        return None
    return _person(body)


def account_of(body: Any, family: str) -> str | None:
    """The account a sign-in is for, read where Punchh reads it: the top-level `email` or
    `phone` for Advanced Authentication (docs/punchh.md), `user.email` or `user.phone`
    otherwise, so a decoy in the other place cannot buy a fresh budget."""
    if not isinstance(body, dict):
        return None
    box = body if family == "password_less" else body.get("user")
    if box is None:
        return None  # a sign-in that names no account (an SSO code grant)
    if not isinstance(box, dict):
        raise InvalidIdentifier("user must be an object")
    return _person(box)


@functools.lru_cache(maxsize=4096)
def ip_bucket(ip: str) -> str:
    """Whose budget an address draws on: an IPv4 address its own; an IPv6 address its /64,
    which one client commonly controls whole (RFC 4291 §2.5.4: the interface identifier is
    the low 64 bits), so hopping addresses inside it buys nothing."""
    if ":" not in ip:
        return ip
    try:
        address = ipaddress.IPv6Address(ip)
    except ValueError:
        return ip
    if address.ipv4_mapped is not None:  # ::ffff:a.b.c.d is the IPv4 client a.b.c.d
        return str(address.ipv4_mapped)
    return str(ipaddress.IPv6Network(f"{address}/64", strict=False))


def key_for(
    policy: Policy, *, ip: str, session: str | None, body: Any, family: str = "auth"
) -> str | None:
    """The bucket this request draws on for `policy`, or None when the policy does not
    apply to it (no session on a session policy, no target on an OTP send)."""
    value: str | None
    if policy.key == "ip":
        value = ip_bucket(ip) if ip else None
    elif policy.key == "session":
        value = session
    elif policy.key == "target":
        value = target_of(body)
    elif policy.key == "account":
        value = account_of(body, family)
    elif policy.key == "account_ip":
        account = account_of(body, family)
        value = f"{account}|{ip_bucket(ip)}" if account and ip else None
    else:
        value = "*"
    return f"{policy.name}:{value}" if value else None


def merge(overrides: Mapping[str, Mapping[str, Any]]) -> tuple[Policy, ...]:
    """Built-in policies with their configured overrides, then the configured new ones.
    `overrides` is already checked (config.py): known fields, sane values."""
    out: list[Policy] = []
    built_in = {p.name: p for p in BUILT_IN}
    for name in [*built_in, *(n for n in overrides if n not in built_in)]:
        base, o = built_in.get(name), overrides.get(name, {})
        if not o.get("enabled", True):
            continue
        out.append(
            Policy(
                name=name,
                key=o.get("key", base.key if base else "ip"),
                classes=frozenset(o["routes"])
                if "routes" in o
                else (base.classes if base else frozenset({"*"})),
                rate=Rate(
                    o.get("limit", base.rate.limit if base else 0),
                    float(o.get("window", base.rate.window if base else 0)),
                ),
                counts=o.get("counts", base.counts if base else "requests"),
                fail_closed=o["fail"] == "closed"
                if "fail" in o
                else (base.fail_closed if base else False),
            )
        )
    return tuple(out)


_FIELDS = frozenset({"key", "routes", "limit", "window", "counts", "fail", "enabled"})


def check_overrides(raw: Any) -> tuple[dict[str, dict[str, Any]], list[str]]:
    """`[rate_limit.policies.<name>]` tables, checked: the usable ones and one problem line
    per bad value (key, value, what was expected)."""
    if not isinstance(raw, dict):
        return {}, [f"rate_limit.policies = {type(raw).__name__}: expected tables by name"]
    good: dict[str, dict[str, Any]] = {}
    problems: list[str] = []
    built_in = {p.name for p in BUILT_IN}
    for name, table in raw.items():
        where = f"rate_limit.policies.{name}"
        if not isinstance(table, dict):
            problems.append(f"{where}: expected a table")
            continue
        found = [f"{where}.{k}: unknown key" for k in sorted(set(table) - _FIELDS)]
        found += _check_values(where, table)
        if name not in built_in:
            found += [
                f"{where}.{k}: required for a new policy"
                for k in ("key", "limit", "window")
                if k not in table
            ]
        problems += found
        if not found:
            good[name] = table
    return good, problems


def _check_values(where: str, t: dict[str, Any]) -> list[str]:
    checks: list[tuple[str, bool, str]] = [
        ("key", t.get("key", "ip") in KEY_KINDS, "one of " + ", ".join(KEY_KINDS)),
        (
            "routes",
            isinstance(t.get("routes", ["*"]), list)
            and all(r in ROUTE_CLASSES for r in t.get("routes", ["*"])),
            "a list of " + ", ".join(ROUTE_CLASSES),
        ),
        (
            "limit",
            isinstance(t.get("limit", 1), int)
            and not isinstance(t.get("limit", 1), bool)
            and 1 <= t.get("limit", 1) <= 1_000_000,
            "an integer from 1 to 1000000",
        ),
        (
            "window",
            isinstance(t.get("window", 1), int | float)
            and not isinstance(t.get("window", 1), bool)
            and 0 < t.get("window", 1) <= MAX_WINDOW,
            f"seconds, more than 0 and at most {int(MAX_WINDOW)}",
        ),
        ("counts", t.get("counts", "requests") in ("requests", "failures"), "requests or failures"),
        ("fail", t.get("fail", "open") in ("open", "closed"), "open or closed"),
        ("enabled", isinstance(t.get("enabled", True), bool), "true or false"),
    ]
    return [f"{where}.{k} = {t[k]!r}: expected {what}" for k, ok, what in checks if not ok]
