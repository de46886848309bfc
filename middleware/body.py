"""Request body: read once, within the size limit, and parsed as a JSON object.

Sets the exchange's `doc`. Bound to every route that reads a body (not /healthz,
/readyz or the admin pages). Rejects: 413 payload_too_large, 415
unsupported_media_type (a body that is not JSON), 400 invalid_json (malformed) and
400 invalid_body (JSON that is not an object). The connection fails the read itself with
408 body_timeout (slower than `server.body_timeout`) or 400 malformed_request (invalid
chunked framing): gateway/protocol.py.
"""

from __future__ import annotations

import asyncio

from aiohttp import web

from gateway.body import parse_body
from gateway.errors import BadRequest, PayloadTooLarge
from gateway.exchange import Exchange
from gateway.incoming import sent_content_type
from gateway.plan import Next, Plan, Stage


def make_body_stage(max_bytes: int) -> Stage:
    if max_bytes <= 0:
        raise ValueError("max_bytes must be positive")
    too_large = f"request body is larger than {max_bytes} bytes"

    def bind(plan: Plan, nxt: Next) -> Next:
        if not plan.read_body:
            return nxt

        async def body(ex: Exchange) -> web.StreamResponse:
            request = ex.request
            length = request.content_length
            if length is not None and length > max_bytes:
                raise PayloadTooLarge(too_large)
            if length == 0 or (length is None and not request.body_exists):
                return await nxt(ex)  # no body: nothing to read or parse
            try:
                if length is not None and "Content-Encoding" not in request.headers:
                    raw = await request.content.readexactly(length)  # one wait, not two
                else:
                    raw = await request.read()
            except web.HTTPRequestEntityTooLarge:
                raise PayloadTooLarge(too_large) from None
            except asyncio.IncompleteReadError:
                raise BadRequest("the request body ended early", code="invalid_json") from None
            if len(raw) > max_bytes:
                raise PayloadTooLarge(too_large)
            ex.doc = parse_body(raw, sent_content_type(request)).doc
            return await nxt(ex)

        return body

    return bind
