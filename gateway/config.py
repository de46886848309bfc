"""Configuration: frozen data, loaded once at the edge from TOML plus environment overrides.

Each key is declared once, as the field it fills (`key(...)`, gateway/settings.py):
TOML key, parser, default, environment variable, description, secret or not.
`load_config(path, env)` reads the file named by GATEWAY_CONFIG (optional), applies the
environment overrides (a secret's `<VARIABLE>_FILE` too: gateway/secret_files.py), and
checks everything at once: a `ConfigError` carries one line
per problem naming the key, the value (secrets masked) and what was expected.
"""

from __future__ import annotations

import re
import secrets
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from typing import Any

from gateway import parsers as p
from gateway.client_ip import IPNetwork, parse_networks
from gateway.config_checks import business_checks, cross_checks, unknown_variables
from gateway.described import EXTRA_ENV
from gateway.hosts import overlaps, parse_host_pattern
from gateway.ratelimit.policies import Policy, check_overrides, merge
from gateway.resilience.breaker import CircuitSettings
from gateway.resilience.policy import ROUTE_CLASSES, Timeouts
from gateway.resilience.retry import RetrySettings
from gateway.secret import Secret, mask
from gateway.secret_files import FILE_SUFFIX, from_file
from gateway.settings import TABLE_KEYS, TABLE_VALUED, Setting, build, key, settings_of
from gateway.signing import DigestAlgorithm
from gateway.store import urls as redis_urls


class ConfigError(Exception):
    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


@dataclass(frozen=True)
class ServerConfig:
    host: str = key(
        "server.host", p.string, "127.0.0.1", "Address the gateway listens on.", "GATEWAY_HOST"
    )
    port: int = key(
        "server.port", p.integer(0, 65535), 8080, "Port the gateway listens on.", "GATEWAY_PORT"
    )
    max_body_bytes: int = key(
        "server.max_body_bytes",
        p.integer(1024, 16 * 1024 * 1024),
        64 * 1024,
        "Largest request body accepted; larger answers 413.",
        "GATEWAY_MAX_BODY_BYTES",
    )
    trusted_proxies: tuple[IPNetwork, ...] = key(
        "server.trusted_proxies",
        p.networks,
        (),
        "Peers (IPs or CIDRs) whose X-Forwarded-For is believed; comma-separated in the env.",
        "GATEWAY_TRUSTED_PROXIES",
        to=parse_networks,
    )
    log_level: str = key(
        "server.log_level",
        p.choice("DEBUG", "INFO", "WARNING", "ERROR"),
        "INFO",
        "Log level.",
        "GATEWAY_LOG_LEVEL",
    )
    workers: int = key(
        "server.workers",
        p.integer(1, 64),
        1,
        "Processes serving the port (SO_REUSEPORT); more than 1 needs Redis stores.",
        "GATEWAY_WORKERS",
    )
    event_loop: str = key(
        "server.event_loop",
        p.choice("uvloop", "asyncio"),
        "uvloop",
        "Event loop implementation.",
        "GATEWAY_EVENT_LOOP",
    )
    shutdown_grace: float = key(
        "server.shutdown_grace",
        p.seconds(0, 300),
        3.0,
        "After SIGTERM: seconds /readyz answers 503 while new connections are still served "
        "(for load balancers to notice), before the listener closes.",
        "GATEWAY_SHUTDOWN_GRACE",
    )
    drain_timeout: float = key(
        "server.drain_timeout",
        p.seconds(0, 3600),
        25.0,
        "After the listener closes: seconds in-flight requests may take to finish before "
        "they are cancelled and the process exits 0.",
        "GATEWAY_DRAIN_TIMEOUT",
    )
    header_timeout: float = key(
        "server.header_timeout",
        p.seconds(0.1, 300),
        10.0,
        "Seconds a connection has to send a request's complete headers (from its opening, "
        "or from the first byte of a later request on it); then it is closed.",
        "GATEWAY_HEADER_TIMEOUT",
    )
    body_timeout: float = key(
        "server.body_timeout",
        p.seconds(0.1, 3600),
        15.0,
        "Seconds a request's body may take to arrive once its headers have; then 408 "
        "body_timeout and the connection closes.",
        "GATEWAY_BODY_TIMEOUT",
    )
    keepalive_timeout: float = key(
        "server.keepalive_timeout",
        p.seconds(1, 3600),
        75.0,
        "Seconds an idle keep-alive connection (no byte of a next request) stays open; keep it "
        "above the load balancer's idle timeout.",
        "GATEWAY_KEEPALIVE_TIMEOUT",
    )
    max_connections: int = key(
        "server.max_connections",
        p.integer(1, 1_000_000),
        10000,
        "Open connections per process; a connection beyond it is served /healthz and /readyz "
        "only (others 503 overloaded) and closed after its answer.",
        "GATEWAY_MAX_CONNECTIONS",
    )
    pid_file: str = key(
        "server.pid_file",
        p.string,
        "",
        "Where `serve` writes its process id, for `loyalty-gateway reload` (SIGHUP); empty: "
        "loyalty-gateway-<port>.pid in the temporary directory ($TMPDIR or /tmp).",
        "GATEWAY_PID_FILE",
    )


