"""Configuration: frozen data, loaded once at the edge from TOML plus environment overrides.

`load_config(path, env)` reads the file named by GATEWAY_CONFIG (optional), applies the
environment overrides listed in settings.py, and checks everything at once: a
`ConfigError` carries one line per problem naming the key, the value (secrets masked)
and what was expected.
"""

from __future__ import annotations

import secrets
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from gateway.client_ip import IPNetwork, parse_networks
from gateway.config_checks import cross_checks
from gateway.ratelimit.policies import Policy, check_overrides, merge
from gateway.resilience.breaker import CircuitSettings
from gateway.resilience.policy import ROUTE_CLASSES, Timeouts
from gateway.resilience.retry import RetrySettings
from gateway.secret import Secret, mask
from gateway.settings import SETTINGS, TABLE_KEYS, Setting
from gateway.signing import DigestAlgorithm


class ConfigError(Exception):
    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


@dataclass(frozen=True)
class ServerConfig:
    host: str
    port: int
    max_body_bytes: int
    trusted_proxies: tuple[IPNetwork, ...]
    log_level: str
    workers: int = 1
    event_loop: str = "uvloop"
    shutdown_grace: float = 3.0
    drain_timeout: float = 25.0


@dataclass(frozen=True)
class PunchhConfig:
    base_url: str
    client_id: str
    client_secret: Secret
    connect_timeout: float
    total_timeout: float
    pool_size: int
    user_agent: str
    pos_user_agent: str
    digest: Mapping[str, DigestAlgorithm]
    http_client: str = "h1"


@dataclass(frozen=True)
class CookieConfig:
    enabled: bool
    name: str
    samesite: str
    secure: bool
    allowed_origins: tuple[str, ...]


@dataclass(frozen=True)
class SessionConfig:
    secret: Secret
    ttl: int  # absolute lifetime
    max_sessions: int
    idle_timeout: int = 14400
    refresh_margin: int = 60
    previous_secrets: tuple[Secret, ...] = ()
    cookie: CookieConfig = field(
        default_factory=lambda: CookieConfig(False, "lg_session", "Lax", True, ())
    )


@dataclass(frozen=True)
class StoreConfig:
    url: Secret  # may carry a Redis password
    prefix: str
    timeout: float
    encryption_key: Secret

    @property
    def backend(self) -> str:
        return "memory" if self.url.reveal() == "memory://" else "redis"


@dataclass(frozen=True)
class CacheConfig:
    enabled: bool
    url: Secret  # empty: follow store.url
    max_entries: int
    max_bytes: int


@dataclass(frozen=True)
class RateLimitConfig:
    enabled: bool
    url: Secret  # empty: follow store.url
    max_concurrent_upstream: int
    queue: int
    queue_timeout: float
    policies: tuple[Policy, ...]


@dataclass(frozen=True)
class AdminConfig:
    host: str
    port: int  # 0: /metrics and the status page on the main port
    token: Secret


@dataclass(frozen=True)
class PosDevice:
    name: str
    key: Secret
    location_key: Secret


@dataclass(frozen=True)
class PosConfig:
    enabled: bool
    business_key: Secret
    devices: tuple[PosDevice, ...] = ()


@dataclass(frozen=True)
class SandboxSettings:
    enabled: bool
    host: str
    port: int


@dataclass(frozen=True)
class ResilienceConfig:
    timeouts: Mapping[str, Timeouts]  # by route class: read, write, auth
    retry: RetrySettings
    circuit: CircuitSettings
    idempotency_ttl: int
    idempotency_max_entries: int
    idempotency_url: Secret = field(default_factory=lambda: Secret(""))  # empty: store.url


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


def _flatten(doc: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in doc.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict) and name not in TABLE_KEYS:
            flat.update(_flatten(value, name + "."))
        else:
            flat[name] = value
    return flat


def _shown(setting: Setting, raw: Any) -> str:
    return mask(raw) if setting.secret else repr(raw)


def _read_settings(
    flat: dict[str, Any], env: Mapping[str, str], problems: list[str]
) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for setting in SETTINGS:
        raw, from_env, where = setting.default, False, setting.key
        if setting.key in flat:
            raw = flat.pop(setting.key)
        if setting.env and setting.env in env:
            raw, from_env, where = env[setting.env], True, f"{setting.key} ({setting.env})"
        try:
            values[setting.key] = setting.parse(raw, from_env)
        except ValueError as exc:
            problems.append(f"{where} = {_shown(setting, raw)}: {exc}")
            values[setting.key] = setting.parse(setting.default, False)
    return values


def _read_devices(raw: Any, problems: list[str]) -> tuple[PosDevice, ...]:
    if not isinstance(raw, list):
        problems.append(f"pos.devices = {type(raw).__name__}: expected an array of tables")
        return ()
    devices: list[PosDevice] = []
    for i, entry in enumerate(raw):
        where = f"pos.devices[{i}]"
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
        problems.append("pos.devices: two devices share one key: expected distinct keys")
    return tuple(devices)


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
    values = _read_settings(flat, env, problems)
    devices = _read_devices(flat.pop("pos.devices", []), problems)
    overrides, policy_problems = check_overrides(flat.pop("rate_limit.policies", {}))
    problems.extend(policy_problems)
    problems.extend(f"{key}: unknown key" for key in sorted(flat))
    cross_checks(values, devices, problems)
    if problems:
        raise ConfigError(problems)
    return _build(values, devices, merge(overrides), path or "<defaults>")


