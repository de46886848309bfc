"""The user look-up cache (routes with a `cache_ttl`), and invalidation on writes.

Reads: the answer for this identity, route, query and body is served from the cache
(`X-Cache: HIT`, `Age`), or fetched once however many ask at the same moment (`X-Cache:
MISS`) and kept if it is a 2xx. `Cache-Control: no-cache` from the client skips the
look-up and refreshes the entry. Writes (`invalidates`): whatever Punchh answered, even
an error or a timeout (the write may have applied), the guest's answers go stale: the
session's user, or for POS the guests the request names. Sign-ups and sign-ins teach
the cache whose phone, email and referral code is whose, so that a POS check-in by phone
or a sign-up naming a referrer (`invite_code`, which earns the referrer points) makes
that guest's answers stale too. Reads SESSION, POS_DEVICE, ROUTE, BODY; sets nothing.
A cache that cannot answer is skipped, never an error.
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
    CacheStats,
    Entry,
    answer_user,
    cache_key,
    identifiers,
    invite_tag,
    user_tag,
)
from gateway.keys import BODY, POS_DEVICE, ROUTE, SESSION

log = logging.getLogger("gateway.cache")
IDENT_TTL = 86400.0


def _no_cache(request: web.Request) -> bool:
    value = request.headers.get("Cache-Control", "").lower()
    return "no-cache" in value or "no-store" in value


def _identity(request: web.Request) -> tuple[str, list[str]]:
    """Whose answer this is, and the tags that make it stale."""
    resolved = request.get(SESSION)
    if resolved is not None:
        user = resolved.session.user_id or f"sid:{resolved.session.sid}"
        return f"guest:{user}", [user_tag(user)]
    device = request.get(POS_DEVICE)
    location = device.name if device is not None else "-"
    idents = identifiers(dict(request.rel_url.query), request[BODY].doc)
    return f"pos:{location}", list(idents)


def _replay(entry: Entry, outcome: str, now: float) -> web.Response:
    response = web.Response(status=entry.status, body=entry.body, headers=dict(entry.headers))
    response.headers["X-Cache"] = outcome
    response.headers["Age"] = str(max(0, int(now - entry.stored_at)))
    return response


def make_cache_middleware(
    cache: ResponseCache, *, clock: Callable[[], float], stats: CacheStats
) -> Middleware:
    flights: dict[str, asyncio.Future[Entry]] = {}

    async def safely(op: Awaitable[Any], default: Any) -> Any:
        try:
            return await op
        except CacheUnavailable as exc:
            stats.errors += 1
            log.warning("cache unavailable", extra={"error": str(exc)})
            return default

    async def fetch(request: web.Request, handler: Handler, key: str, tags: list[str]) -> Entry:
        route = request[ROUTE].route
        gens = await safely(cache.generations(tags), None)
        response = await handler(request)
        assert isinstance(response, web.Response)
        body = response.body if isinstance(response.body, bytes) else b""
        headers = tuple((k, v) for k, v in response.headers.items() if k != "X-Request-ID")
        entry = Entry(response.status, headers, body, clock())
        if gens is not None and 200 <= response.status < 300 and _cacheable(request, body):
            await store(request, key, entry, route.cache_ttl, gens)
        return entry

    async def learn(doc: Any, user: str | None) -> str | None:
        """Remember whose identifiers an answer shows; returns the user it belongs to."""
        user = user or answer_user(doc)
        idents = identifiers(doc)
        if user is not None and idents:
            await safely(cache.learn(idents, user, IDENT_TTL), None)
        return user

    async def store(
        request: web.Request, key: str, entry: Entry, ttl: int, gens: dict[str, int]
    ) -> None:
        resolved = request.get(SESSION)
        user = await learn(_json(entry.body), resolved.session.user_id if resolved else None)
        if request.get(POS_DEVICE) is not None and user is not None:  # whose look-up it was
            gens.update(await safely(cache.generations([user_tag(user)]), {}))
        await safely(cache.put(key, entry, ttl, gens), None)

    async def signed_in(request: web.Request, response: web.StreamResponse) -> None:
        if not 200 <= response.status < 300 or not isinstance(response, web.Response):
            return
        await learn(_json(response.body if isinstance(response.body, bytes) else b""), None)
        referrer = invite_tag(request[BODY].doc)
        if referrer is not None:
            users = await safely(cache.users_for([referrer]), set())
            stats.invalidations += 1
            await safely(cache.invalidate([user_tag(u) for u in users]), None)

    async def shared(request: web.Request, handler: Handler, key: str, tags: list[str]) -> Entry:
        future = flights.get(key)
        if future is not None:
            return await asyncio.shield(future)
        future = asyncio.ensure_future(fetch(request, handler, key, tags))
        flights[key] = future
        future.add_done_callback(lambda f: _forget(flights, key, f))
        return await asyncio.shield(future)

    async def invalidate(request: web.Request) -> None:
        _, tags = _identity(request)
        if request.get(POS_DEVICE) is not None:
            users = await safely(cache.users_for(tags), set())
            tags += [user_tag(u) for u in users]
            tags += [user_tag(t.split(":", 2)[2]) for t in tags if t.startswith("ident:user_id:")]
        stats.invalidations += 1
        await safely(cache.invalidate(tags), None)

    @web.middleware
    async def cache_stage(request: web.Request, handler: Handler) -> web.StreamResponse:
        match = request.get(ROUTE)
        if match is None:
            return await handler(request)
        route = match.route
        if route.action == "login":
            response = await handler(request)
            await signed_in(request, response)
            return response
        if not route.cache_ttl and not route.invalidates:
            return await handler(request)
        if route.invalidates:
            try:
                return await handler(request)
            finally:
                await invalidate(request)
        identity, tags = _identity(request)
        key = cache_key(
            route.name, identity, list(request.rel_url.query.items()), request[BODY].doc
        )
        if _no_cache(request):
            stats.bypasses[route.name] += 1
            return _replay(await fetch(request, handler, key, tags), "MISS", clock())
        entry = await safely(cache.get(key), None)
        if entry is not None:
            stats.hits[route.name] += 1
            return _replay(entry, "HIT", clock())
        stats.misses[route.name] += 1
        return _replay(await shared(request, handler, key, tags), "MISS", clock())

    return cache_stage


def _forget(flights: dict[str, asyncio.Future[Entry]], key: str, f: asyncio.Future[Entry]) -> None:
    flights.pop(key, None)
    if not f.cancelled():
        f.exception()  # retrieved: a waiter that went away leaves no warning


def _json(body: bytes) -> Any:
    try:
        return json.loads(body)
    except ValueError:
        return None


def _cacheable(request: web.Request, body: bytes) -> bool:
    """Not an answer that echoed this session's own gateway token: another session of the
    same guest must never be handed it."""
    resolved = request.get(SESSION)
    return resolved is None or resolved.token.encode() not in body
