"""Host names a business answers on: exact names and `*.example.com` wildcards.

`parse_host_pattern` checks one configured pattern; `overlaps` says whether two patterns
can match one host (check-config refuses that between businesses, so that at most one
business claims any host). `HostMap` finds the business of a request's `Host` with dict
look-ups only: the exact name, then each of its suffixes against the wildcards, the
longest first (Envoy's virtual-host domains work the same way). A wildcard matches one
label or more: `*.example.com` matches `a.example.com` and `a.b.example.com`, not
`example.com`. The port is ignored, as is a trailing dot and the letters' case.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Generic, TypeVar

T = TypeVar("T")

_LABEL = r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
_NAME = re.compile(rf"{_LABEL}(?:\.{_LABEL})*\Z")
_SEEN_MAX = 4096  # Host headers remembered; a flood of made-up ones clears and starts over
_HOST_MAX = 253 + 1 + 5  # the longest host name, a colon and a port


def parse_host_pattern(raw: object) -> str:
    """The pattern, lower-cased; ValueError saying what is wrong (a port, a scheme...)."""
    if not isinstance(raw, str) or not raw:
        raise ValueError("expected a host name such as brand-a.example.com or *.example.com")
    pattern = raw.strip().lower().rstrip(".")
    name = pattern[2:] if pattern.startswith("*.") else pattern
    if ":" in name or "/" in name:
        raise ValueError("expected a host name only: no scheme, port or path (the port is ignored)")
    if "*" in name or not _NAME.match(name) or len(name) > 253:
        raise ValueError(
            "expected a host name (letters, digits, '-', '.'), or '*.' and one: the wildcard "
            "stands for the leftmost labels only"
        )
    return pattern


def overlaps(a: str, b: str) -> bool:
    """Whether some host would match both patterns (both parsed)."""
    if a == b:
        return True
    for wild, other in ((a, b), (b, a)):
        if wild.startswith("*."):
            suffix = wild[1:]  # ".example.com"
            if other.removeprefix("*").endswith(suffix):
                return True
    return False


def host_name(header: str) -> str:
    """A Host header's name: the port, the brackets of an IPv6 literal and a trailing dot
    dropped, lower-cased."""
    if header.startswith("["):
        return header[1 : header.find("]")].lower() if "]" in header else header.lower()
    name = header.rpartition(":")[0] if header.count(":") == 1 else header
    return name.rstrip(".").lower()


class HostMap(Generic[T]):
    """Host header → the value of the business that claims it, or `fallback`."""

    __slots__ = ("_exact", "_fallback", "_seen", "_wild")

    def __init__(self, claims: Iterable[tuple[str, T]], fallback: T | None) -> None:
        self._exact: dict[str, T] = {}
        self._wild: dict[str, T] = {}
        for pattern, value in claims:
            if pattern.startswith("*."):
                self._wild[pattern[2:]] = value
            else:
                self._exact[pattern] = value
        self._fallback = fallback
        self._seen: dict[str, T | None] = {}

    def find(self, header: str) -> T | None:
        try:
            return self._seen[header]
        except KeyError:
            pass
        if len(header) > _HOST_MAX:
            # No configured name is this long; and a long run of dots would cost a look-up
            # each, and the memory of the remembered headers grow with each.
            return self._fallback
        found = self._lookup(host_name(header))
        if len(self._seen) >= _SEEN_MAX:
            self._seen.clear()
        self._seen[header] = found
        return found

    def _lookup(self, name: str) -> T | None:
        found = self._exact.get(name)
        if found is not None:
            return found
        if self._wild:
            dot = name.find(".")
            while dot != -1:
                found = self._wild.get(name[dot + 1 :])
                if found is not None:
                    return found
                dot = name.find(".", dot + 1)
        return self._fallback
