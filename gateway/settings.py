"""Every configuration key, once: TOML key, environment override, default, parser, doc.

The loader (config.py) and the operator docs both read this table, so they cannot drift.
A parser takes the TOML value (or the environment string) and returns the typed value,
or raises ValueError whose message says what was expected.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from gateway.client_ip import parse_networks
from gateway.secret import Secret
from gateway.signing import DIGEST_ALGORITHMS

Parser = Callable[[Any, bool], Any]


@dataclass(frozen=True)
class Setting:
    key: str
    parse: Parser
    default: Any
    doc: str
    env: str | None = None
    secret: bool = False


def _str(raw: Any, from_env: bool) -> str:
    if not isinstance(raw, str):
        raise ValueError("expected a string")
    return raw


def _secret(min_len: int) -> Parser:
    def parse(raw: Any, from_env: bool) -> Secret:
        value = _str(raw, from_env)
        if value and len(value) < min_len:
            raise ValueError(f"expected at least {min_len} characters")
        return Secret(value)

    return parse


def _int(lo: int, hi: int) -> Parser:
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


def _seconds(lo: float, hi: float) -> Parser:
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


def _bool(raw: Any, from_env: bool) -> bool:
    if from_env and isinstance(raw, str):
        lowered = raw.strip().lower()
        if lowered in ("1", "true", "yes", "on"):
            return True
        if lowered in ("0", "false", "no", "off", ""):
            return False
    if not isinstance(raw, bool):
        raise ValueError("expected true or false")
    return raw


def _choice(*choices: str) -> Parser:
    def parse(raw: Any, from_env: bool) -> str:
        if raw not in choices:
            raise ValueError("expected one of " + ", ".join(choices))
        return str(raw)

    return parse


def _base_url(raw: Any, from_env: bool) -> str:
    value = _str(raw, from_env).rstrip("/")
    if not value:
        return value
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.query:
        raise ValueError("expected an http(s) URL such as https://sandbox.punchh.com")
    return value


def _networks(raw: Any, from_env: bool) -> tuple[str, ...]:
    if from_env and isinstance(raw, str):
        raw = [part for part in raw.split(",") if part.strip()]
    if not isinstance(raw, list | tuple) or not all(isinstance(v, str) for v in raw):
        raise ValueError("expected a list of IP addresses or CIDRs")
    parse_networks(raw)
    return tuple(v.strip() for v in raw)


def _user_agent(raw: Any, from_env: bool) -> str:
    value = _str(raw, from_env)
    if not value or any(ord(c) < 0x20 or ord(c) > 0x7E for c in value):
        raise ValueError("expected a non-empty printable ASCII User-Agent")
    return value


def _secrets(min_len: int) -> Parser:
    one = _secret(min_len)

    def parse(raw: Any, from_env: bool) -> tuple[Secret, ...]:
        if from_env and isinstance(raw, str):
            raw = [part.strip() for part in raw.split(",") if part.strip()]
        if not isinstance(raw, list | tuple):
            raise ValueError("expected a list of secrets")
        return tuple(one(v, from_env) for v in raw)

    return parse


def _token_name(raw: Any, from_env: bool) -> str:
    value = _str(raw, from_env)
    if not value or not all(c.isalnum() or c in "-_" for c in value):
        raise ValueError("expected letters, digits, '-' or '_'")
    return value


def _origins(raw: Any, from_env: bool) -> tuple[str, ...]:
    if from_env and isinstance(raw, str):
        raw = [part.strip() for part in raw.split(",") if part.strip()]
    if not isinstance(raw, list | tuple) or not all(isinstance(v, str) for v in raw):
        raise ValueError("expected a list of origins such as https://order.example.com")
    for origin in raw:
        parts = urlsplit(origin)
        if parts.scheme not in ("http", "https") or not parts.hostname or parts.path:
            raise ValueError(f"expected origins like https://order.example.com, not {origin!r}")
    return tuple(raw)


def _store_url(raw: Any, from_env: bool) -> str:
    value = _str(raw, from_env)
    if value != "memory://" and urlsplit(value).scheme not in ("redis", "rediss"):
        raise ValueError("expected memory:// or a redis:// or rediss:// URL")
    return value


_digest = _choice(*DIGEST_ALGORITHMS)

SETTINGS: tuple[Setting, ...] = (
    Setting("server.host", _str, "127.0.0.1", "Address the gateway listens on.", "GATEWAY_HOST"),
    Setting("server.port", _int(0, 65535), 8080, "Port the gateway listens on.", "GATEWAY_PORT"),
    Setting(
        "server.max_body_bytes",
        _int(1024, 16 * 1024 * 1024),
        64 * 1024,
        "Largest request body accepted; larger answers 413.",
        "GATEWAY_MAX_BODY_BYTES",
    ),
    Setting(
        "server.trusted_proxies",
        _networks,
        (),
        "Peers (IPs or CIDRs) whose X-Forwarded-For is believed; comma-separated in the env.",
        "GATEWAY_TRUSTED_PROXIES",
    ),
    Setting(
        "server.log_level",
        _choice("DEBUG", "INFO", "WARNING", "ERROR"),
        "INFO",
        "Log level.",
        "GATEWAY_LOG_LEVEL",
    ),
    Setting(
        "punchh.base_url",
        _base_url,
        "",
        "Punchh server, e.g. https://sandbox.punchh.com.",
        "PUNCHH_BASE_URL",
    ),
    Setting(
        "punchh.client_id", _str, "", "The business's client id (`client`).", "PUNCHH_CLIENT_ID"
    ),
    Setting(
        "punchh.client_secret",
        _secret(1),
        "",
        "The business's client secret (signs requests).",
        "PUNCHH_CLIENT_SECRET",
        secret=True,
    ),
    Setting(
        "punchh.connect_timeout",
        _seconds(0.05, 60),
        3.0,
        "Seconds to open a connection to Punchh (504 beyond).",
        "PUNCHH_CONNECT_TIMEOUT",
    ),
    Setting(
        "punchh.total_timeout",
        _seconds(0.1, 300),
        15.0,
        "Seconds for a whole Punchh call (504 beyond).",
        "PUNCHH_TOTAL_TIMEOUT",
    ),
    Setting(
        "punchh.pool_size",
        _int(1, 10000),
        100,
        "Keep-alive connections to Punchh at most.",
        "PUNCHH_POOL_SIZE",
    ),
    Setting(
        "punchh.user_agent",
        _user_agent,
        "LoyaltyGateway/OnlineOrder/0.1/Web",
        "User-Agent sent on guest routes, Punchh format "
        "BusinessIdentifier/IntegratorName/OnlineOrder/Version/SourceChannel.",
        "PUNCHH_USER_AGENT",
    ),
    Setting(
        "punchh.pos_user_agent",
        _user_agent,
        "LoyaltyGateway/POS/0.1",
        "User-Agent sent on POS routes, Punchh format IntegratorName/POS/Version.",
        "PUNCHH_POS_USER_AGENT",
    ),
    Setting("punchh.digest.auth", _digest, "sha1", "x-pch-digest for /api/auth (Online Ordering)."),
    Setting("punchh.digest.oauth", _digest, "sha1", "x-pch-digest for /oauth/token."),
    Setting("punchh.digest.mobile", _digest, "sha256", "x-pch-digest for /api2/mobile."),
    Setting(
        "punchh.digest.password_less",
        _digest,
        "none",
        "x-pch-digest for /api2/password_less (Advanced Authentication).",
    ),
    Setting("punchh.digest.pos", _digest, "none", "x-pch-digest for /api/pos."),
    Setting(
        "session.secret",
        _secret(32),
        "",
        "Key that signs gateway session tokens (HS256); at least 32 characters.",
        "GATEWAY_SESSION_SECRET",
        secret=True,
    ),
    Setting(
        "session.previous_secrets",
        _secrets(32),
        (),
        "Earlier session secrets still accepted (not used to sign): rotate without logouts. "
        "Comma-separated in the env.",
        "GATEWAY_SESSION_PREVIOUS_SECRETS",
        secret=True,
    ),
    Setting(
        "session.ttl",
        _int(60, 90 * 86400),
        86400,
        "Absolute lifetime of a gateway session, in seconds.",
        "GATEWAY_SESSION_TTL",
    ),
    Setting(
        "session.idle_timeout",
        _int(60, 90 * 86400),
        14400,
        "Seconds without a request after which a session ends.",
        "GATEWAY_SESSION_IDLE_TIMEOUT",
    ),
    Setting(
        "session.refresh_margin",
        _int(0, 86400),
        60,
        "Refresh Punchh's access token this many seconds before it expires.",
        "GATEWAY_REFRESH_MARGIN",
    ),
    Setting(
        "session.cookie_mode",
        _bool,
        False,
        "Browser mode: the session token travels in an HttpOnly cookie, not in the body.",
        "GATEWAY_COOKIE_MODE",
    ),
    Setting("session.cookie_name", _token_name, "lg_session", "Name of the session cookie."),
    Setting(
        "session.cookie_samesite",
        _choice("Strict", "Lax", "None"),
        "Lax",
        "SameSite attribute of the session cookie.",
    ),
    Setting(
        "session.cookie_secure",
        _bool,
        True,
        "Secure attribute of the session cookie (false only for plain-http development).",
        "GATEWAY_COOKIE_SECURE",
    ),
    Setting(
        "session.allowed_origins",
        _origins,
        (),
        "Origins allowed to send unsafe requests and CORS preflights in cookie mode; "
        "comma-separated in the env.",
        "GATEWAY_ALLOWED_ORIGINS",
    ),
    Setting(
        "store.url",
        _store_url,
        "memory://",
        "Where sessions live: memory:// (one process) or redis://host:port/db, rediss://.",
        "GATEWAY_STORE_URL",
        secret=True,  # a Redis URL may carry a password
    ),
    Setting(
        "store.prefix",
        _str,
        "lg:",
        "Prefix of every key the gateway writes in Redis.",
        "GATEWAY_STORE_PREFIX",
    ),
    Setting(
        "store.timeout",
        _seconds(0.01, 10),
        0.5,
        "Seconds a Redis command may take before the store counts as unavailable.",
        "GATEWAY_STORE_TIMEOUT",
    ),
    Setting(
        "store.encryption_key",
        _secret(32),
        "",
        "Encrypts Punchh tokens at rest in Redis (AES-256-GCM); 32+ characters, required with "
        "redis.",
        "GATEWAY_STORE_KEY",
        secret=True,
    ),
    Setting(
        "session.max_sessions",
        _int(1, 10_000_000),
        100_000,
        "Sessions the memory store holds at most (oldest-expiring evicted first).",
    ),
    Setting(
        "pos.enabled",
        _bool,
        False,
        "Serve the /api/pos routes to configured devices (off: they answer 404).",
        "GATEWAY_POS_ENABLED",
    ),
    Setting(
        "pos.business_key",
        _secret(1),
        "",
        "Punchh business key (btoken) for POS routes.",
        "PUNCHH_BUSINESS_KEY",
        secret=True,
    ),
    Setting(
        "sandbox.enabled",
        _bool,
        False,
        "Start the built-in Punchh sandbox in-process and use it as the upstream.",
        "GATEWAY_SANDBOX",
    ),
    Setting("sandbox.host", _str, "127.0.0.1", "Address of the embedded sandbox (loopback only)."),
    Setting(
        "sandbox.port",
        _int(0, 65535),
        0,
        "Port of the embedded sandbox (0: any free port).",
        "GATEWAY_SANDBOX_PORT",
    ),
)

# pos.devices is an array of tables; its entries are checked in config.py.
TABLE_KEYS = {"pos.devices"}
