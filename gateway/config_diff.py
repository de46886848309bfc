"""What a live reload may change, what it may not, and the configuration's fingerprint.

A reload (gateway/reload.py) compares the new configuration with the one served, key by
key and business by business. Keys in LIVE_KEYS (or under LIVE_PREFIXES) are swapped in;
any other key that changed needs a restart (it binds sockets, sizes a pool or a memory
store, or names a store), and the reload is refused with one line per such key. So is a
business added or removed (its stores and connections are made at start).

The digest shown on the status page is a SHA-256 of every non-secret setting of every
business: two replicas with the same digest serve the same settings. Secrets are not in
it (a hash of a short secret could be searched for); a rotation shows in the load time.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import fields, is_dataclass
from typing import Any

from gateway.config import BUSINESS_SETTINGS, DEFAULT_BUSINESS, SETTINGS_BY_KEY, GatewayConfig
from gateway.settings import SETTING

LIVE_KEYS = frozenset(
    {
        "server.log_level",
        "server.shutdown_grace",
        "server.drain_timeout",
        "punchh.client_secret",
        "punchh.connect_timeout",
        "punchh.total_timeout",
        "punchh.user_agent",
        "punchh.pos_user_agent",
        "cache.enabled",
        "cache.ttls",
        "rate_limit.policies",
        "pos.business_key",
        "pos.devices",
        "hosts",
    }
)
LIVE_PREFIXES = ("punchh.timeouts.", "punchh.digest.", "retry.", "circuit.", "session.")
# Sized at start: the memory session store's capacity.
RESTART_ONLY = frozenset({"session.max_sessions", "session.max_per_user"})
# What the embedded sandbox (sandbox.enabled) was started with, to check calls by: with it,
# a change of these needs a restart (of the sandbox with the gateway).
SANDBOX_EMULATES = ("punchh.client_secret", "pos.business_key", "pos.devices", "punchh.digest.")


OWN_TABLES = ("hosts", "pos.devices", "rate_limit.policies")  # a business's, not settings


def is_live(key: str) -> bool:
    return key not in RESTART_ONLY and (key in LIVE_KEYS or key.startswith(LIVE_PREFIXES))


def values_of(cfg: GatewayConfig) -> dict[str, Any]:
    """Every setting of one business's configuration by key, and its tables."""
    out: dict[str, Any] = {}
    _walk(cfg, out)
    out["pos.devices"] = cfg.pos.devices
    out["rate_limit.policies"] = cfg.rate_limit.policies
    return out


def _walk(obj: Any, out: dict[str, Any]) -> None:
    for f in fields(obj):
        value = getattr(obj, f.name)
        setting = f.metadata.get(SETTING)
        if setting is not None:
            out[setting.key] = value
        elif is_dataclass(value) and not isinstance(value, type):
            _walk(value, out)


def _by_business(cfg: GatewayConfig) -> dict[str, dict[str, Any]]:
    return {b.name: {**values_of(b.config), "hosts": b.hosts} for b in cfg.businesses}


def _named(business: str, key: str) -> str:
    """A key as the configuration file names it: a business's under businesses.<name>."""
    return key if business == DEFAULT_BUSINESS else f"businesses.{business}.{key}"


def changes(old: GatewayConfig, new: GatewayConfig) -> Iterator[str]:
    """Every key whose value differs, named as in the file: the top level's (what the
    process shares, the `default` business's, what the others inherit) once, and a
    business's own under businesses.<name> only where it is not the inherited change."""
    before, after = _by_business(old), _by_business(new)
    if list(before) != list(after):
        yield "businesses"
        return
    top_old, top_new = values_of(old), values_of(new)
    yield from (key for key, value in top_new.items() if top_old.get(key) != value)
    for business, values in after.items():
        was = before[business]
        for key, value in values.items():
            if business == DEFAULT_BUSINESS and key != "hosts":
                continue  # the top level's, said above
            if key not in OWN_TABLES and key not in BUSINESS_SETTINGS:
                continue  # the process's: said above, once
            inherited = top_old.get(key) == was.get(key) and top_new.get(key) == value
            if was.get(key) != value and not inherited:
                yield _named(business, key)


def restart_keys(old: GatewayConfig, new: GatewayConfig) -> list[str]:
    """The changed keys a reload cannot apply, in the order of the file."""
    sandbox = old.sandbox.enabled
    return [
        key
        for key in changes(old, new)
        if not is_live(_bare(key)) or (sandbox and _bare(key).startswith(SANDBOX_EMULATES))
    ]


def _bare(key: str) -> str:
    """A business's key without its businesses.<name>. prefix."""
    if key.startswith("businesses."):
        return key.split(".", 2)[2]
    return key


def digest(cfg: GatewayConfig) -> str:
    """SHA-256 (hex) of every non-secret setting of every business, with POS devices by
    name only (their keys are secrets)."""
    doc: dict[str, Any] = {}
    for business, values in _by_business(cfg).items():
        doc[business] = {
            key: [d.name for d in value] if key == "pos.devices" else value
            for key, value in values.items()
            if not (key in SETTINGS_BY_KEY and SETTINGS_BY_KEY[key].secret)
        }
    text = json.dumps(doc, sort_keys=True, default=repr, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()