def _build(
    v: dict[str, Any], devices: tuple[PosDevice, ...], policies: tuple[Policy, ...], source: str
) -> GatewayConfig:
    client_id, client_secret, business_key = (
        v["punchh.client_id"],
        v["punchh.client_secret"],
        v["pos.business_key"],
    )
    if v["sandbox.enabled"]:
        # The embedded sandbox takes whatever credentials the gateway has; make some up if none.
        client_id = client_id or "sandbox-client-" + secrets.token_hex(4)
        client_secret = client_secret or Secret(secrets.token_urlsafe(32))
        business_key = business_key or Secret(secrets.token_urlsafe(16))
    return GatewayConfig(
        server=ServerConfig(
            host=v["server.host"],
            port=v["server.port"],
            max_body_bytes=v["server.max_body_bytes"],
            trusted_proxies=parse_networks(v["server.trusted_proxies"]),
            log_level=v["server.log_level"],
            workers=v["server.workers"],
            event_loop=v["server.event_loop"],
            shutdown_grace=v["server.shutdown_grace"],
            drain_timeout=v["server.drain_timeout"],
        ),
        punchh=PunchhConfig(
            base_url=v["punchh.base_url"],
            client_id=client_id,
            client_secret=client_secret,
            connect_timeout=v["punchh.connect_timeout"],
            total_timeout=v["punchh.total_timeout"],
            pool_size=v["punchh.pool_size"],
            http_client=v["punchh.http_client"],
            user_agent=v["punchh.user_agent"],
            pos_user_agent=v["punchh.pos_user_agent"],
            digest={
                family: v[f"punchh.digest.{family}"]
                for family in ("auth", "oauth", "mobile", "password_less", "pos")
            },
        ),
        session=SessionConfig(
            secret=v["session.secret"],
            ttl=v["session.ttl"],
            max_sessions=v["session.max_sessions"],
            idle_timeout=v["session.idle_timeout"],
            refresh_margin=v["session.refresh_margin"],
            previous_secrets=v["session.previous_secrets"],
            cookie=CookieConfig(
                enabled=v["session.cookie_mode"],
                name=v["session.cookie_name"],
                samesite=v["session.cookie_samesite"],
                secure=v["session.cookie_secure"],
                allowed_origins=v["session.allowed_origins"],
            ),
        ),
        store=StoreConfig(
            url=Secret(v["store.url"]),
            prefix=v["store.prefix"],
            timeout=v["store.timeout"],
            encryption_key=v["store.encryption_key"],
        ),
        cache=CacheConfig(
            enabled=v["cache.enabled"],
            url=Secret(v["cache.url"]),
            max_entries=v["cache.max_entries"],
            max_bytes=v["cache.max_bytes"],
        ),
        rate_limit=RateLimitConfig(
            enabled=v["rate_limit.enabled"],
            url=Secret(v["rate_limit.url"]),
            max_concurrent_upstream=v["rate_limit.max_concurrent_upstream"],
            queue=v["rate_limit.queue"],
            queue_timeout=v["rate_limit.queue_timeout"],
            policies=policies,
        ),
        admin=AdminConfig(host=v["admin.host"], port=v["admin.port"], token=v["admin.token"]),
        pos=PosConfig(enabled=v["pos.enabled"], business_key=business_key, devices=devices),
        sandbox=SandboxSettings(
            enabled=v["sandbox.enabled"], host=v["sandbox.host"], port=v["sandbox.port"]
        ),
        resilience=_resilience(v),
        source=source,
    )


def _timeouts(v: dict[str, Any], cls: str) -> Timeouts:
    """A class's timeouts; its zeros inherit punchh.connect_timeout / punchh.total_timeout;
    neither the connect nor the first byte may take longer than the total."""
    key = f"punchh.timeouts.{cls}"
    total = v[f"{key}.total"] or v["punchh.total_timeout"]
    connect = min(v[f"{key}.connect"] or v["punchh.connect_timeout"], total)
    first_byte = min(v[f"{key}.first_byte"] or total, total)
    return Timeouts(connect=connect, first_byte=first_byte, total=total)


def _resilience(v: dict[str, Any]) -> ResilienceConfig:
    return ResilienceConfig(
        timeouts={cls: _timeouts(v, cls) for cls in ROUTE_CLASSES},
        retry=RetrySettings(
            max_attempts=v["retry.max_attempts"],
            backoff_base=v["retry.backoff_base"],
            backoff_max=v["retry.backoff_max"],
            budget_ratio=v["retry.budget_ratio"],
            budget_min_per_second=v["retry.budget_min_per_second"],
        ),
        circuit=CircuitSettings(
            enabled=v["circuit.enabled"],
            failure_ratio=v["circuit.failure_ratio"],
            min_calls=v["circuit.min_calls"],
            window=v["circuit.window"],
            consecutive=v["circuit.consecutive_failures"],
            open_seconds=v["circuit.open_seconds"],
        ),
        idempotency_ttl=v["idempotency.ttl"],
        idempotency_max_entries=v["idempotency.max_entries"],
        idempotency_url=Secret(v["idempotency.url"]),
    )
