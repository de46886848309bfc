"""Idempotency-Key on guest and POS writes (gateway/resilience/idempotency.py).

Runs after the session, POS and rate-limit stages (the key is scoped to the guest or the
device they found) and before the cache stage. A replayed answer carries
`Idempotent-Replayed: true` and the new request's own X-Request-ID.
"""

from __future__ import annotations

import asyncio

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware

from gateway.body import ParsedBody
from gateway.errors import Unprocessable
from gateway.keys import BODY, POS_DEVICE, REQUEST_ID, ROUTE, SESSION, SOURCE
from gateway.metrics import Metrics
from gateway.resilience.idempotency import (
    HEADER,
    IdempotencyBook,
    Kept,
    definite,
    fingerprint,
    parse_key,
)
from gateway.routes import Route


def _applies(route: Route) -> bool:
    return route.access in ("guest", "pos") and route.action == "forward" and not route.read


def _scope(request: web.Request) -> str | None:
    device = request.get(POS_DEVICE)
    if device is not None:
        return f"pos:{device.name}"
    resolved = request.get(SESSION)
    if resolved is not None:
        return f"guest:{resolved.session.user_id or resolved.session.sid}"
    return None


def _replay(kept: Kept, request_id: str) -> web.Response:
    response = web.Response(status=kept.status, body=kept.body, headers=dict(kept.headers))
    response.headers["X-Request-ID"] = request_id
    response.headers["Idempotent-Replayed"] = "true"
    return response


def make_idempotency_middleware(book: IdempotencyBook, metrics: Metrics) -> Middleware:
    @web.middleware
    async def idempotency(request: web.Request, handler: Handler) -> web.StreamResponse:
        raw = request.headers.get(HEADER)
        match = request.get(ROUTE)
        if raw is None or match is None or not _applies(match.route):
            return await handler(request)
        scope = _scope(request)
        if scope is None:
            return await handler(request)
        key = parse_key(raw)
        doc = request[BODY].doc
        claim_key = f"{scope}\x00{key}"
        print_ = fingerprint(request.method, match.path, request.rel_url.query_string, doc)
        try:
            claim = await book.claim(claim_key, print_)
        except Unprocessable:
            metrics.idempotency.labels("mismatch").inc()
            raise
        if isinstance(claim, Kept):
            metrics.idempotency.labels("replayed").inc()
            return _replay(claim, request[REQUEST_ID])
        if claim is not None:
            metrics.idempotency.labels("joined").inc()
            return _replay(await asyncio.shield(claim), request[REQUEST_ID])
        metrics.idempotency.labels("new").inc()
        if match.route.dedupe and (doc is None or doc.get("external_uid") in (None, "")):
            request[BODY] = ParsedBody({**(doc or {}), "external_uid": key})
        try:
            response = await handler(request)
        except BaseException as exc:
            await asyncio.shield(book.fail(claim_key, exc))
            raise
        body = response.body if isinstance(response, web.Response) else None
        if not isinstance(body, bytes):
            await book.fail(claim_key, RuntimeError("a streamed answer cannot be replayed"))
            return response
        keep = request.get(SOURCE) == "upstream" and definite(
            response.status, response.headers.get("Retry-After")
        )
        await book.finish(claim_key, Kept.of(response.status, response.headers, body), keep=keep)
        return response

    return idempotency