@dataclass(frozen=True)
class PunchhTimeouts:
    """The route classes' timeouts as configured; 0 inherits (`resolve`)."""

    read_connect: float = key(
        "punchh.timeouts.read.connect",
        p.seconds(0, 60),
        0.0,
        "Connect timeout for read calls (GET requests and POS look-ups); "
        "0: punchh.connect_timeout.",
        "PUNCHH_TIMEOUT_READ_CONNECT",
    )
    read_first_byte: float = key(
        "punchh.timeouts.read.first_byte",
        p.seconds(0, 300),
        5.0,
        "Seconds from sending a read call to Punchh's status line, per attempt; 0: the "
        "class's total.",
        "PUNCHH_TIMEOUT_READ_FIRST_BYTE",
    )
    read_total: float = key(
        "punchh.timeouts.read.total",
        p.seconds(0, 300),
        8.0,
        "Deadline of a whole read call, retries and backoff included; 0: punchh.total_timeout.",
        "PUNCHH_TIMEOUT_READ_TOTAL",
    )
    write_connect: float = key(
        "punchh.timeouts.write.connect",
        p.seconds(0, 60),
        0.0,
        "Connect timeout for write calls (check-ins, redemptions, profile and basket changes); "
        "0: punchh.connect_timeout.",
        "PUNCHH_TIMEOUT_WRITE_CONNECT",
    )
    write_first_byte: float = key(
        "punchh.timeouts.write.first_byte",
        p.seconds(0, 300),
        6.0,
        "Seconds from sending a write call to Punchh's status line, per attempt; 0: the "
        "class's total.",
        "PUNCHH_TIMEOUT_WRITE_FIRST_BYTE",
    )
    write_total: float = key(
        "punchh.timeouts.write.total",
        p.seconds(0, 300),
        0.0,
        "Deadline of a whole write call, retries and backoff included; 0: punchh.total_timeout.",
        "PUNCHH_TIMEOUT_WRITE_TOTAL",
    )
    auth_connect: float = key(
        "punchh.timeouts.auth.connect",
        p.seconds(0, 60),
        0.0,
        "Connect timeout for auth calls (sign-ins, sign-ups, OTP sends, token refresh, "
        "sign-outs); "
        "0: punchh.connect_timeout.",
        "PUNCHH_TIMEOUT_AUTH_CONNECT",
    )
    auth_first_byte: float = key(
        "punchh.timeouts.auth.first_byte",
        p.seconds(0, 300),
        0.0,
        "Seconds from sending a auth call to Punchh's status line, per attempt; 0: the "
        "class's total.",
        "PUNCHH_TIMEOUT_AUTH_FIRST_BYTE",
    )
    auth_total: float = key(
        "punchh.timeouts.auth.total",
        p.seconds(0, 300),
        0.0,
        "Deadline of a whole auth call, retries and backoff included; 0: punchh.total_timeout.",
        "PUNCHH_TIMEOUT_AUTH_TOTAL",
    )

    def resolve(self, connect: float, total: float) -> dict[str, Timeouts]:
        """Each class's timeouts: its zeros inherit punchh.connect_timeout and
        punchh.total_timeout; neither the connect nor the first byte may take longer than
        the total."""
        out: dict[str, Timeouts] = {}
        for cls in ROUTE_CLASSES:
            own_total = getattr(self, f"{cls}_total") or total
            own_connect = min(getattr(self, f"{cls}_connect") or connect, own_total)
            first_byte = min(getattr(self, f"{cls}_first_byte") or own_total, own_total)
            out[cls] = Timeouts(connect=own_connect, first_byte=first_byte, total=own_total)
        return out


