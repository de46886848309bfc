"""Idempotency keys for frontends (the `Idempotency-Key` request header, as in the IETF
httpapi draft and Stripe's API).

On a guest or POS write, the key names one request of that guest (or device):
  - the first request with a key runs; when the route is one Punchh deduplicates by
    `external_uid` and the body has none, the key becomes the `external_uid`, which makes
    the call safe to retry (gateway/resilience/policy.py);
  - an identical request while the first is in flight waits for it and gets its answer;
  - an identical request after it gets the kept answer (for `idempotency.ttl` seconds;
    only Punchh's definite answers are kept, never a 5xx or a gateway error, so that a
    request whose outcome is unknown can be repeated);
  - a different request (method, path, query or body) with the same key: 422.
Identical means the same fingerprint: SHA-256 over method, path, query and the body's
canonical JSON (keys sorted). Keys are remembered per process; across replicas Punchh's
own `external_uid` deduplication still holds.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from cachetools import TTLCache

from gateway.errors import BadRequest, GatewayError, InternalError, Unprocessable

HEADER = "Idempotency-Key"
_KEY = re.compile(r"[\x21-\x7e]{1,255}")  # visible ASCII, as Stripe and the draft's examples
_NOT_KEPT = frozenset({"content-length", "date", "server", "x-request-id", "set-cookie"})


def parse_key(raw: str) -> str:
    """The key from the header: a Structured Field string ("...") or a bare token."""
    key = raw.strip()
    if len(key) >= 2 and key[0] == key[-1] == '"':
        key = key[1:-1]
    if not _KEY.fullmatch(key):
        raise BadRequest(
            f"{HEADER} must be 1 to 255 visible ASCII characters",
            code="invalid_idempotency_key",
        )
    return key


def fingerprint(method: str, path: str, query: str, doc: dict[str, Any] | None) -> str:
    body = json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(f"{method}\n{path}\n{query}\n{body}".encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class Kept:
    """An answer as the frontend got it, to be given again."""

    status: int
    headers: tuple[tuple[str, str], ...]
    body: bytes

    @classmethod
    def of(cls, status: int, headers: Any, body: bytes) -> Kept:
        kept = tuple((k, v) for k, v in headers.items() if k.lower() not in _NOT_KEPT)
        return cls(status, kept, body)


Claim = Kept | asyncio.Future[Kept] | None  # kept answer, one in flight, or yours to run


class IdempotencyBook:
    def __init__(self, *, ttl: int, max_entries: int, clock: Callable[[], float]) -> None:
        self._ttl = ttl
        self._running: dict[str, tuple[str, asyncio.Future[Kept]]] = {}
        self._kept: TTLCache[str, tuple[str, Kept]] = TTLCache(
            maxsize=max_entries, ttl=max(ttl, 1), timer=clock
        )

    def claim(self, key: str, print_: str) -> Claim:
        """The kept answer, the future of the request in flight, or None: run it (and call
        `finish` or `fail`). Raises 422 when the key was used for a different request."""
        kept = self._kept.get(key)
        running = self._running.get(key)
        seen = kept[0] if kept else running[0] if running else None
        if seen is not None and seen != print_:
            raise Unprocessable(
                f"this {HEADER} was used for a different request",
                code="idempotency_key_reused",
            )
        if kept is not None:
            return kept[1]
        if running is not None:
            return running[1]
        future: asyncio.Future[Kept] = asyncio.get_running_loop().create_future()
        self._running[key] = (print_, future)
        return None

    def finish(self, key: str, answer: Kept, *, keep: bool) -> None:
        print_, future = self._running.pop(key)
        if keep and self._ttl > 0:
            self._kept[key] = (print_, answer)
        future.set_result(answer)

    def fail(self, key: str, exc: BaseException) -> None:
        _print, future = self._running.pop(key)
        if not isinstance(exc, GatewayError):
            interrupted = InternalError(f"the first request with this {HEADER} did not finish")
            interrupted.outcome = "unknown"
            exc = interrupted
        future.set_exception(exc)
        future.exception()  # retrieved: no "never retrieved" warning when nobody waited

    def __len__(self) -> int:
        return len(self._kept) + len(self._running)
