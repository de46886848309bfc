"""Every configuration key, once: TOML key, environment override, default, parser, doc.

The loader (config.py) and the operator docs both read this table, so they cannot drift.
The parsers are in parsers.py.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from gateway import parsers as p


@dataclass(frozen=True)
class Setting:
    key: str
    parse: p.Parser
    default: Any
    doc: str
    env: str | None = None
    secret: bool = False


SETTINGS: tuple[Setting, ...] = (
    Setting(
        "server.host", p.string, "127.0.0.1", "Address the gateway listens on.", "GATEWAY_HOST"
    ),
    Setting(
        "server.port", p.integer(0, 65535), 8080, "Port the gateway listens on.", "GATEWAY_PORT"
    ),
    Setting(
        "server.max_body_bytes",
        p.integer(1024, 16 * 1024 * 1024),
        64 * 1024,
        "Largest request body accepted; larger answers 413.",
        "GATEWAY_MAX_BODY_BYTES",
    ),
    Setting(
        "server.trusted_proxies",
        p.networks,
        (),
        "Peers (IPs or CIDRs) whose X-Forwarded-For is believed; comma-separated in the env.",
        "GATEWAY_TRUSTED_PROXIES",
    ),
    Setting(
        "server.workers",
        p.integer(1, 64),
        1,
        "Processes serving the port (SO_REUSEPORT); more than 1 needs Redis stores.",
        "GATEWAY_WORKERS",
    ),
    Setting(
        "server.event_loop",
        p.choice("uvloop", "asyncio"),
        "uvloop",
        "Event loop implementation.",
        "GATEWAY_EVENT_LOOP",
    ),
    Setting(
        "server.shutdown_grace",
        p.seconds(0, 300),
        3.0,
        "After SIGTERM: seconds /readyz answers 503 while new connections are still served "
        "(for load balancers to notice), before the listener closes.",
        "GATEWAY_SHUTDOWN_GRACE",
    ),
    Setting(
        "server.drain_timeout",
        p.seconds(0, 3600),
        25.0,
        "After the listener closes: seconds in-flight requests may take to finish before "
        "they are cancelled and the process exits 0.",
        "GATEWAY_DRAIN_TIMEOUT",
    ),
    Setting(
        "server.log_level",
        p.choice("DEBUG", "INFO", "WARNING", "ERROR"),
        "INFO",
        "Log level.",
        "GATEWAY_LOG_LEVEL",
    ),
    Setting(
        "punchh.base_url",
        p.base_url,
        "",
        "Punchh server, e.g. https://sandbox.punchh.com.",
        "PUNCHH_BASE_URL",
    ),
    Setting(
        "punchh.client_id", p.string, "", "The business's client id (`client`).", "PUNCHH_CLIENT_ID"
    ),
    Setting(
        "punchh.client_secret",
        p.secret(1),
        "",
        "The business's client secret (signs requests).",
        "PUNCHH_CLIENT_SECRET",
        secret=True,
    ),
    Setting(
        "punchh.connect_timeout",
        p.seconds(0.05, 60),
        3.0,
        "Seconds to open a connection to Punchh (504 beyond), for the route classes whose "
        "punchh.timeouts.<class>.connect is 0.",
        "PUNCHH_CONNECT_TIMEOUT",
    ),
    Setting(
        "punchh.total_timeout",
        p.seconds(0.1, 300),
        15.0,
        "Seconds for a whole Punchh call with its retries (504 beyond), for the route "
        "classes whose punchh.timeouts.<class>.total is 0.",
        "PUNCHH_TOTAL_TIMEOUT",
    ),
    Setting(
        "punchh.http_client",
        p.choice("h1", "pyreqwest", "aiohttp"),
        "h1",
        "HTTP client for calls to Punchh: h1 (the gateway's own lean HTTP/1.1 client), "
        "pyreqwest or aiohttp (make bench compares them).",
        "PUNCHH_HTTP_CLIENT",
    ),
    Setting(
        "punchh.timeouts.read.connect",
        p.seconds(0, 60),
        0.0,
        "Connect timeout for read calls (GET requests and POS look-ups); "
        "0: punchh.connect_timeout.",
        "PUNCHH_TIMEOUT_READ_CONNECT",
    ),
    Setting(
        "punchh.timeouts.read.first_byte",
        p.seconds(0, 300),
        5.0,
        "Seconds from sending a read call to Punchh's status line, per attempt; 0: the "
        "class's total.",
        "PUNCHH_TIMEOUT_READ_FIRST_BYTE",
    ),
    Setting(
        "punchh.timeouts.read.total",
        p.seconds(0, 300),
        8.0,
        "Deadline of a whole read call, retries and backoff included; 0: punchh.total_timeout.",
        "PUNCHH_TIMEOUT_READ_TOTAL",
    ),
    Setting(
        "punchh.timeouts.write.connect",
        p.seconds(0, 60),
        0.0,
        "Connect timeout for write calls (check-ins, redemptions, profile and basket changes); "
        "0: punchh.connect_timeout.",
        "PUNCHH_TIMEOUT_WRITE_CONNECT",
    ),
    Setting(
        "punchh.timeouts.write.first_byte",
        p.seconds(0, 300),
        6.0,
        "Seconds from sending a write call to Punchh's status line, per attempt; 0: the "
        "class's total.",
        "PUNCHH_TIMEOUT_WRITE_FIRST_BYTE",
    ),
    Setting(
        "punchh.timeouts.write.total",
        p.seconds(0, 300),
        0.0,
        "Deadline of a whole write call, retries and backoff included; 0: punchh.total_timeout.",
        "PUNCHH_TIMEOUT_WRITE_TOTAL",
    ),
    Setting(
        "punchh.timeouts.auth.connect",
        p.seconds(0, 60),
        0.0,
        "Connect timeout for auth calls (sign-ins, sign-ups, OTP sends, token refresh, "
        "sign-outs); "
        "0: punchh.connect_timeout.",
        "PUNCHH_TIMEOUT_AUTH_CONNECT",
    ),
    Setting(
        "punchh.timeouts.auth.first_byte",
        p.seconds(0, 300),
        0.0,
        "Seconds from sending a auth call to Punchh's status line, per attempt; 0: the "
        "class's total.",
        "PUNCHH_TIMEOUT_AUTH_FIRST_BYTE",
    ),
    Setting(
        "punchh.timeouts.auth.total",
        p.seconds(0, 300),
        0.0,
        "Deadline of a whole auth call, retries and backoff included; 0: punchh.total_timeout.",
        "PUNCHH_TIMEOUT_AUTH_TOTAL",
    ),
    Setting(
        "punchh.pool_size",
        p.integer(1, 10000),
        100,
        "Keep-alive connections to Punchh at most.",
        "PUNCHH_POOL_SIZE",
    ),
    Setting(
        "punchh.user_agent",
        p.user_agent,
        "LoyaltyGateway/OnlineOrder/0.1/Web",
        "User-Agent sent on guest routes, Punchh format "
        "BusinessIdentifier/IntegratorName/OnlineOrder/Version/SourceChannel.",
        "PUNCHH_USER_AGENT",
    ),
    Setting(
        "punchh.pos_user_agent",
        p.user_agent,
        "LoyaltyGateway/POS/0.1",
        "User-Agent sent on POS routes, Punchh format IntegratorName/POS/Version.",
        "PUNCHH_POS_USER_AGENT",
    ),
    Setting(
        "punchh.digest.auth", p.digest, "sha1", "x-pch-digest for /api/auth (Online Ordering)."
    ),
    Setting("punchh.digest.oauth", p.digest, "sha1", "x-pch-digest for /oauth/token."),
    Setting("punchh.digest.mobile", p.digest, "sha256", "x-pch-digest for /api2/mobile."),
    Setting(
        "punchh.digest.password_less",
        p.digest,
        "none",
        "x-pch-digest for /api2/password_less (Advanced Authentication).",
    ),
    Setting("punchh.digest.pos", p.digest, "none", "x-pch-digest for /api/pos."),
    Setting(
        "session.secret",
        p.secret(32),
        "",
        "Key that signs gateway session tokens (HS256); at least 32 characters.",
        "GATEWAY_SESSION_SECRET",
        secret=True,
    ),
    Setting(
        "session.previous_secrets",
        p.secret_list(32),
        (),
        "Earlier session secrets still accepted (not used to sign): rotate without logouts. "
        "Comma-separated in the env.",
        "GATEWAY_SESSION_PREVIOUS_SECRETS",
        secret=True,
    ),
    Setting(
        "session.ttl",
        p.integer(60, 90 * 86400),
        86400,
        "Absolute lifetime of a gateway session, in seconds.",
        "GATEWAY_SESSION_TTL",
    ),
    Setting(
        "session.idle_timeout",
        p.integer(60, 90 * 86400),
        14400,
        "Seconds without a request after which a session ends.",
        "GATEWAY_SESSION_IDLE_TIMEOUT",
    ),
    Setting(
        "session.refresh_margin",
        p.integer(0, 86400),
        60,
        "Refresh Punchh's access token this many seconds before it expires.",
        "GATEWAY_REFRESH_MARGIN",
    ),
    Setting(
        "session.cookie_mode",
        p.boolean,
        False,
        "Browser mode: the session token travels in an HttpOnly cookie, not in the body.",
        "GATEWAY_COOKIE_MODE",
    ),
    Setting("session.cookie_name", p.token_name, "lg_session", "Name of the session cookie."),
    Setting(
        "session.cookie_samesite",
        p.choice("Strict", "Lax", "None"),
        "Lax",
        "SameSite attribute of the session cookie.",
    ),
    Setting(
        "session.cookie_secure",
        p.boolean,
        True,
        "Secure attribute of the session cookie (false only for plain-http development).",
        "GATEWAY_COOKIE_SECURE",
    ),
    Setting(
        "session.allowed_origins",
        p.origins,
        (),
        "Origins allowed to send unsafe requests and CORS preflights in cookie mode; "
        "comma-separated in the env.",
        "GATEWAY_ALLOWED_ORIGINS",
    ),
    Setting(
        "store.url",
        p.store_url,
        "memory://",
        "Where sessions live: memory:// (one process) or redis://host:port/db, rediss://.",
        "GATEWAY_STORE_URL",
        secret=True,  # a Redis URL may carry a password
    ),
    Setting(
        "store.prefix",
        p.string,
        "lg:",
        "Prefix of every key the gateway writes in Redis.",
        "GATEWAY_STORE_PREFIX",
    ),
    Setting(
        "store.timeout",
        p.seconds(0.01, 10),
        0.5,
        "Seconds a Redis command may take before the store counts as unavailable.",
        "GATEWAY_STORE_TIMEOUT",
    ),
    Setting(
        "store.encryption_key",
        p.secret(32),
        "",
        "Encrypts Punchh tokens at rest in Redis (AES-256-GCM); 32+ characters, required with "
        "redis.",
        "GATEWAY_STORE_KEY",
        secret=True,
    ),
    Setting(
        "session.max_sessions",
        p.integer(1, 10_000_000),
        100_000,
        "Sessions the memory store holds at most (oldest-expiring evicted first).",
    ),
    Setting(
        "cache.enabled",
        p.boolean,
        True,
        "Cache guest look-ups and balances (per-route TTLs in the route table).",
        "GATEWAY_CACHE_ENABLED",
    ),
    Setting(
        "cache.url",
        p.cache_url,
        "",
        "Where cached answers live: empty follows store.url; memory:// or redis://.",
        "GATEWAY_CACHE_URL",
        secret=True,
    ),
    Setting(
        "cache.max_entries",
        p.integer(1, 10_000_000),
        10_000,
        "Answers the memory cache holds at most.",
    ),
    Setting(
        "cache.max_bytes",
        p.integer(1024, 4 * 1024**3),
        32 * 1024 * 1024,
        "Bytes of answers the memory cache holds at most.",
    ),
    Setting(
        "rate_limit.enabled",
        p.boolean,
        True,
        "Rate limits and abuse protection (policies under [rate_limit.policies.<name>]).",
        "GATEWAY_RATE_LIMIT_ENABLED",
    ),
    Setting(
        "rate_limit.url",
        p.cache_url,
        "",
        "Where rate-limit state lives: empty follows store.url; memory:// or redis://.",
        "GATEWAY_RATE_LIMIT_URL",
        secret=True,
    ),
    Setting(
        "rate_limit.max_concurrent_upstream",
        p.integer(1, 100_000),
        128,
        "Calls to Punchh in flight at most, per process; beyond them a short queue, then 503.",
        "GATEWAY_MAX_CONCURRENT_UPSTREAM",
    ),
    Setting(
        "rate_limit.queue",
        p.integer(0, 100_000),
        64,
        "Requests that may wait for a free upstream slot.",
    ),
    Setting(
        "rate_limit.queue_timeout",
        p.seconds(0.0, 60),
        1.0,
        "Seconds a request waits for a free upstream slot before 503 upstream_overloaded.",
    ),
    Setting(
        "retry.max_attempts",
        p.integer(1, 10),
        3,
        "Attempts per call to Punchh, the first included (1: no retries). Only reads, writes "
        "carrying an external_uid, and calls that never left are sent again.",
        "GATEWAY_RETRY_MAX_ATTEMPTS",
    ),
    Setting(
        "retry.backoff_base",
        p.seconds(0.001, 10),
        0.05,
        "Backoff before retry n is random in [0, backoff_base * 2^(n-1)] (full jitter).",
        "GATEWAY_RETRY_BACKOFF_BASE",
    ),
    Setting(
        "retry.backoff_max",
        p.seconds(0.001, 60),
        1.0,
        "Longest backoff before a retry, in seconds.",
        "GATEWAY_RETRY_BACKOFF_MAX",
    ),
    Setting(
        "retry.budget_ratio",
        p.fraction,
        0.2,
        "Retries allowed as a share of first attempts over the last 10 s, per process.",
        "GATEWAY_RETRY_BUDGET_RATIO",
    ),
    Setting(
        "retry.budget_min_per_second",
        p.integer(0, 10000),
        5,
        "Retries per second always allowed, whatever the ratio (over the same 10 s window).",
        "GATEWAY_RETRY_BUDGET_MIN_PER_SECOND",
    ),
    Setting(
        "circuit.enabled",
        p.boolean,
        True,
        "A circuit breaker per upstream family: while open, calls answer 503 at once.",
        "GATEWAY_CIRCUIT_ENABLED",
    ),
    Setting(
        "circuit.consecutive_failures",
        p.integer(1, 100000),
        5,
        "Failed calls in a row (timeouts, connection errors, 5xx) that open the breaker.",
        "GATEWAY_CIRCUIT_CONSECUTIVE_FAILURES",
    ),
    Setting(
        "circuit.failure_ratio",
        p.fraction,
        0.5,
        "Share of failed calls in the window that opens the breaker (with min_calls).",
        "GATEWAY_CIRCUIT_FAILURE_RATIO",
    ),
    Setting(
        "circuit.min_calls",
        p.integer(1, 1000000),
        20,
        "Calls in the window before failure_ratio is judged.",
        "GATEWAY_CIRCUIT_MIN_CALLS",
    ),
    Setting(
        "circuit.window",
        p.integer(1, 3600),
        10,
        "Seconds of calls the failure ratio is computed over.",
        "GATEWAY_CIRCUIT_WINDOW",
    ),
    Setting(
        "circuit.open_seconds",
        p.seconds(0.1, 3600),
        5.0,
        "Seconds the breaker stays open before one probe call is let through (half-open).",
        "GATEWAY_CIRCUIT_OPEN_SECONDS",
    ),
    Setting(
        "idempotency.url",
        p.cache_url,
        "",
        "Where Idempotency-Key records live: empty follows store.url; memory:// (per "
        "process) or redis:// (shared by replicas).",
        "GATEWAY_IDEMPOTENCY_URL",
        secret=True,
    ),
    Setting(
        "idempotency.ttl",
        p.integer(0, 7 * 86400),
        3600,
        "Seconds a write's answer is kept for replays of its Idempotency-Key (0: only "
        "while the first request is in flight).",
        "GATEWAY_IDEMPOTENCY_TTL",
    ),
    Setting(
        "idempotency.max_entries",
        p.integer(1, 10_000_000),
        10000,
        "Idempotency keys remembered at most, per process (oldest dropped first).",
        "GATEWAY_IDEMPOTENCY_MAX_ENTRIES",
    ),
    Setting(
        "admin.host",
        p.string,
        "127.0.0.1",
        "Address of the admin listener (/metrics, /gateway/status) when admin.port is set.",
        "GATEWAY_ADMIN_HOST",
    ),
    Setting(
        "admin.port",
        p.integer(0, 65535),
        0,
        "A separate port for /metrics and the status page (0: on the main port).",
        "GATEWAY_ADMIN_PORT",
    ),
    Setting(
        "admin.token",
        p.secret(24),
        "",
        "Bearer token for /metrics and /gateway/status on the main port (24+ characters). "
        "Without it the status page is served on the admin port only; /metrics stays open.",
        "GATEWAY_ADMIN_TOKEN",
        secret=True,
    ),
    Setting(
        "pos.enabled",
        p.boolean,
        False,
        "Serve the /api/pos routes to configured devices (off: they answer 404).",
        "GATEWAY_POS_ENABLED",
    ),
    Setting(
        "pos.business_key",
        p.secret(1),
        "",
        "Punchh business key (btoken) for POS routes.",
        "PUNCHH_BUSINESS_KEY",
        secret=True,
    ),
    Setting(
        "sandbox.enabled",
        p.boolean,
        False,
        "Start the built-in Punchh sandbox in-process and use it as the upstream.",
        "GATEWAY_SANDBOX",
    ),
    Setting(
        "sandbox.host", p.string, "127.0.0.1", "Address of the embedded sandbox (loopback only)."
    ),
    Setting(
        "sandbox.port",
        p.integer(0, 65535),
        0,
        "Port of the embedded sandbox (0: any free port).",
        "GATEWAY_SANDBOX_PORT",
    ),
)

# Tables of tables, checked where they are read: pos.devices in config.py,
# rate_limit.policies in ratelimit/policies.py.
TABLE_KEYS = {"pos.devices", "rate_limit.policies"}