@dataclass(frozen=True)
class PunchhConfig:
    timeouts: PunchhTimeouts
    base_url: str = key(
        "punchh.base_url",
        p.base_url,
        "",
        "Punchh server, e.g. https://sandbox.punchh.com (no path: the gateway adds Punchh's).",
        "PUNCHH_BASE_URL",
    )
    allow_insecure_http: bool = key(
        "punchh.allow_insecure_http",
        p.boolean,
        False,
        "Allow a plain http:// punchh.base_url to a host that is not this machine (a "
        "sandbox on a private network); loopback needs no permission.",
        "PUNCHH_ALLOW_INSECURE_HTTP",
    )
    client_id: str = key(
        "punchh.client_id", p.string, "", "The business's client id (`client`).", "PUNCHH_CLIENT_ID"
    )
    client_secret: Secret = key(
        "punchh.client_secret",
        p.secret(1),
        "",
        "The business's client secret (signs requests).",
        "PUNCHH_CLIENT_SECRET",
        secret=True,
    )
    connect_timeout: float = key(
        "punchh.connect_timeout",
        p.seconds(0.05, 60),
        3.0,
        "Seconds to open a connection to Punchh (504 beyond), for the route classes whose "
        "punchh.timeouts.<class>.connect is 0.",
        "PUNCHH_CONNECT_TIMEOUT",
    )
    total_timeout: float = key(
        "punchh.total_timeout",
        p.seconds(0.1, 300),
        15.0,
        "Seconds for a whole Punchh call with its retries (504 beyond), for the route "
        "classes whose punchh.timeouts.<class>.total is 0.",
        "PUNCHH_TOTAL_TIMEOUT",
    )
    http_client: str = key(
        "punchh.http_client",
        p.choice("h1", "pyreqwest", "aiohttp"),
        "h1",
        "HTTP client for calls to Punchh: h1 (the gateway's own lean HTTP/1.1 client), "
        "pyreqwest or aiohttp (make bench compares them).",
        "PUNCHH_HTTP_CLIENT",
    )
    pool_size: int = key(
        "punchh.pool_size",
        p.integer(1, 10000),
        100,
        "Keep-alive connections to Punchh at most.",
        "PUNCHH_POOL_SIZE",
    )
    user_agent: str = key(
        "punchh.user_agent",
        p.user_agent,
        "LoyaltyGateway/OnlineOrder/0.1/Web",
        "User-Agent sent on guest routes, Punchh format "
        "BusinessIdentifier/IntegratorName/OnlineOrder/Version/SourceChannel.",
        "PUNCHH_USER_AGENT",
    )
    pos_user_agent: str = key(
        "punchh.pos_user_agent",
        p.user_agent,
        "LoyaltyGateway/POS/0.1",
        "User-Agent sent on POS routes, Punchh format IntegratorName/POS/Version.",
        "PUNCHH_POS_USER_AGENT",
    )
    digest_auth: DigestAlgorithm = key(
        "punchh.digest.auth", p.digest, "sha1", "x-pch-digest for /api/auth (Online Ordering)."
    )
    digest_oauth: DigestAlgorithm = key(
        "punchh.digest.oauth", p.digest, "sha1", "x-pch-digest for /oauth/token."
    )
    digest_mobile: DigestAlgorithm = key(
        "punchh.digest.mobile", p.digest, "sha256", "x-pch-digest for /api2/mobile."
    )
    digest_password_less: DigestAlgorithm = key(
        "punchh.digest.password_less",
        p.digest,
        "none",
        "x-pch-digest for /api2/password_less (Advanced Authentication).",
    )
    digest_pos: DigestAlgorithm = key(
        "punchh.digest.pos", p.digest, "none", "x-pch-digest for /api/pos."
    )

    @property
    def digest(self) -> Mapping[str, DigestAlgorithm]:
        """The request signature's algorithm by route family."""
        prefix = "digest_"
        return {
            f.name.removeprefix(prefix): getattr(self, f.name)
            for f in fields(self)
            if f.name.startswith(prefix)
        }


@dataclass(frozen=True)
class CookieConfig:
    enabled: bool = key(
        "session.cookie_mode",
        p.boolean,
        False,
        "Browser mode: the session token travels in an HttpOnly cookie, not in the body.",
        "GATEWAY_COOKIE_MODE",
    )
    name: str = key(
        "session.cookie_name", p.token_name, "lg_session", "Name of the session cookie."
    )
    samesite: str = key(
        "session.cookie_samesite",
        p.choice("Strict", "Lax", "None"),
        "Lax",
        "SameSite attribute of the session cookie.",
    )
    secure: bool = key(
        "session.cookie_secure",
        p.boolean,
        True,
        "Secure attribute of the session cookie (false only for plain-http development).",
        "GATEWAY_COOKIE_SECURE",
    )
    allowed_origins: tuple[str, ...] = key(
        "session.allowed_origins",
        p.origins,
        (),
        "Origins allowed to send unsafe requests and CORS preflights in cookie mode; "
        "comma-separated in the env.",
        "GATEWAY_ALLOWED_ORIGINS",
    )


@dataclass(frozen=True)
class SessionConfig:
    cookie: CookieConfig
    secret: Secret = key(
        "session.secret",
        p.secret(32),
        "",
        "Key that signs gateway session tokens (HS256); at least 32 characters.",
        "GATEWAY_SESSION_SECRET",
        secret=True,
    )
    previous_secrets: tuple[Secret, ...] = key(
        "session.previous_secrets",
        p.secret_list(32),
        (),
        "Earlier session secrets still accepted (not used to sign): rotate without logouts. "
        "Comma-separated in the env.",
        "GATEWAY_SESSION_PREVIOUS_SECRETS",
        secret=True,
    )
    ttl: int = key(
        "session.ttl",
        p.integer(60, 90 * 86400),
        86400,
        "Absolute lifetime of a gateway session, in seconds.",
        "GATEWAY_SESSION_TTL",
    )
    idle_timeout: int = key(
        "session.idle_timeout",
        p.integer(60, 90 * 86400),
        14400,
        "Seconds without a request after which a session ends.",
        "GATEWAY_SESSION_IDLE_TIMEOUT",
    )
    refresh_margin: int = key(
        "session.refresh_margin",
        p.integer(0, 86400),
        60,
        "Refresh Punchh's access token this many seconds before it expires.",
        "GATEWAY_REFRESH_MARGIN",
    )
    max_sessions: int = key(
        "session.max_sessions",
        p.integer(1, 10_000_000),
        100_000,
        "Sessions the memory store holds at most; when full, the least recently used go, "
        "never a guest's only session while a guest with more than one has some to give.",
    )
    max_per_user: int = key(
        "session.max_per_user",
        p.integer(1, 1000),
        10,
        "Sessions one guest holds at most (every store); a new sign-in beyond it ends that "
        "guest's oldest session.",
        "GATEWAY_SESSION_MAX_PER_USER",
    )


