"""Idempotency keys for frontends (the `Idempotency-Key` request header, as in the IETF
httpapi draft and Stripe's API).

On a guest or POS write, the key names one request of that guest (or device):
  - the first request with a key runs; when the route is one Punchh deduplicates by
    `external_uid` and the body has none, the key becomes the `external_uid`, which makes
    the call safe to retry (gateway/resilience/policy.py);
  - an identical request while the first is in flight waits for it and gets its answer;
  - an identical request after it gets the kept answer (for `idempotency.ttl` seconds;
    only Punchh's definite answers are kept: a 2xx, or a 400, 404, 409, 410 or 422 that
    the same request would get again; never a 5xx, a 401/403/412/429, an answer with
    Retry-After or a gateway error, so that what may succeed later can be repeated);
  - a different request (method, path, query or body) with the same key: 422.
Identical means the same fingerprint: SHA-256 over method, path, query and the body's
canonical JSON (keys sorted).

Two books behind one interface (`claim`, `finish`, `fail`): `MemoryIdempotencyBook` (one
process) and `RedisIdempotencyBook` (replicas sharing Redis: a pending record claimed with
SET NX and a lease, waited on by the other replicas, replaced by the kept answer). A Redis
that cannot answer makes the Redis book fall back to its own process's in-flight
dedupe (counted as a store error); Punchh's `external_uid` dedupe still holds.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from cachetools import TTLCache
from redis.exceptions import RedisError

from gateway.errors import BadRequest, Conflict, GatewayError, InternalError, Unprocessable
from gateway.store.resp import RedisLink

log = logging.getLogger("gateway")

HEADER = "Idempotency-Key"
_KEY = re.compile(r"[\x21-\x7e]{1,255}")  # visible ASCII, as Stripe and the draft's examples
_NOT_KEPT = frozenset({"content-length", "date", "server", "x-request-id", "set-cookie"})


_DEFINITE_REFUSALS = frozenset({400, 404, 409, 410, 422})


def definite(status: int, retry_after: str | None) -> bool:
    """Is Punchh's answer the same for any repeat of the request, so worth keeping?"""
    if retry_after is not None:
        return False
    return 200 <= status < 300 or status in _DEFINITE_REFUSALS


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


def _reused() -> Unprocessable:
    return Unprocessable(
        f"this {HEADER} was used for a different request", code="idempotency_key_reused"
    )


def _interrupted(exc: BaseException) -> GatewayError:
    if isinstance(exc, GatewayError):
        return exc
    interrupted = InternalError(f"the first request with this {HEADER} did not finish")
    interrupted.outcome = "unknown"
    return interrupted


class IdempotencyBook(Protocol):
    async def claim(self, key: str, print_: str) -> Claim:
        """The kept answer, the future of the same request in flight, or None: run it (then
        `finish` or `fail`). Raises 422 when the key was used for a different request."""
        ...

    async def finish(self, key: str, answer: Kept, *, keep: bool) -> None: ...

    async def fail(self, key: str, exc: BaseException) -> None: ...

    async def close(self) -> None: ...


class _Running:
    """Requests in flight in this process, by key: their fingerprint and future."""

    def __init__(self) -> None:
        self._by_key: dict[str, tuple[str, asyncio.Future[Kept]]] = {}

    def join(self, key: str, print_: str) -> asyncio.Future[Kept] | None:
        running = self._by_key.get(key)
        if running is None:
            return None
        if running[0] != print_:
            raise _reused()
        return running[1]

    def start(self, key: str, print_: str) -> None:
        self._by_key[key] = (print_, asyncio.get_running_loop().create_future())

    def end(self, key: str, answer: Kept | BaseException) -> str:
        print_, future = self._by_key.pop(key)
        if isinstance(answer, Kept):
            future.set_result(answer)
        else:
            future.set_exception(_interrupted(answer))
            future.exception()  # retrieved: no "never retrieved" warning when nobody waited
        return print_

    def __len__(self) -> int:
        return len(self._by_key)


