"""The user look-up cache (routes with a `cache_ttl`), and invalidation on writes.

Reads: the answer for this identity, route, query and body is served from the cache
(`X-Cache: HIT`, `Age`), or fetched once however many ask at the same moment (`X-Cache:
MISS`) and kept if it is a 2xx. `Cache-Control: no-cache` skips the look-up and refreshes
the entry; `no-store` skips it and keeps nothing. Writes (`invalidates`): whatever Punchh
answered, even an error or a timeout (the write may have applied), the guest's answers
go stale: the session's user, or for POS the guests the request names. Every answer and
request about a known guest teaches the cache whose phone, email, card and referral code
is whose, so that a POS check-in by phone or card, or a sign-up naming a referrer
(`invite_code` earns the referrer points), makes that guest's online answers stale too.
Reads SESSION, POS_DEVICE, ROUTE, BODY; sets nothing. A cache that cannot answer is
skipped, never an error.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware

from gateway.cache.base import CacheUnavailable, ResponseCache
from gateway.cache.policy import (
    Entry,
    answer_user,
    cache_key,
    identifiers,
    invite_tag,
    user_tag,
)
from gateway.keys import BODY, POS_DEVICE, ROUTE, SESSION, SOURCE
from gateway.metrics import Metrics
from gateway.timing import note

log = logging.getLogger("gateway.cache")
IDENT_TTL = 86400.0
Fetched = tuple[Entry, bool]  # the answer, and whether another session may be handed it


def _identity(request: web.Request) -> tuple[str, list[str]]:
    """Whose answer this is, and the tags that make it stale."""
    resolved = request.get(SESSION)
    if resolved is not None:
        user = resolved.session.user_id or f"sid:{resolved.session.sid}"
        return f"guest:{user}", [user_tag(user)]
    device = request.get(POS_DEVICE)
    location = device.name if device is not None else "-"
    return f"pos:{location}", list(identifiers(dict(request.rel_url.query), request[BODY].doc))


def _session_user(request: web.Request) -> str | None:
    resolved = request.get(SESSION)
    return resolved.session.user_id if resolved is not None else None


def _body(response: web.StreamResponse) -> bytes:
    body = response.body if isinstance(response, web.Response) else None
    return body if isinstance(body, bytes) else b""


def _json(body: bytes) -> Any:
    try:
        return json.loads(body)
    except ValueError:
        return None


def _shareable(request: web.Request, body: bytes) -> bool:
    """Not an answer that echoed this session's own gateway token: another session of the
    same guest must never be handed it, neither from the cache nor from a shared flight."""
    resolved = request.get(SESSION)
    return resolved is None or resolved.token.encode() not in body


def _replay(entry: Entry, outcome: str, now: float) -> web.Response:
    response = web.Response(status=entry.status, body=entry.body, headers=dict(entry.headers))
    response.headers["X-Cache"] = outcome
    response.headers["Age"] = str(max(0, int(now - entry.stored_at)))
    return response


def make_cache_middleware(
    cache: ResponseCache, *, clock: Callable[[], float], metrics: Metrics
) -> Middleware:
    flights: dict[str, asyncio.Future[Fetched]] = {}

    def outcome(route: str, result: str) -> None:
        metrics.cache.labels(route, result).inc()
        note("cache", result)

    async def safely(op: Awaitable[Any], default: Any) -> Any:
        try:
            return await op
        except CacheUnavailable as exc:
            metrics.store_error("cache")
            log.warning("cache unavailable", extra={"error": str(exc)})
            return default

    async def learn(user: str | None, request: web.Request, answer: Any) -> str | None:
        """Remember whose identifiers a request and its answer name; the user, if known."""
        user = user or answer_user(answer)
        idents = identifiers(dict(request.rel_url.query), request[BODY].doc, answer)
        if user is not None and idents:
            await safely(cache.learn(idents, user, IDENT_TTL), None)
        return user

    async def fetch(request: web.Request, handler: Handler, key: str, keep: bool) -> Fetched:
        _, tags = _identity(request)
        gens = await safely(cache.generations(tags), None) if keep else None
        response = await handler(request)
        body = _body(response)
        headers = tuple((k, v) for k, v in response.headers.items() if k != "X-Request-ID")
        entry = Entry(response.status, headers, body, clock())
        shareable = _shareable(request, body)
        if gens is not None and 200 <= entry.status < 300 and shareable:
            user = await learn(_session_user(request), request, _json(body))
            if request.get(POS_DEVICE) is not None and user is not None:  # whose look-up
                gens.update(await safely(cache.generations([user_tag(user)]), {}))
            await safely(cache.put(key, entry, request[ROUTE].route.cache_ttl, gens), None)
        return entry, shareable

    async def shared(request: web.Request, handler: Handler, key: str) -> Entry:
        future = flights.get(key)
        if future is not None:
            entry, shareable = await asyncio.shield(future)
            if shareable:
                return entry
            return (await fetch(request, handler, key, keep=True))[0]
        future = asyncio.ensure_future(fetch(request, handler, key, keep=True))
        flights[key] = future
        future.add_done_callback(lambda f: _forget(flights, key, f))
        return (await asyncio.shield(future))[0]

    async def wrote(request: web.Request, response: web.StreamResponse | None) -> None:
        """After a write: learn what its answer says (a new phone), then make stale. Only a
        write naming identifiers (a profile update, a POS write) can teach anything: a
        check-in's answer is not parsed."""
        named = identifiers(dict(request.rel_url.query), request[BODY].doc)
        if named and response is not None and 200 <= response.status < 300:
            await learn(_session_user(request), request, _json(_body(response)))
        _, tags = _identity(request)
        if request.get(POS_DEVICE) is not None:
            users = await safely(cache.users_for(tags), set())
            users |= {t.split(":", 2)[2] for t in tags if t.startswith("ident:user_id:")}
            tags += [user_tag(u) for u in users]
        metrics.cache_invalidations.inc()
        await safely(cache.invalidate(tags), None)

    async def signed_in(request: web.Request, response: web.StreamResponse) -> None:
        if not 200 <= response.status < 300:
            return
        await learn(None, request, _json(_body(response)))
        referrer = invite_tag(request[BODY].doc)
        if referrer is not None:
            users = await safely(cache.users_for([referrer]), set())
            metrics.cache_invalidations.inc()
            await safely(cache.invalidate([user_tag(u) for u in users]), None)

    async def read(request: web.Request, handler: Handler) -> web.StreamResponse:
        route = request[ROUTE].route
        identity, _ = _identity(request)
        query = list(request.rel_url.query.items())
        key = cache_key(route.name, identity, query, request[BODY].doc)
        directive = request.headers.get("Cache-Control", "").lower()
        if "no-cache" in directive or "no-store" in directive:
            outcome(route.name, "bypass")
            entry, _ = await fetch(request, handler, key, keep="no-store" not in directive)
            return _replay(entry, "MISS", clock())
        entry = await safely(cache.get(key), None)
        if entry is not None:
            outcome(route.name, "hit")
            return _replay(entry, "HIT", clock())
        outcome(route.name, "miss")
        request[SOURCE] = "upstream"  # a shared flight's answer is Punchh's too
        return _replay(await shared(request, handler, key), "MISS", clock())

    @web.middleware
    async def cache_stage(request: web.Request, handler: Handler) -> web.StreamResponse:
        match = request.get(ROUTE)
        if match is None:
            return await handler(request)
        route = match.route
        answer: web.StreamResponse | None = None
        if route.action == "login":
            answer = await handler(request)
            await signed_in(request, answer)
            return answer
        if route.invalidates:
            try:
                answer = await handler(request)
                return answer
            finally:
                await wrote(request, answer)
        if route.cache_ttl:
            return await read(request, handler)
        return await handler(request)

    return cache_stage


def _forget(
    flights: dict[str, asyncio.Future[Fetched]], key: str, f: asyncio.Future[Fetched]
) -> None:
    flights.pop(key, None)
    if not f.cancelled():
        f.exception()  # retrieved: a waiter that went away leaves no warning
