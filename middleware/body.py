"""Request body: read once, within the size limit, and parsed as a JSON object.

Sets BODY on routed requests. Rejects: 413 payload_too_large, 415
unsupported_media_type (a body that is not JSON), 400 invalid_json (malformed) and
400 invalid_body (JSON that is not an object).
"""

from __future__ import annotations

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware

from gateway.body import parse_body
from gateway.errors import PayloadTooLarge
from gateway.incoming import sent_content_type
from gateway.keys import BODY, ROUTE


def make_body_middleware(max_bytes: int) -> Middleware:
    if max_bytes <= 0:
        raise ValueError("max_bytes must be positive")
    too_large = f"request body is larger than {max_bytes} bytes"

    @web.middleware
    async def body(request: web.Request, handler: Handler) -> web.StreamResponse:
        if ROUTE not in request:
            return await handler(request)
        if request.content_length is not None and request.content_length > max_bytes:
            raise PayloadTooLarge(too_large)
        try:
            raw = await request.read()
        except web.HTTPRequestEntityTooLarge:
            raise PayloadTooLarge(too_large) from None
        if len(raw) > max_bytes:
            raise PayloadTooLarge(too_large)
        request[BODY] = parse_body(raw, sent_content_type(request))
        return await handler(request)

    return body