class MemoryIdempotencyBook:
    def __init__(self, *, ttl: int, max_entries: int, clock: Callable[[], float]) -> None:
        self._ttl = ttl
        self._running = _Running()
        self._kept: TTLCache[str, tuple[str, Kept]] = TTLCache(
            maxsize=max_entries, ttl=max(ttl, 1), timer=clock
        )

    async def claim(self, key: str, print_: str) -> Claim:
        kept = self._kept.get(key)
        if kept is not None:
            if kept[0] != print_:
                raise _reused()
            return kept[1]
        future = self._running.join(key, print_)
        if future is None:
            self._running.start(key, print_)
        return future

    async def finish(self, key: str, answer: Kept, *, keep: bool) -> None:
        print_ = self._running.end(key, answer)
        if keep and self._ttl > 0:
            self._kept[key] = (print_, answer)

    async def fail(self, key: str, exc: BaseException) -> None:
        self._running.end(key, exc)

    async def close(self) -> None:
        return None

    def __len__(self) -> int:
        return len(self._kept) + len(self._running)


class RedisIdempotencyBook:
    """Records `{fp, state: pending}` (SET NX, expiring after `lease` seconds: a replica
    that dies mid-request does not hold the key for ever), then `{fp, state: done, ...}`
    for `ttl` seconds, or nothing when the answer is not kept."""

    def __init__(
        self,
        client: RedisLink,
        *,
        prefix: str,
        ttl: int,
        lease: float,
        poll: float = 0.05,
        on_error: Callable[[], None] = lambda: None,
    ) -> None:
        self._r = client
        self._prefix = prefix + "idem:"
        self._ttl = ttl
        self._lease_ms = max(1000, int(lease * 1000))
        self._poll = poll
        self._on_error = on_error
        self._running = _Running()
        self._local_only: set[str] = set()  # claimed while Redis could not answer

    def __repr__(self) -> str:
        return f"RedisIdempotencyBook(prefix={self._prefix!r})"

    def _rkey(self, key: str) -> str:
        return self._prefix + hashlib.sha256(key.encode()).hexdigest()

    async def claim(self, key: str, print_: str) -> Claim:
        future = self._running.join(key, print_)
        if future is not None:
            return future
        pending = json.dumps({"fp": print_, "state": "pending"})
        loop = asyncio.get_running_loop()
        # A few polls past the lease: the claim that sees the lease end must still get to
        # try once more (on a slow machine the last poll before it could fall just short).
        give_up = loop.time() + self._lease_ms / 1000 + 4 * self._poll
        while True:
            try:
                claimed = await self._r.execute(
                    "SET", self._rkey(key), pending, "NX", "PX", self._lease_ms
                )
                if claimed is not None:
                    self._running.start(key, print_)
                    return None
                raw = await self._r.execute("GET", self._rkey(key))
            except RedisError as exc:
                return self._claim_locally(key, print_, exc)
            if raw is not None:
                record = json.loads(raw)
                if record["fp"] != print_:
                    raise _reused()
                if record["state"] == "done":
                    return _unpack(record)
            # Pending on another replica (or just gone: try again).
            future = self._running.join(key, print_)
            if future is not None:
                return future
            if loop.time() > give_up:
                raise Conflict(
                    f"a request with this {HEADER} is still in flight",
                    code="idempotency_key_in_flight",
                )
            await asyncio.sleep(self._poll)

    def _claim_locally(self, key: str, print_: str, exc: RedisError) -> Claim:
        self._on_error()
        log.warning("idempotency store unavailable", extra={"error": type(exc).__name__})
        future = self._running.join(key, print_)
        if future is None:
            self._running.start(key, print_)
            self._local_only.add(key)
        return future

    async def finish(self, key: str, answer: Kept, *, keep: bool) -> None:
        print_ = self._running.end(key, answer)
        if key in self._local_only:
            self._local_only.discard(key)
            return
        try:
            if keep and self._ttl > 0:
                await self._r.execute(
                    "SET", self._rkey(key), _pack(print_, answer), "EX", self._ttl
                )
            else:
                await self._r.execute("DEL", self._rkey(key))
        except RedisError:
            self._on_error()

    async def fail(self, key: str, exc: BaseException) -> None:
        self._running.end(key, exc)
        if key in self._local_only:
            self._local_only.discard(key)
            return
        try:
            await self._r.execute("DEL", self._rkey(key))
        except RedisError:
            self._on_error()

    async def close(self) -> None:
        await self._r.aclose()


def _pack(print_: str, kept: Kept) -> str:
    return json.dumps(
        {
            "fp": print_,
            "state": "done",
            "status": kept.status,
            "headers": [list(h) for h in kept.headers],
            "body": base64.b64encode(kept.body).decode(),
        }
    )


def _unpack(record: dict[str, Any]) -> Kept:
    headers = tuple((str(k), str(v)) for k, v in record["headers"])
    return Kept(int(record["status"]), headers, base64.b64decode(record["body"]))
