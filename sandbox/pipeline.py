"""The request checks Punchh makes before any handler runs, one middleware each.

With several businesses, a first stage (business, before calls and faults) chooses the
one a request is for and sets ``CHOSEN_KEY``: the ``client`` of the JSON body, else of the
query (not on POS), or the ``btoken`` of a POS ``Token`` header; the primary when neither
names a known business, so its checks give today's answers (a malformed body names none:
only the query's ``client`` counts). Every check below uses the chosen business's config.
With one business that stage is left out.
In ``app.py`` order: errors (renders ``SandboxError`` and 404/405 as JSON) -> headers
(400, ``headers.header_problem``: Accept, Content-Type on a body, User-Agent in
``Name/Type/Version`` form) -> signature (412, per-family algorithm and body) -> body
(400 on malformed JSON; sets ``BODY_KEY`` unless the business stage did) -> client (401
unless the body's or the query's ``client`` is the client id; not on POS) -> POS key (401
unless the ``Token`` header names the business key and a known location; ``STORE_KEY``).
Paths outside every family (``signing.family_for_path`` is None) and ``/__sandbox/``
routes skip all checks.
"""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware

from sandbox.auth import parse_token_authorization, pos_store_number
from sandbox.businesses import Businesses
from sandbox.context import BODY_KEY, CHOSEN_KEY, STORE_KEY, business_of
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


def make_business_middleware(businesses: Businesses) -> Middleware:
    @web.middleware
    async def business(request: web.Request, handler: Handler) -> web.StreamResponse:
        family = _checked_family(request)
        chosen = None
        if family == "pos":
            pairs = parse_token_authorization(request.headers.get("Authorization")) or {}
            chosen = businesses.by_business_key(pairs.get("btoken"))
        elif family is not None:
            chosen = businesses.by_client_id(await _named_client(request))
        request[CHOSEN_KEY] = businesses.primary if chosen is None else chosen
        return await handler(request)

    return business


async def _named_client(request: web.Request) -> object:
    """The ``client`` the client stage will check; parses the body once for the body stage."""
    try:
        data = parse_body(await request.read())
    except BadRequest:
        return request.query.get("client")  # the body stage answers 400, after the signature
    request[BODY_KEY] = data
    return data["client"] if "client" in data else request.query.get("client")


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


def make_signature_middleware() -> Middleware:
    @web.middleware
    async def signature(request: web.Request, handler: Handler) -> web.StreamResponse:
        family = _checked_family(request)
        if family is not None:
            cfg = business_of(request).cfg
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
        if _checked_family(request) and BODY_KEY not in request:
            request[BODY_KEY] = parse_body(await request.read())
        return await handler(request)

    return body


def make_client_middleware() -> Middleware:
    @web.middleware
    async def client(request: web.Request, handler: Handler) -> web.StreamResponse:
        family = _checked_family(request)
        if family is not None and family != "pos":
            data = request.get(BODY_KEY, {})
            given = data["client"] if "client" in data else request.query.get("client")
            if given != business_of(request).cfg.client_id:
                raise Unauthorized("Invalid client")
        return await handler(request)

    return client


def make_pos_key_middleware() -> Middleware:
    @web.middleware
    async def pos_key(request: web.Request, handler: Handler) -> web.StreamResponse:
        if _checked_family(request) == "pos":
            cfg = business_of(request).cfg
            store = pos_store_number(
                request.headers.get("Authorization"), cfg.business_key, cfg.location_keys
            )
            if store is None:
                raise Unauthorized("Unauthorized")
            request[STORE_KEY] = store
        return await handler(request)

    return pos_key