@dataclass(frozen=True)
class StoreConfig:
    url: Secret = key(
        "store.url",
        p.store_url,
        "memory://",
        "Where sessions live: memory:// (one process), redis://host:port/db (rediss:// "
        "for TLS), redis+sentinel://h1:26379,h2:26379/<service>/<db> (the master Sentinel "
        "names, followed through failovers) or redis+cluster://h1:7000,h2:7001/ (seed "
        "nodes of a Redis Cluster); rediss+sentinel:// and rediss+cluster:// over TLS.",
        "GATEWAY_STORE_URL",
        secret=True,
        to=Secret,
    )
    prefix: str = key(
        "store.prefix",
        p.string,
        "lg:",
        "Prefix of every key the gateway writes in Redis.",
        "GATEWAY_STORE_PREFIX",
    )
    timeout: float = key(
        "store.timeout",
        p.seconds(0.01, 10),
        0.5,
        "Seconds a Redis command may take before the store counts as unavailable.",
        "GATEWAY_STORE_TIMEOUT",
    )
    sentinel_password: Secret = key(
        "store.sentinel_password",
        p.string,
        "",
        "Password the Sentinels themselves require (their requirepass), if they do; the "
        "URL's password is the data nodes'. Empty: Sentinels are asked without one.",
        "GATEWAY_STORE_SENTINEL_PASSWORD",
        secret=True,
        to=Secret,
    )
    wait_replicas: int = key(
        "store.wait_replicas",
        p.integer(-1, 16),
        -1,
        "Replicas a session write (sign-in, refreshed tokens, logout) waits for (Redis "
        "WAIT) before the guest is answered, so a failover cannot lose it; -1: 1 with "
        "redis+sentinel:// and redis+cluster://, 0 with redis://. When fewer confirm in "
        "store.wait_timeout, the write stands and waits are skipped for 5 seconds.",
        "GATEWAY_STORE_WAIT_REPLICAS",
    )
    wait_timeout: float = key(
        "store.wait_timeout",
        p.seconds(0.001, 5),
        0.1,
        "Seconds a session write waits for its replicas at most (store.wait_replicas); "
        "less than store.timeout.",
        "GATEWAY_STORE_WAIT_TIMEOUT",
    )
    encryption_key: Secret = key(
        "store.encryption_key",
        p.secret(32),
        "",
        "Encrypts Punchh tokens at rest in Redis (AES-256-GCM); 32+ characters, required with "
        "redis.",
        "GATEWAY_STORE_KEY",
        secret=True,
    )

    @property
    def backend(self) -> str:
        return "memory" if self.url.reveal() == "memory://" else "redis"

    @property
    def replicas_to_wait(self) -> int:
        """store.wait_replicas with -1 resolved by the URL's kind."""
        return redis_urls.replicas_to_wait(self.wait_replicas, self.url.reveal())


@dataclass(frozen=True)
class CacheConfig:
    enabled: bool = key(
        "cache.enabled",
        p.boolean,
        True,
        "Cache guest look-ups and balances (per-route TTLs in the route table).",
        "GATEWAY_CACHE_ENABLED",
    )
    url: Secret = key(
        "cache.url",
        p.cache_url,
        "",
        "Where cached answers live: empty follows store.url; memory:// or a Redis URL "
        "(as store.url).",
        "GATEWAY_CACHE_URL",
        secret=True,
        to=Secret,
    )
    max_entries: int = key(
        "cache.max_entries",
        p.integer(1, 10_000_000),
        10_000,
        "Answers the memory cache holds at most.",
    )
    max_bytes: int = key(
        "cache.max_bytes",
        p.integer(1024, 4 * 1024**3),
        32 * 1024 * 1024,
        "Bytes of answers the memory cache holds at most.",
    )
    ttls: Mapping[str, int] = key(
        "cache.ttls",
        p.cache_ttls,
        {},
        "Seconds a route's answers are cached, over the route table's own TTL: a table of "
        '"METHOD /path" = seconds; 0 stops caching that route. Cached routes only.',
    )


@dataclass(frozen=True)
class RateLimitConfig:
    policies: tuple[Policy, ...]  # rate_limit.policies, a table (ratelimit/policies.py)
    enabled: bool = key(
        "rate_limit.enabled",
        p.boolean,
        True,
        "Rate limits and abuse protection (policies under [rate_limit.policies.<name>]).",
        "GATEWAY_RATE_LIMIT_ENABLED",
    )
    url: Secret = key(
        "rate_limit.url",
        p.cache_url,
        "",
        "Where rate-limit state lives: empty follows store.url; memory:// or a Redis URL "
        "(as store.url).",
        "GATEWAY_RATE_LIMIT_URL",
        secret=True,
        to=Secret,
    )
    max_concurrent_upstream: int = key(
        "rate_limit.max_concurrent_upstream",
        p.integer(1, 100_000),
        128,
        "Calls to Punchh in flight at most, per process; beyond them a short queue, then 503.",
        "GATEWAY_MAX_CONCURRENT_UPSTREAM",
    )
    queue: int = key(
        "rate_limit.queue",
        p.integer(0, 100_000),
        64,
        "Requests that may wait for a free upstream slot.",
    )
    queue_timeout: float = key(
        "rate_limit.queue_timeout",
        p.seconds(0.0, 60),
        1.0,
        "Seconds a request waits for a free upstream slot before 503 upstream_overloaded.",
    )


