"""Idempotency-Key on guest and POS writes (gateway/resilience/idempotency.py).

Bound to guest and POS forward writes; runs after the session, POS and rate-limit stages
(the key is scoped to the guest or the device they found, `gateway/owner.py`) and before
the cache stage. A replayed answer carries `Idempotent-Replayed: true` and the new
request's own X-Request-ID. On a route Punchh deduplicates, the key becomes the body's
`external_uid` when it has none.
"""

from __future__ import annotations

import asyncio

from aiohttp import web

from gateway.errors import Unprocessable
from gateway.exchange import Exchange
from gateway.metrics import Metrics
from gateway.owner import owner_of
from gateway.plan import Next, Plan, Stage
from gateway.resilience.idempotency import (
    HEADER,
    IdempotencyBook,
    Kept,
    definite,
    fingerprint,
    parse_key,
)


def _replay(kept: Kept, request_id: str) -> web.Response:
    response = web.Response(status=kept.status, body=kept.body, headers=dict(kept.headers))
    response.headers["X-Request-ID"] = request_id
    response.headers["Idempotent-Replayed"] = "true"
    return response


def make_idempotency_stage(book: IdempotencyBook, metrics: Metrics) -> Stage:
    def bind(plan: Plan, nxt: Next) -> Next:
        route = plan.route
        if route is None or route.access not in ("guest", "pos"):
            return nxt
        if route.action != "forward" or route.read:
            return nxt
        dedupe = route.dedupe

        async def idempotency(ex: Exchange) -> web.StreamResponse:
            raw = ex.request.headers.get(HEADER)
            scope = owner_of(ex) if raw is not None else None
            if raw is None or scope is None:
                return await nxt(ex)
            key = parse_key(raw)
            doc = ex.doc
            claim_key = f"{scope}\x00{key}"
            print_ = fingerprint(ex.request.method, ex.path, ex.request.query_string, doc)
            try:
                claim = await book.claim(claim_key, print_)
            except Unprocessable:
                metrics.idempotency.labels("mismatch").inc()
                raise
            if isinstance(claim, Kept):
                metrics.idempotency.labels("replayed").inc()
                return _replay(claim, ex.request_id)
            if claim is not None:
                metrics.idempotency.labels("joined").inc()
                return _replay(await asyncio.shield(claim), ex.request_id)
            metrics.idempotency.labels("new").inc()
            if dedupe and (doc is None or doc.get("external_uid") in (None, "")):
                ex.doc = {**(doc or {}), "external_uid": key}
            try:
                response = await nxt(ex)
            except BaseException as exc:
                await asyncio.shield(book.fail(claim_key, exc))
                raise
            body = response.body if isinstance(response, web.Response) else None
            if not isinstance(body, bytes):
                await book.fail(claim_key, RuntimeError("a streamed answer cannot be replayed"))
                return response
            keep = ex.source == "upstream" and definite(
                response.status, response.headers.get("Retry-After")
            )
            kept = Kept.of(response.status, response.headers, body)
            await book.finish(claim_key, kept, keep=keep)
            return response

        return idempotency

    return bind
