"""The request checks Punchh makes before any handler runs, one middleware each.

In ``app.py`` order: errors (renders ``SandboxError`` and 404/405 as JSON) -> headers
(400, ``headers.header_problem``: Accept, Content-Type on a body, User-Agent in
``Name/Type/Version`` form) -> signature (412, per-family algorithm and body) -> body
(400 on malformed JSON; sets ``BODY_KEY``) -> client (401 unless the body's or the query's
``client`` is the client id; not on POS) -> POS key (401 unless the ``Token`` header names
the business key and a known location; sets ``STORE_KEY``).
Paths outside every family (``signing.family_for_path`` is None) and ``/__sandbox/``
routes skip all checks.
"""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware

from sandbox.auth import pos_store_number
from sandbox.config import SandboxConfig
from sandbox.context import BODY_KEY, STORE_KEY
from sandbox.errors import BadHeader, BadRequest, InvalidSignature, SandboxError, Unauthorized
from sandbox.headers import bad_header_body, header_problem
from sandbox.signing import (
    Family,
    algorithm_for,
    family_for_path,
    invalid_signature_body,
    signature_ok,
    signed_message,
)


def _checked_family(request: web.Request) -> Family | None:
    family = family_for_path(request.path)
    return None if family == "sandbox" else family


def make_errors_middleware() -> Middleware:
    @web.middleware
    async def errors(request: web.Request, handler: Handler) -> web.StreamResponse:
        try:
            return await handler(request)
        except SandboxError as exc:
            return web.json_response(exc.body, status=exc.status, headers=exc.headers)
        except (web.HTTPNotFound, web.HTTPMethodNotAllowed) as exc:
            return web.json_response({"error": exc.reason}, status=exc.status)

    return errors


def make_headers_middleware() -> Middleware:
    @web.middleware
    async def headers(request: web.Request, handler: Handler) -> web.StreamResponse:
        family = _checked_family(request)
        if family is not None:
            problem = header_problem(request.headers, has_body=bool(await request.read()))
            if problem is not None:
                raise BadHeader(bad_header_body(family, *problem))
        return await handler(request)

    return headers


def make_signature_middleware(cfg: SandboxConfig) -> Middleware:
    @web.middleware
    async def signature(request: web.Request, handler: Handler) -> web.StreamResponse:
        family = _checked_family(request)
        if family is not None:
            algorithm = algorithm_for(family, cfg)
            message = signed_message(request.raw_path, await request.read())
            given = request.headers.get("x-pch-digest")
            if not signature_ok(given, message, cfg.client_secret, algorithm):
                raise InvalidSignature(invalid_signature_body(family))
        return await handler(request)

    return signature


def parse_body(raw: bytes) -> dict[str, Any]:
    """The JSON object of a body; {} when empty; ``BadRequest`` for anything else."""
    if not raw.strip():
        return {}
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise BadRequest("Malformed JSON body") from exc
    if not isinstance(data, dict):
        raise BadRequest("The JSON body must be an object")
    return data


def make_body_middleware() -> Middleware:
    @web.middleware
    async def body(request: web.Request, handler: Handler) -> web.StreamResponse:
        if _checked_family(request):
            request[BODY_KEY] = parse_body(await request.read())
        return await handler(request)

    return body


def make_client_middleware(cfg: SandboxConfig) -> Middleware:
    @web.middleware
    async def client(request: web.Request, handler: Handler) -> web.StreamResponse:
        family = _checked_family(request)
        if family is not None and family != "pos":
            data = request.get(BODY_KEY, {})
            given = data["client"] if "client" in data else request.query.get("client")
            if given != cfg.client_id:
                raise Unauthorized("Invalid client")
        return await handler(request)

    return client


def make_pos_key_middleware(cfg: SandboxConfig) -> Middleware:
    @web.middleware
    async def pos_key(request: web.Request, handler: Handler) -> web.StreamResponse:
        if _checked_family(request) == "pos":
            store = pos_store_number(
                request.headers.get("Authorization"), cfg.business_key, cfg.location_keys
            )
            if store is None:
                raise Unauthorized("Unauthorized")
            request[STORE_KEY] = store
        return await handler(request)

    return pos_key
