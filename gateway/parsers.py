"""Parsers for configuration values: the TOML value (or the environment string) in, the typed
value out, or ValueError whose message says what was expected."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from gateway.client_ip import parse_networks
from gateway.routes import PUNCHH_ROUTES
from gateway.secret import Secret
from gateway.signing import DIGEST_ALGORITHMS
from gateway.store import urls as redis_urls

Parser = Callable[[Any, bool], Any]


def string(raw: Any, from_env: bool) -> str:
    if not isinstance(raw, str):
        raise ValueError("expected a string")
    return raw


def secret(min_len: int) -> Parser:
    def parse(raw: Any, from_env: bool) -> Secret:
        value = string(raw, from_env)
        if value and len(value) < min_len:
            raise ValueError(f"expected at least {min_len} characters")
        return Secret(value)

    return parse


def integer(lo: int, hi: int) -> Parser:
    def parse(raw: Any, from_env: bool) -> int:
        if from_env and isinstance(raw, str):
            try:
                raw = int(raw.strip())
            except ValueError:
                raise ValueError(f"expected an integer from {lo} to {hi}") from None
        if isinstance(raw, bool) or not isinstance(raw, int) or not lo <= raw <= hi:
            raise ValueError(f"expected an integer from {lo} to {hi}")
        return raw

    return parse


def seconds(lo: float, hi: float) -> Parser:
    def parse(raw: Any, from_env: bool) -> float:
        if from_env and isinstance(raw, str):
            try:
                raw = float(raw.strip())
            except ValueError:
                raise ValueError(f"expected seconds from {lo} to {hi}") from None
        if isinstance(raw, bool) or not isinstance(raw, int | float) or not lo <= raw <= hi:
            raise ValueError(f"expected seconds from {lo} to {hi}")
        return float(raw)

    return parse


def fraction(raw: Any, from_env: bool) -> float:
    try:
        return float(seconds(0.0, 1.0)(raw, from_env))
    except ValueError:
        raise ValueError("expected a fraction from 0 to 1") from None


def boolean(raw: Any, from_env: bool) -> bool:
    if from_env and isinstance(raw, str):
        lowered = raw.strip().lower()
        if lowered in ("1", "true", "yes", "on"):
            return True
        if lowered in ("0", "false", "no", "off", ""):
            return False
    if not isinstance(raw, bool):
        raise ValueError("expected true or false")
    return raw


def choice(*choices: str) -> Parser:
    def parse(raw: Any, from_env: bool) -> str:
        if raw not in choices:
            raise ValueError("expected one of " + ", ".join(choices))
        return str(raw)

    return parse


def base_url(raw: Any, from_env: bool) -> str:
    value = string(raw, from_env).rstrip("/")
    if not value:
        return value
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.query:
        raise ValueError("expected an http(s) URL such as https://sandbox.punchh.com")
    if "@" in parts.netloc:  # it would be shown (check-config, the logs): never a password
        raise ValueError("expected no user or password in the URL (Punchh signs, not logs in)")
    return value


def networks(raw: Any, from_env: bool) -> tuple[str, ...]:
    if from_env and isinstance(raw, str):
        raw = [part for part in raw.split(",") if part.strip()]
    if not isinstance(raw, list | tuple) or not all(isinstance(v, str) for v in raw):
        raise ValueError("expected a list of IP addresses or CIDRs")
    parse_networks(raw)
    return tuple(v.strip() for v in raw)


# Punchh's documented form (seeds 001, 002, 004): Name/Type/Version, then anything
# (`Punchh/OnlineOrder/1.0/Web/...`, `NCRSilverPro/POS/3.5.6b`); the sandbox refuses others.
_USER_AGENT = re.compile(r"[^/\s]+/[^/\s]+/[^/\s]+(/.*)?", re.ASCII)


def user_agent(raw: Any, from_env: bool) -> str:
    value = string(raw, from_env)
    if not value or any(ord(c) < 0x20 or ord(c) > 0x7E for c in value):
        raise ValueError("expected a non-empty printable ASCII User-Agent")
    if _USER_AGENT.fullmatch(value) is None:
        raise ValueError("expected Punchh's form Name/Type/Version, e.g. MyBrand/OnlineOrder/1.0")
    return value


def secret_list(min_len: int) -> Parser:
    one = secret(min_len)

    def parse(raw: Any, from_env: bool) -> tuple[Secret, ...]:
        if from_env and isinstance(raw, str):
            raw = [part.strip() for part in raw.split(",") if part.strip()]
        if not isinstance(raw, list | tuple):
            raise ValueError("expected a list of secrets")
        return tuple(one(v, from_env) for v in raw)

    return parse


def token_name(raw: Any, from_env: bool) -> str:
    value = string(raw, from_env)
    if not value or not all(c.isalnum() or c in "-_" for c in value):
        raise ValueError("expected letters, digits, '-' or '_'")
    return value


def origins(raw: Any, from_env: bool) -> tuple[str, ...]:
    if from_env and isinstance(raw, str):
        raw = [part.strip() for part in raw.split(",") if part.strip()]
    if not isinstance(raw, list | tuple) or not all(isinstance(v, str) for v in raw):
        raise ValueError("expected a list of origins such as https://order.example.com")
    for origin in raw:
        parts = urlsplit(origin)
        if parts.scheme not in ("http", "https") or not parts.hostname or parts.path:
            raise ValueError(f"expected origins like https://order.example.com, not {origin!r}")
    return tuple(raw)


def cache_ttls(raw: Any, from_env: bool) -> dict[str, int]:
    """`[cache.ttls]`: route ("GET /api2/mobile/users/balance") → seconds its answers are
    cached, over the route table's own TTL; 0 stops caching it. Only the routes the table
    caches may be named: their cache keys and invalidations are the ones designed."""
    if not isinstance(raw, dict):
        raise ValueError('expected a table of "METHOD /path" = seconds')
    cached = {r.name: r.cache_ttl for r in PUNCHH_ROUTES if r.cache_ttl}
    problems: list[str] = []
    for route, ttl in raw.items():
        if route not in cached:
            problems.append(f"{route!r}: not a cached route (one of: {', '.join(sorted(cached))})")
        elif isinstance(ttl, bool) or not isinstance(ttl, int) or not 0 <= ttl <= 86_400:
            problems.append(f"{route!r} = {ttl!r}: expected seconds from 0 to 86400")
    if problems:
        raise Problems(problems)
    return dict(sorted(raw.items()))


def cache_url(raw: Any, from_env: bool) -> str:
    return store_url(raw, from_env) if raw else ""


class Problems(ValueError):
    """Several faults of one value, reported one line each."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


def store_url(raw: Any, from_env: bool) -> str:
    value = string(raw, from_env)
    if value == "memory://":
        return value
    if not redis_urls.is_redis_url(value):
        raise ValueError(
            "expected memory:// or a redis://, rediss://, redis+sentinel://, "
            "rediss+sentinel://, redis+cluster:// or rediss+cluster:// URL"
        )
    _, faults = redis_urls.problems(value)
    if faults:
        raise Problems(faults)
    return value


digest = choice(*DIGEST_ALGORITHMS)
