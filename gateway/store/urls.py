"""Where a Redis is, read from its URL: one server, a Sentinel-watched master, or a Cluster.

    redis://[[user]:password@]host[:6379][/db]            rediss:// for TLS
    redis+sentinel://[[user]:password@]h1:26379,h2:26379,h3:26379/<service>[/<db>]
    redis+cluster://[[user]:password@]h1:7000,h2:7001[/]  (seed nodes; the rest is found)
    rediss+sentinel://, rediss+cluster://                  the same over TLS

The user and password are the data nodes' (master, replicas, cluster nodes); sentinels are
asked without one, as they are usually deployed. `problems()` lists every fault of a URL,
one line each, for `check-config`; `parse()` raises the first.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal
from urllib.parse import unquote

Kind = Literal["single", "sentinel", "cluster"]

SCHEMES: dict[str, tuple[Kind, bool]] = {
    "redis": ("single", False),
    "rediss": ("single", True),
    "redis+sentinel": ("sentinel", False),
    "rediss+sentinel": ("sentinel", True),
    "redis+cluster": ("cluster", False),
    "rediss+cluster": ("cluster", True),
}
_DEFAULT_PORT = {"single": 6379, "sentinel": 26379, "cluster": 6379}


@dataclass(frozen=True, slots=True)
class RedisAddress:
    kind: Kind
    tls: bool
    hosts: tuple[tuple[str, int], ...]
    username: str | None = None
    password: str | None = None
    db: int = 0
    service: str | None = None  # Sentinel: the monitored master's name

    def __repr__(self) -> str:  # never the password
        hosts = ",".join(f"{h}:{p}" for h, p in self.hosts)
        return f"RedisAddress({self.kind}{'+tls' if self.tls else ''} {hosts})"


def kind_of(url: str) -> Kind | None:
    """The deployment a URL's scheme names; None when it is no Redis URL (memory://)."""
    found = SCHEMES.get(url.partition("://")[0].lower())
    return found[0] if found else None


def is_redis_url(url: str) -> bool:
    return kind_of(url) is not None


def replicas_to_wait(setting: int, url: str) -> int:
    """store.wait_replicas with -1 resolved by the deployment: 1 on Sentinel and Cluster
    (replicas are the rule), 0 on one server or memory (none to wait for)."""
    if setting >= 0:
        return setting
    return 1 if kind_of(url) in ("sentinel", "cluster") else 0


def _host_port(item: str, default: int, problems: list[str]) -> tuple[str, int] | None:
    if item.startswith("["):  # [IPv6]:port
        host, _, rest = item[1:].partition("]")
        port_text = rest[1:] if rest.startswith(":") else rest
    else:
        host, _, port_text = item.rpartition(":") if ":" in item else (item, "", "")
    if not host:
        problems.append(f"host {item!r} has no name")
        return None
    if not port_text:
        return host, default
    if not port_text.isdigit() or not 0 < int(port_text) < 65536:
        problems.append(f"host {host!r} has an invalid port {port_text!r}")
        return None
    return host, int(port_text)


def problems(url: str) -> tuple[RedisAddress | None, list[str]]:
    """The address a URL names, or None, and every problem found (empty when usable)."""
    found: list[str] = []
    scheme, sep, rest = url.partition("://")
    if not sep or scheme.lower() not in SCHEMES:
        return None, [f"scheme must be one of {', '.join(s + '://' for s in SCHEMES)}"]
    kind, tls = SCHEMES[scheme.lower()]
    if "?" in rest or "#" in rest:
        found.append("query strings and fragments are not supported")
        rest = rest.split("?", 1)[0].split("#", 1)[0]
    netloc, _, path = rest.partition("/")
    userinfo, at, hostlist = netloc.rpartition("@")
    if not at:
        userinfo, hostlist = "", netloc
    username = password = None
    if userinfo:
        user, colon, secret = userinfo.partition(":")
        username = unquote(user) or None
        password = unquote(secret) if colon else None
    items = [h.strip() for h in hostlist.split(",")] if hostlist else []
    if not items:
        found.append("at least one host is needed (host:port, several separated by commas)")
    elif any(not item for item in items):
        found.append("an empty host in the list (two commas in a row, or one at an end)")
    if kind == "single" and len(items) > 1:
        found.append(f"{scheme}:// takes one host; use redis+sentinel:// or redis+cluster://")
    hosts = []
    for item in items:
        if item and (hp := _host_port(item, _DEFAULT_PORT[kind], found)) is not None:
            hosts.append(hp)
    parts = path.split("/") if path else []
    while parts and parts[-1] == "":
        parts.pop()
    db, service = 0, None
    if kind == "sentinel":
        if not parts or not parts[0]:
            found.append("the Sentinel service name is missing (.../<service>/<db>)")
        else:
            service = unquote(parts[0])
        db_parts = parts[1:]
    else:
        db_parts = parts
    if len(db_parts) > 1:
        found.append(f"unexpected path {path!r}")
    elif db_parts:
        if not db_parts[0].isdigit():
            found.append(f"database {db_parts[0]!r} is not a number")
        else:
            db = int(db_parts[0])
            if kind == "cluster" and db != 0:
                found.append("Redis Cluster has only database 0")
    if found:
        return None, found
    address = RedisAddress(kind, tls, tuple(hosts), username, password, db, service)
    return address, []


def parse(url: str) -> RedisAddress:
    address, faults = problems(url)
    if address is None:
        raise ValueError(faults[0])
    return address
