"""The user look-up cache (routes with a `cache_ttl`), and invalidation on writes.

Bound per route while the cache is on, in one of three shapes. Reads: the answer for
this owner, route, query and body is served from the cache (`X-Cache: HIT`, `Age`), or
fetched once however many ask at the same moment (`X-Cache: MISS`) and kept if it is a
2xx. `Cache-Control: no-cache` skips the look-up and refreshes the entry; `no-store`
skips it and keeps nothing. Writes (`invalidates`): whatever Punchh answered, even an
error or a timeout (the write may have applied), the guest's answers go stale: the
session's user, or for POS the guests the request names. Sign-ins and writes teach the
cache whose phone, email, card and referral code is whose, so that a POS check-in by
phone or card, or a sign-up naming a referrer (`invite_code` earns the referrer points),
makes that guest's online answers stale too. A cache that cannot answer is skipped,
never an error.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web
from multidict import CIMultiDict

from gateway import jsonio
from gateway.cache.base import CacheUnavailable, ResponseCache
from gateway.cache.policy import Entry, answer_user, cache_key, identifiers, invite_tag, user_tag
from gateway.exchange import Exchange
from gateway.metrics import Metrics
from gateway.owner import guest_of
from gateway.plan import Next, Plan, Stage
from gateway.store.resp import Prefetch

log = logging.getLogger("gateway.cache")
IDENT_TTL = 86400.0
# The answer kept, whether another session may be handed it, and the answer as built
# (the fetching request's own: a miss is not rebuilt from the entry).
Fetched = tuple[Entry, bool, web.StreamResponse]


def _identity(ex: Exchange) -> tuple[str, list[str]]:
    """Whose answer this is, and the tags that make it stale."""
    if ex.session is not None:
        user = guest_of(ex.session.session)
        return f"guest:{user}", [user_tag(user)]
    location = ex.device.name if ex.device is not None else "-"
    return f"pos:{location}", list(identifiers(dict(ex.query()), ex.doc))


def _session_user(ex: Exchange) -> str | None:
    return ex.session.session.user_id if ex.session is not None else None


def _body(response: web.StreamResponse) -> bytes:
    body = response.body if isinstance(response, web.Response) else None
    return body if isinstance(body, bytes) else b""


def _json(body: bytes) -> Any:
    try:
        return jsonio.loads(body)
    except ValueError:
        return None


def _shareable(ex: Exchange, body: bytes) -> bool:
    """Not an answer that echoed this session's own gateway token: another session of the
    same guest must never be handed it, neither from the cache nor from a shared flight."""
    return ex.session is None or ex.session.token.encode() not in body


def _bypass(directive: str | None) -> bool:
    """`Cache-Control: no-cache` or `no-store` from the frontend."""
    if directive is None:
        return False
    lowered = directive.lower()
    return "no-cache" in lowered or "no-store" in lowered


def _missed(response: web.StreamResponse) -> web.StreamResponse:
    """The answer just fetched, marked as such."""
    response.headers["X-Cache"] = "MISS"
    response.headers["Age"] = "0"
    return response


def _replay(entry: Entry, outcome: str, now: float) -> web.Response:
    headers = CIMultiDict(entry.headers)  # handed to the answer as is: no second copy
    headers.add("X-Cache", outcome)
    headers.add("Age", str(max(0, int(now - entry.stored_at))))
    return web.Response(status=entry.status, body=entry.body, headers=headers)


def make_cache_stage(
    cache: ResponseCache, *, clock: Callable[[], float], metrics: Metrics, reads: bool = True
) -> Stage:
    """`reads` False: the cache is off (cache.enabled, by a live reload) but holds what was
    kept while it was on: reads go to Punchh, and writes and sign-ins still invalidate and
    teach it, so that turning it on again serves nothing stale."""
    flights: dict[str, asyncio.Future[Fetched]] = {}

    async def safely(op: Awaitable[Any], default: Any) -> Any:
        try:
            return await op
        except CacheUnavailable as exc:
            metrics.store_error("cache")
            log.warning("cache unavailable", extra={"error": str(exc)})
            return default

    async def learn(user: str | None, ex: Exchange, answer: Any) -> str | None:
        """Remember whose identifiers a request and its answer name; the user, if known."""
        user = user or answer_user(answer)
        idents = identifiers(dict(ex.query()), ex.doc, answer)
        if user is not None and idents:
            await safely(cache.learn(idents, user, IDENT_TTL), None)
        return user

    async def fetch(ex: Exchange, nxt: Next, key: str, ttl: int, keep: bool) -> Fetched:
        _, tags = _identity(ex)
        gens = await safely(cache.generations(tags), None) if keep else None
        response = await nxt(ex)
        body = _body(response)
        headers = tuple((k, v) for k, v in response.headers.items() if k != "X-Request-ID")
        entry = Entry(response.status, headers, body, clock())
        shareable = _shareable(ex, body)
        if gens is not None and 200 <= entry.status < 300 and shareable:
            user = await learn(_session_user(ex), ex, _json(body))
            if ex.device is not None and user is not None:  # whose look-up it was
                gens.update(await safely(cache.generations([user_tag(user)]), {}))
            await safely(cache.put(key, entry, ttl, gens), None)
        return entry, shareable, response

    async def shared(ex: Exchange, nxt: Next, key: str, ttl: int) -> web.StreamResponse:
        """The answer for `key`: fetched once however many ask at the same moment; the
        fetching request keeps the answer it built, the others get theirs from the entry."""
        future = flights.get(key)
        if future is not None:
            entry, shareable, _ = await asyncio.shield(future)
            if shareable:
                return _replay(entry, "MISS", clock())
            return _missed((await fetch(ex, nxt, key, ttl, keep=True))[2])
        future = asyncio.ensure_future(fetch(ex, nxt, key, ttl, keep=True))
        flights[key] = future
        future.add_done_callback(lambda f: _forget(flights, key, f))
        return _missed((await asyncio.shield(future))[2])

    async def wrote(ex: Exchange, response: web.StreamResponse | None) -> None:
        """After a write: learn what its answer says (a new phone), then make stale. Only a
        write naming identifiers (a profile update, a POS write) can teach anything: a
        check-in's answer is not parsed."""
        named = identifiers(dict(ex.query()), ex.doc)
        if named and response is not None and 200 <= response.status < 300:
            await learn(_session_user(ex), ex, _json(_body(response)))
        _, tags = _identity(ex)
        if ex.device is not None:
            users = await safely(cache.users_for(tags), set())
            users |= {t.split(":", 2)[2] for t in tags if t.startswith("ident:user_id:")}
            tags += [user_tag(u) for u in users]
        metrics.cache_invalidations.inc()
        await safely(cache.invalidate(tags), None)

    async def signed_in(ex: Exchange, response: web.StreamResponse) -> None:
        if not 200 <= response.status < 300:
            return
        await learn(None, ex, _json(_body(response)))
        referrer = invite_tag(ex.doc)
        if referrer is not None:
            users = await safely(cache.users_for([referrer]), set())
            metrics.cache_invalidations.inc()
            await safely(cache.invalidate([user_tag(u) for u in users]), None)

    def login_stage(nxt: Next) -> Next:
        async def cache_login(ex: Exchange) -> web.StreamResponse:
            answer = await nxt(ex)
            await signed_in(ex, answer)
            return answer

        return cache_login

    def write_stage(nxt: Next) -> Next:
        async def cache_invalidate(ex: Exchange) -> web.StreamResponse:
            answer: web.StreamResponse | None = None
            try:
                answer = await nxt(ex)
                return answer
            finally:
                await wrote(ex, answer)

        return cache_invalidate

    def read_stage(plan: Plan, nxt: Next, ttl: int) -> Next:
        name = plan.label
        hit, miss, bypass = (metrics.cache.labels(name, r) for r in ("hit", "miss", "bypass"))

        def key_of(ex: Exchange) -> str:
            identity, _ = _identity(ex)
            return cache_key(name, identity, ex.query(), ex.doc)

        def prefetch(ex: Exchange) -> Prefetch | None:
            if _bypass(ex.request.headers.get("Cache-Control")):
                return None
            return cache.prefetch_for(key_of(ex))

        plan.prefetch = prefetch

        async def cache_read(ex: Exchange) -> web.StreamResponse:
            pre = ex.prefetched
            key = pre.cache_key if pre is not None else key_of(ex)
            directive = ex.request.headers.get("Cache-Control")
            if directive is not None and _bypass(directive):
                bypass.inc()
                ex.cache_note = "bypass"
                keep = "no-store" not in directive.lower()
                return _missed((await fetch(ex, nxt, key, ttl, keep=keep))[2])
            if pre is not None:  # read with the rate limits, in the same round trip
                entry = cache.entry_from(pre.reply)
            else:
                entry = await safely(cache.get(key), None)
            if entry is not None:
                hit.inc()
                ex.cache_note = "hit"
                return _replay(entry, "HIT", clock())
            miss.inc()
            ex.cache_note = "miss"
            ex.source = "upstream"  # a shared flight's answer is Punchh's too
            return await shared(ex, nxt, key, ttl)

        return cache_read

    def bind(plan: Plan, nxt: Next) -> Next:
        route = plan.route
        if route is None:
            return nxt
        if route.action == "login":
            return login_stage(nxt)
        if route.invalidates:
            return write_stage(nxt)
        if route.cache_ttl and reads:
            return read_stage(plan, nxt, route.cache_ttl)
        return nxt

    return bind


def _forget(
    flights: dict[str, asyncio.Future[Fetched]], key: str, f: asyncio.Future[Fetched]
) -> None:
    flights.pop(key, None)
    if not f.cancelled():
        f.exception()  # retrieved: a waiter that went away leaves no warning