@dataclass(frozen=True)
class AdminConfig:
    host: str = key(
        "admin.host",
        p.string,
        "127.0.0.1",
        "Address of the admin listener (/metrics, /gateway/status) when admin.port is set.",
        "GATEWAY_ADMIN_HOST",
    )
    port: int = key(
        "admin.port",
        p.integer(0, 65535),
        0,
        "A separate port for /metrics and the status page (0: on the main port).",
        "GATEWAY_ADMIN_PORT",
    )
    token: Secret = key(
        "admin.token",
        p.secret(24),
        "",
        "Bearer token for /metrics and /gateway/status on the main port (24+ characters). "
        "Without it they are not served on the main port (403 admin_only): only on the "
        "admin port, when admin.port is set.",
        "GATEWAY_ADMIN_TOKEN",
        secret=True,
    )


@dataclass(frozen=True)
class PosDevice:
    name: str
    key: Secret
    location_key: Secret


@dataclass(frozen=True)
class PosConfig:
    enabled: bool = key(
        "pos.enabled",
        p.boolean,
        False,
        "Serve the /api/pos routes to configured devices (off: they answer 404).",
        "GATEWAY_POS_ENABLED",
    )
    business_key: Secret = key(
        "pos.business_key",
        p.secret(1),
        "",
        "Punchh business key (btoken) for POS routes.",
        "PUNCHH_BUSINESS_KEY",
        secret=True,
    )
    devices: tuple[PosDevice, ...] = ()  # pos.devices, a table (read by the loader)


@dataclass(frozen=True)
class SandboxSettings:
    enabled: bool = key(
        "sandbox.enabled",
        p.boolean,
        False,
        "Start the built-in Punchh sandbox in-process and use it as the upstream.",
        "GATEWAY_SANDBOX",
    )
    host: str = key(
        "sandbox.host", p.string, "127.0.0.1", "Address of the embedded sandbox (loopback only)."
    )
    port: int = key(
        "sandbox.port",
        p.integer(0, 65535),
        0,
        "Port of the embedded sandbox (0: any free port).",
        "GATEWAY_SANDBOX_PORT",
    )


@dataclass(frozen=True)
class ResilienceConfig:
    retry: RetrySettings
    circuit: CircuitSettings
    idempotency_url: Secret = key(
        "idempotency.url",
        p.cache_url,
        "",
        "Where Idempotency-Key records live: empty follows store.url; memory:// (per "
        "process) or a Redis URL as store.url (shared by replicas).",
        "GATEWAY_IDEMPOTENCY_URL",
        secret=True,
        to=Secret,
    )
    idempotency_ttl: int = key(
        "idempotency.ttl",
        p.integer(0, 7 * 86400),
        3600,
        "Seconds a write's answer is kept for replays of its Idempotency-Key (0: only "
        "while the first request is in flight).",
        "GATEWAY_IDEMPOTENCY_TTL",
    )
    idempotency_max_entries: int = key(
        "idempotency.max_entries",
        p.integer(1, 10_000_000),
        10000,
        "Idempotency keys remembered at most, per process (oldest dropped first).",
        "GATEWAY_IDEMPOTENCY_MAX_ENTRIES",
    )
    # By route class (read, write, auth): punchh.timeouts resolved (PunchhTimeouts).
    timeouts: Mapping[str, Timeouts] = field(default_factory=dict)


@dataclass(frozen=True)
class GatewayConfig:
    server: ServerConfig
    punchh: PunchhConfig
    session: SessionConfig
    store: StoreConfig
    cache: CacheConfig
    rate_limit: RateLimitConfig
    admin: AdminConfig
    pos: PosConfig
    sandbox: SandboxSettings
    resilience: ResilienceConfig
    source: str = field(default="<defaults>", compare=False)
    # Every business served, `default` (the top-level punchh.* and pos.*) first when there
    # is one; each holds its own effective configuration (gateway/config.py, Business).
    businesses: tuple[Business, ...] = field(default=(), compare=False, repr=False)
    # What check-config prints and serve logs, but accepts: a setting ignored, a variable
    # the gateway does not read (gateway/config_checks.py).
    warnings: tuple[str, ...] = field(default=(), compare=False, repr=False)

    @property
    def business(self) -> Business:
        """The first business: `default` when there is one (what a single-business
        configuration serves)."""
        return self.businesses[0]


DEFAULT_BUSINESS = "default"


@dataclass(frozen=True)
class Business:
    """One Punchh business served by this gateway: its name (metrics, logs, the session
    token's claim, the `X-Loyalty-Business` header), the hosts it answers on, and its
    effective configuration: the top level's, with its own punchh.*, pos.* and the
    session.*, cache.* and rate_limit.* it overrides, and its own key prefix in Redis."""

    name: str
    hosts: tuple[str, ...]
    config: GatewayConfig = field(repr=False)


SETTINGS: tuple[Setting, ...] = settings_of(GatewayConfig)  # every key, in field order
SETTINGS_BY_KEY: Mapping[str, Setting] = {s.key: s for s in SETTINGS}


def file_variables() -> set[str]:
    """Every `<VARIABLE>_FILE` a secret setting may be read from (gateway/secret_files.py);
    a business's are `PUNCHH_CLIENT_SECRET__<NAME>_FILE` and
    `PUNCHH_BUSINESS_KEY__<NAME>_FILE`."""
    return {s.env + FILE_SUFFIX for s in SETTINGS if s.secret and s.env}


