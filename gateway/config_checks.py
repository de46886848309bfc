"""The configuration checks that look at several keys at once (a key that another needs,
two values that must agree). Each problem is one line naming the key, the value
(secrets masked) and what was expected. Warnings (a setting that is ignored, a variable
the gateway does not read) are lines too: check-config prints them, serve logs them."""

from __future__ import annotations

import difflib
import ipaddress
from collections.abc import Collection, Mapping, Sequence
from typing import Any
from urllib.parse import urlsplit

from gateway.store import urls as redis_urls

_TOP_ENV = {
    "punchh.base_url": "PUNCHH_BASE_URL",
    "punchh.allow_insecure_http": "PUNCHH_ALLOW_INSECURE_HTTP",
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
    warnings: list[str] | None = None,
) -> None:
    """The checks of one business's keys (the top-level ones for the `default` business);
    `prefix` names a `[[businesses]]` table in the problem lines, `env` the variables
    that set its keys."""
    reported = {p.split(" ", 1)[0] for p in problems}  # a bad value is reported once, not twice

    def where(key: str) -> str:
        return f"{prefix}{key} ({env[key]})" if key in env else f"{prefix}{key}"

    url = v["punchh.base_url"]
    if url and f"{prefix}punchh.base_url" not in reported:
        said = f"{where('punchh.base_url')} = {url!r}: "
        if v["sandbox.enabled"]:
            ignored = "ignored: sandbox.enabled (GATEWAY_SANDBOX) is true, the embedded sandbox "
            (warnings if warnings is not None else []).append(said + ignored + "is the upstream")
        else:
            found = upstream_problems(url, v["punchh.allow_insecure_http"])
            problems.extend(said + why for why in found)
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


def upstream_problems(url: str, allow_insecure_http: bool) -> list[str]:
    """What is wrong with a Punchh base URL the gateway would call."""
    parts = urlsplit(url)
    found = []
    if parts.path.strip("/"):
        found.append(
            "expected no path (the gateway adds Punchh's own, /api/auth/...): "
            f"{parts.scheme}://{parts.netloc}"
        )
    if parts.scheme == "http" and not allow_insecure_http and not is_loopback(parts.hostname):
        found.append(
            "plain http to another host: signed calls, guests' passwords and Punchh's tokens "
            "would cross the network unencrypted: expected https://, or "
            "punchh.allow_insecure_http (PUNCHH_ALLOW_INSECURE_HTTP) = true"
        )
    return found


def is_loopback(host: str | None) -> bool:
    """localhost (and *.localhost, RFC 6761), or a loopback IP address."""
    if not host:
        return False
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def cross_checks(
    v: dict[str, Any],
    devices: Sequence[object],
    problems: list[str],
    *,
    default: bool = True,
    warnings: list[str] | None = None,
) -> None:
    """The process's checks, and the `default` business's when there is one."""
    if default:
        business_checks(v, devices, problems, warnings=warnings)
    listener_checks(v, problems)
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
    store_checks(v, problems)
    worker_checks(v, problems)
    if v["retry.backoff_base"] > v["retry.backoff_max"]:
        problems.append(
            f"retry.backoff_base = {v['retry.backoff_base']}: expected no more than "
            f"retry.backoff_max ({v['retry.backoff_max']})"
        )


def store_checks(v: dict[str, Any], problems: list[str]) -> None:
    """What the Redis deployment asks of the stores' settings."""
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


def worker_checks(v: dict[str, Any], problems: list[str]) -> None:
    """Several workers share only what Redis holds: no memory store, no embedded sandbox."""
    if v["server.workers"] <= 1:
        return
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


_WILDCARDS = ("", "0.0.0.0", "::", "*")
_LISTENERS = (  # key, its variable, what 0 means
    ("server.port", "GATEWAY_PORT", "any free port"),
    ("admin.port", "GATEWAY_ADMIN_PORT", "/metrics and the status page on the main port"),
    ("sandbox.port", "GATEWAY_SANDBOX_PORT", "any free port"),
)


def _same_address(a: str, b: str) -> bool:
    return a == b or a in _WILDCARDS or b in _WILDCARDS or (is_loopback(a) and is_loopback(b))


def listener_checks(v: dict[str, Any], problems: list[str]) -> None:
    """Two of the process's listeners (main, admin, embedded sandbox) on one port of one
    address: the second could never bind."""
    used = {"server.port": True, "admin.port": True, "sandbox.port": v["sandbox.enabled"]}
    seen: list[tuple[str, str]] = []
    for key, variable, zero in _LISTENERS:
        port, host = v[key], v[key.replace(".port", ".host")]
        if not used[key] or not port:
            continue
        for other, other_variable in seen:
            if v[other] == port and _same_address(host, v[other.replace(".port", ".host")]):
                problems.append(
                    f"{key} ({variable}) = {port}: {other} ({other_variable}) listens on this "
                    f"port of this address too: expected another port (0: {zero})"
                )
        seen.append((key, variable))


def unknown_variables(
    env: Collection[str], known: Collection[str], per_business: tuple[str, ...] = ()
) -> list[str]:
    """A GATEWAY_* or PUNCHH_* variable the gateway does not read (a typo is silently
    ignored otherwise), with the closest name it does read. One that starts with a
    business's prefix (`per_business`: PUNCHH_CLIENT_SECRET__...) is compared with the
    named businesses' own, by the name after the prefix."""
    found = []
    for name in sorted(env):
        if not name.startswith(("GATEWAY_", "PUNCHH_")) or name in known:
            continue
        hint = "see docs/operators/configuration.md"
        prefix = next((p for p in per_business if name.startswith(p)), "")
        if prefix:
            hint = "no [[businesses]] table has this name"
        names = {k.removeprefix(prefix): k for k in known if k.startswith(prefix)}
        close = difflib.get_close_matches(name.removeprefix(prefix), names, n=1)
        hint = f"did you mean {names[close[0]]}?" if close else hint
        found.append(f"{name}: not a variable the gateway reads ({hint})")
    return found
