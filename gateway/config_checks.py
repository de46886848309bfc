"""The configuration checks that look at several keys at once (a key that another needs,
two values that must agree). Each problem is one line naming the key, the value
(secrets masked) and what was expected."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from gateway.store import urls as redis_urls

_TOP_ENV = {
    "punchh.base_url": "PUNCHH_BASE_URL",
    "punchh.client_id": "PUNCHH_CLIENT_ID",
    "punchh.client_secret": "PUNCHH_CLIENT_SECRET",
    "pos.business_key": "PUNCHH_BUSINESS_KEY",
    "session.allowed_origins": "GATEWAY_ALLOWED_ORIGINS",
}


def business_checks(
    v: dict[str, Any],
    devices: Sequence[object],
    problems: list[str],
    *,
    prefix: str = "",
    env: Mapping[str, str] = _TOP_ENV,
) -> None:
    """The checks of one business's keys (the top-level ones for the `default` business);
    `prefix` names a `[[businesses]]` table in the problem lines, `env` the variables
    that set its keys."""
    reported = {p.split(" ", 1)[0] for p in problems}  # a bad value is reported once, not twice

    def where(key: str) -> str:
        return f"{prefix}{key} ({env[key]})" if key in env else f"{prefix}{key}"

    if not v["sandbox.enabled"]:
        for key in ("punchh.base_url", "punchh.client_id", "punchh.client_secret"):
            if not v[key] and f"{prefix}{key}" not in reported:
                problems.append(f"{where(key)} = <empty>: required unless sandbox.enabled is true")
    if v["pos.enabled"]:
        if not v["pos.business_key"] and not v["sandbox.enabled"]:
            problems.append(f"{where('pos.business_key')} = <empty>: required when pos.enabled")
        if not devices:
            problems.append(f"{prefix}pos.devices = []: pos.enabled needs at least one device")
    if v["session.cookie_mode"] and not v["session.allowed_origins"]:
        problems.append(
            f"{where('session.allowed_origins')} = (): cookie mode needs the "
            "frontend origins allowed to send unsafe requests"
        )
    if v["session.cookie_samesite"] == "None" and not v["session.cookie_secure"]:
        problems.append(
            f"{prefix}session.cookie_samesite = 'None': browsers require cookie_secure = true"
        )
    if v["punchh.connect_timeout"] > v["punchh.total_timeout"]:
        problems.append(
            f"{prefix}punchh.connect_timeout = {v['punchh.connect_timeout']}: expected no more "
            f"than punchh.total_timeout ({v['punchh.total_timeout']})"
        )


def cross_checks(
    v: dict[str, Any], devices: Sequence[object], problems: list[str], *, default: bool = True
) -> None:
    """The process's checks, and the `default` business's when there is one."""
    if default:
        business_checks(v, devices, problems)
    reported = {p.split(" ", 1)[0] for p in problems}
    if not v["session.secret"] and "session.secret" not in reported:
        problems.append(
            "session.secret (GATEWAY_SESSION_SECRET) = <empty>: expected at least 32 characters"
        )
    if v["sandbox.enabled"] and v["sandbox.host"] not in ("127.0.0.1", "::1", "localhost"):
        problems.append(f"sandbox.host = {v['sandbox.host']!r}: expected a loopback address")
    if v["store.url"] != "memory://" and not v["store.encryption_key"]:
        problems.append(
            "store.encryption_key (GATEWAY_STORE_KEY) = <empty>: required with a redis store"
        )
    cluster = [
        key
        for key in ("store.url", "cache.url", "rate_limit.url", "idempotency.url")
        if redis_urls.kind_of(v[key]) == "cluster"
    ]
    if cluster and ("{" in v["store.prefix"] or "}" in v["store.prefix"]):
        problems.append(
            f"store.prefix (GATEWAY_STORE_PREFIX) = {v['store.prefix']!r} with {cluster[0]} on a "
            "Redis Cluster: "
            "expected no '{' or '}' (a hash tag in the prefix would put every key on one shard)"
        )
    waits = redis_urls.replicas_to_wait(v["store.wait_replicas"], v["store.url"]) > 0
    if waits and v["store.wait_timeout"] >= v["store.timeout"]:
        problems.append(
            f"store.wait_timeout (GATEWAY_STORE_WAIT_TIMEOUT) = {v['store.wait_timeout']}: "
            f"expected less than store.timeout ({v['store.timeout']}): a wait for replicas "
            "that outlives the command's own timeout fails every write queued behind it"
        )
    if v["server.workers"] > 1:
        memory = [
            key
            for key in ("store.url", "cache.url", "rate_limit.url", "idempotency.url")
            if v[key] == "memory://"
            or (key != "store.url" and not v[key] and v["store.url"] == "memory://")
        ]
        for key in memory:
            problems.append(
                f"{key} = memory:// with server.workers = {v['server.workers']}: expected a "
                "redis:// URL (each worker would keep its own sessions, limits and cache: a "
                "guest would be logged out, limits multiplied, caches stale across workers)"
            )
        if v["sandbox.enabled"]:
            problems.append(
                f"sandbox.enabled = true with server.workers = {v['server.workers']}: expected "
                "one worker (each worker would run its own sandbox with its own data)"
            )
    if v["retry.backoff_base"] > v["retry.backoff_max"]:
        problems.append(
            f"retry.backoff_base = {v['retry.backoff_base']}: expected no more than "
            f"retry.backoff_max ({v['retry.backoff_max']})"
        )