# What a [[businesses]] table may set: its own Punchh business and POS, and overrides of
# the session, cache and rate-limit settings; not what the process shares (the stores'
# URLs, the session signing keys, the upstream concurrency cap).
BUSINESS_SECTIONS = ("punchh.", "pos.", "session.", "cache.", "rate_limit.")
NOT_PER_BUSINESS = frozenset(
    {
        "cache.url",
        "rate_limit.url",
        "rate_limit.max_concurrent_upstream",
        "rate_limit.queue",
        "rate_limit.queue_timeout",
        "session.secret",
        "session.previous_secrets",
    }
)
BUSINESS_SETTINGS: Mapping[str, Setting] = {
    s.key: s
    for s in SETTINGS
    if s.key.startswith(BUSINESS_SECTIONS) and s.key not in NOT_PER_BUSINESS
}
# A business's own: never inherited from the top level (another business's credentials,
# or the origins of another brand's frontends, which could then read this brand's guests).
OWN_KEYS = (
    "punchh.client_id",
    "punchh.client_secret",
    "pos.enabled",
    "pos.business_key",
    "session.allowed_origins",
)
BUSINESS_NAME = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*\Z")
BUSINESS_SECRET_ENV = {
    "punchh.client_secret": "PUNCHH_CLIENT_SECRET__",
    "pos.business_key": "PUNCHH_BUSINESS_KEY__",
}


def known_variables(businesses: Sequence[str] = ()) -> set[str]:
    """Every GATEWAY_* and PUNCHH_* variable the gateway reads: the settings', their
    `_FILE` variants, the named businesses' secrets, and those read outside the settings
    (gateway/described.py EXTRA_ENV: GATEWAY_CONFIG...)."""
    known = {s.env for s in SETTINGS if s.env} | file_variables()
    known |= {name for name in EXTRA_ENV if not name.endswith("__")}
    for name in businesses:
        for prefix in BUSINESS_SECRET_ENV.values():
            known |= {prefix + env_suffix(name), prefix + env_suffix(name) + FILE_SUFFIX}
    return known


def env_suffix(name: str) -> str:
    """A business name in environment variable names: upper-cased, '-' as '_'."""
    return name.upper().replace("-", "_")


def key_prefix(prefix: str, business: str) -> str:
    """A business's Redis key prefix: store.prefix for `default` (today's keys), else
    store.prefix + '@<name>:' ('@' starts none of the default business's keys)."""
    return prefix if business == DEFAULT_BUSINESS else f"{prefix}@{business}:"


def _flatten(doc: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for part, value in doc.items():
        name = f"{prefix}{part}"
        if isinstance(value, dict) and name not in TABLE_KEYS and name not in TABLE_VALUED:
            flat.update(_flatten(value, name + "."))
        else:
            flat[name] = value
    return flat


_USERINFO = re.compile(r"(://)[^/@\s]*@")


def _shown(setting: Setting, raw: Any) -> str:
    """A value in a problem's line: a secret masked; a URL's user and password too."""
    if setting.secret:
        return mask(raw)
    return _USERINFO.sub(r"\1***@", repr(raw)) if isinstance(raw, str) else repr(raw)


def _read_settings(
    flat: dict[str, Any], env: Mapping[str, str], problems: list[str]
) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for setting in SETTINGS:
        raw, from_env, where = setting.default, False, setting.key
        if setting.key in flat:
            raw = flat.pop(setting.key)
        text = (
            from_file(env, setting.env, problems, setting.key)
            if setting.secret and setting.env
            else None
        )
        if text is not None:
            raw, from_env = text, True
            where = f"{setting.key} ({setting.env}{FILE_SUFFIX})"
            if setting.key == "session.previous_secrets":  # one a line, commas and all
                raw, from_env = [line for line in text.splitlines() if line.strip()], False
        elif setting.env and setting.env in env:
            raw, from_env, where = env[setting.env], True, f"{setting.key} ({setting.env})"
        try:
            values[setting.key] = setting.parse(raw, from_env)
        except ValueError as exc:
            for problem in getattr(exc, "problems", None) or [str(exc)]:
                problems.append(f"{where} = {_shown(setting, raw)}: {problem}")
            values[setting.key] = setting.parse(setting.default, False)
    return values


def _read_devices(
    raw: Any, problems: list[str], table: str = "pos.devices"
) -> tuple[PosDevice, ...]:
    if not isinstance(raw, list):
        problems.append(f"{table} = {type(raw).__name__}: expected an array of tables")
        return ()
    devices: list[PosDevice] = []
    for i, entry in enumerate(raw):
        where = f"{table}[{i}]"
        if not isinstance(entry, dict) or set(entry) - {"name", "key", "location_key"}:
            problems.append(f"{where}: expected a table with name, key and location_key only")
            continue
        name, key, loc = entry.get("name"), entry.get("key"), entry.get("location_key")
        if not isinstance(name, str) or not name:
            problems.append(f"{where}.name = {name!r}: expected a non-empty string")
        if not isinstance(key, str) or len(key) < 16:
            problems.append(f"{where}.key = {mask(key)}: expected a string of 16+ characters")
        if not isinstance(loc, str) or not loc:
            problems.append(f"{where}.location_key = {mask(loc)}: expected a non-empty string")
        if isinstance(name, str) and isinstance(key, str) and isinstance(loc, str):
            devices.append(PosDevice(name, Secret(key), Secret(loc)))
    if len({d.key for d in devices}) != len(devices):
        problems.append(f"{table}: two devices share one key: expected distinct keys")
    return tuple(devices)


@dataclass
class _Declared:
    """A [[businesses]] table as read: its values (the top level's where it sets none)."""

    name: str
    hosts: tuple[str, ...]
    values: dict[str, Any]
    devices: tuple[PosDevice, ...]
    overrides: dict[str, dict[str, Any]]


def _read_hosts(raw: Any, where: str, problems: list[str]) -> tuple[str, ...]:
    if not isinstance(raw, list):
        problems.append(f"{where}hosts = {raw!r}: expected an array of host names")
        return ()
    hosts: list[str] = []
    for i, entry in enumerate(raw):
        try:
            pattern = parse_host_pattern(entry)
        except ValueError as exc:
            problems.append(f"{where}hosts[{i}] = {entry!r}: {exc}")
            continue
        if pattern not in hosts:
            hosts.append(pattern)
    return tuple(hosts)


def _read_business(
    i: int,
    table: Any,
    values: Mapping[str, Any],
    overrides: Mapping[str, Mapping[str, Any]],
    env: Mapping[str, str],
    problems: list[str],
) -> _Declared | None:
    if not isinstance(table, dict):
        problems.append(f"businesses[{i}]: expected a table ([[businesses]])")
        return None
    name = table.get("name")
    named = isinstance(name, str) and len(name) <= 32 and BUSINESS_NAME.match(name) is not None
    where = f"businesses.{name}." if named else f"businesses[{i}]."
    if not named:
        problems.append(
            f"businesses[{i}].name = {name!r}: expected a short slug (a-z, 0-9 and '-', "
            "32 characters at most): it names the business in metrics and logs"
        )
    hosts = _read_hosts(table.get("hosts", []), where, problems)
    flat = _flatten({k: v for k, v in table.items() if k not in ("name", "hosts")})
    own = dict(values)
    for own_key in OWN_KEYS:  # never another business's: the top level's are the default's
        setting = SETTINGS_BY_KEY[own_key]
        own[own_key] = setting.parse(setting.default, False)
    devices = _read_devices(flat.pop("pos.devices", []), problems, f"{where}pos.devices")
    own_overrides, policy_problems = check_overrides(flat.pop("rate_limit.policies", {}))
    problems.extend(where + line for line in policy_problems)
    for setting_key, raw in flat.items():
        found = BUSINESS_SETTINGS.get(setting_key)
        if found is None:
            problems.append(
                f"{where}{setting_key}: unknown key (a business sets name, hosts, punchh.*, "
                "pos.*, and session.*, cache.* and rate_limit.* overrides; not the stores' "
                "URLs, the session secrets or the upstream concurrency cap)"
            )
            continue
        _parse_into(own, found, raw, False, f"{where}{setting_key}", problems)
    if named:
        assert isinstance(name, str)
        for secret_key, variable in BUSINESS_SECRET_ENV.items():
            variable += env_suffix(name)
            setting = SETTINGS_BY_KEY[secret_key]
            text = from_file(env, variable, problems, f"{where}{secret_key}")
            if text is not None:
                shown = f"{where}{secret_key} ({variable}{FILE_SUFFIX})"
                _parse_into(own, setting, text, True, shown, problems)
            elif variable in env:
                shown = f"{where}{secret_key} ({variable})"
                _parse_into(own, setting, env[variable], True, shown, problems)
    names = {*overrides, *own_overrides}
    merged = {n: {**overrides.get(n, {}), **own_overrides.get(n, {})} for n in names}
    return _Declared(
        name if isinstance(name, str) and named else f"#{i}", hosts, own, devices, merged
    )


def _parse_into(
    values: dict[str, Any],
    setting: Setting,
    raw: Any,
    from_env: bool,
    where: str,
    problems: list[str],
) -> None:
    try:
        values[setting.key] = setting.parse(raw, from_env)
    except ValueError as exc:
        for problem in getattr(exc, "problems", None) or [str(exc)]:
            problems.append(f"{where} = {_shown(setting, raw)}: {problem}")


def _business_problems(
    declared: list[_Declared],
    default: Mapping[str, Any] | None,
    devices: tuple[PosDevice, ...],
    problems: list[str],
    warnings: list[str],
) -> None:
    """Names used twice, hosts two businesses claim, one Punchh client twice, and each
    business's own checks. `default`: the top level's values, when it is a business."""
    seen = {DEFAULT_BUSINESS} if default is not None else set()
    clients: dict[tuple[str, str], str] = {}
    if default is not None and default["punchh.client_id"]:
        clients[(default["punchh.base_url"], default["punchh.client_id"])] = DEFAULT_BUSINESS
    keys = {d.key.reveal(): DEFAULT_BUSINESS for d in devices} if default is not None else {}
    for d in declared:
        if d.name in seen:
            problems.append(
                f"businesses.{d.name}.name = {d.name!r}: another business has this name"
                + (
                    " (the top-level punchh.* settings are the business 'default')"
                    if d.name == DEFAULT_BUSINESS
                    else ""
                )
            )
        seen.add(d.name)
        client = (d.values["punchh.base_url"], d.values["punchh.client_id"])
        if client[1] and client in clients:
            problems.append(
                f"businesses.{d.name}.punchh.client_id = {client[1]!r}: business "
                f"{clients[client]!r} has this client on the same Punchh server (one Punchh "
                "business is one business here: give it both hosts)"
            )
        clients.setdefault(client, d.name)
        for device in d.devices:  # a till of one brand is never another's: keys are its own
            other = keys.setdefault(device.key.reveal(), d.name)
            if other != d.name:
                problems.append(
                    f"businesses.{d.name}.pos.devices: device {device.name!r} has the key of "
                    f"a device of business {other!r}: expected every device key to be its own"
                )
        business_checks(
            d.values,
            d.devices,
            problems,
            prefix=f"businesses.{d.name}.",
            env={k: v + env_suffix(d.name) for k, v in BUSINESS_SECRET_ENV.items()},
            warnings=warnings,
        )
    for i, a in enumerate(declared):
        for b in declared[i + 1 :]:
            for x in a.hosts:
                for y in b.hosts:
                    if overlaps(x, y):
                        problems.append(
                            f"businesses.{b.name}.hosts: {y!r} overlaps {x!r} of business "
                            f"{a.name!r}: expected every host to belong to one business"
                        )


_INVENTED: dict[tuple[str, str], str] = {}  # (business, what) → made up for the sandbox


def _invented(business: str, what: str, prefix: str = "") -> str:
    """A credential made up for the embedded sandbox, the same for every load in this
    process."""
    made = _INVENTED.get((business, what))
    if made is None:
        made = _INVENTED[(business, what)] = (
            prefix + secrets.token_hex(4) if prefix else secrets.token_urlsafe(32)
        )
    return made


def load_config(path: str | None, env: Mapping[str, str]) -> GatewayConfig:
    problems: list[str] = []
    doc: dict[str, Any] = {}
    if path:
        try:
            with open(path, "rb") as fh:
                doc = tomllib.load(fh)
        except OSError as exc:
            raise ConfigError([f"GATEWAY_CONFIG = {path!r}: cannot read: {exc.strerror}"]) from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError([f"GATEWAY_CONFIG = {path!r}: not valid TOML: {exc}"]) from None
    flat = _flatten(doc)
    raw_businesses = flat.pop("businesses", [])
    values = _read_settings(flat, env, problems)
    devices = _read_devices(flat.pop("pos.devices", []), problems)
    overrides, policy_problems = check_overrides(flat.pop("rate_limit.policies", {}))
    problems.extend(policy_problems)
    problems.extend(f"{key}: unknown key" for key in sorted(flat))
    declared: list[_Declared] = []
    if not isinstance(raw_businesses, list):
        problems.append("businesses: expected an array of tables ([[businesses]])")
    else:
        for i, table in enumerate(raw_businesses):
            found = _read_business(i, table, values, overrides, env, problems)
            if found is not None:
                declared.append(found)
    # Without [[businesses]] the top level is the one business; with them, only if it
    # names a client (or the embedded sandbox stands in for Punchh with no business).
    has_default = not raw_businesses or bool(values["punchh.client_id"])
    warnings: list[str] = []
    cross_checks(values, devices, problems, default=has_default, warnings=warnings)
    _business_problems(declared, values if has_default else None, devices, problems, warnings)
    if problems:
        raise ConfigError(problems)
    known = known_variables([d.name for d in declared])
    warnings += unknown_variables(env, known, tuple(BUSINESS_SECRET_ENV.values()))
    source = path or "<defaults>"
    top = _build(values, devices, merge(overrides), source, DEFAULT_BUSINESS)
    businesses = [Business(DEFAULT_BUSINESS, (), top)] if has_default else []
    for d in declared:
        cfg = _build(d.values, d.devices, merge(d.overrides), source, d.name)
        businesses.append(Business(d.name, d.hosts, cfg))
    return replace(top, businesses=tuple(businesses), warnings=tuple(warnings))


def _build(
    v: dict[str, Any],
    devices: tuple[PosDevice, ...],
    policies: tuple[Policy, ...],
    source: str,
    business: str,
) -> GatewayConfig:
    given: dict[str, Any] = {
        "RateLimitConfig.policies": policies,
        "PosConfig.devices": devices,
        "GatewayConfig.source": source,
        "GatewayConfig.businesses": (),
        "GatewayConfig.warnings": (),
    }
    cfg: GatewayConfig = build(GatewayConfig, v, given)
    punchh, pos = cfg.punchh, cfg.pos
    if cfg.sandbox.enabled:
        # The embedded sandbox takes whatever credentials the gateway has; make some up if
        # none, once per process: a live reload loads the same ones.
        punchh = replace(
            punchh,
            client_id=punchh.client_id or _invented(business, "client_id", "sandbox-client-"),
            client_secret=punchh.client_secret or Secret(_invented(business, "client_secret")),
        )
        pos = replace(pos, business_key=pos.business_key or Secret(_invented(business, "pos")))
    timeouts = punchh.timeouts.resolve(punchh.connect_timeout, punchh.total_timeout)
    return replace(
        cfg,
        punchh=punchh,
        pos=pos,
        store=replace(cfg.store, prefix=key_prefix(cfg.store.prefix, business)),
        resilience=replace(cfg.resilience, timeouts=timeouts),
    )
