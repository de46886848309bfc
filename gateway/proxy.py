"""The forwarding handler: a chain of named steps from a routed request to Punchh and back.

    build_call     body and query rewritten (client, tokens), encoded, signed, headers
    upstream.send  one call to Punchh (errors become 502/504)
    after_call     login → new session; refresh → new tokens; logout → session ended
    answer         Punchh's status and body, tokens swapped, headers by allowlist

Reads ROUTE, BODY, SESSION, POS_DEVICE, CLIENT_IP, REQUEST_ID set by the middleware.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlencode

from aiohttp import web
from aiohttp.typedefs import Handler

from gateway.config import GatewayConfig
from gateway.errors import GatewayError, UpstreamError
from gateway.headers import client_headers, pos_authorization, upstream_headers
from gateway.keys import BODY, CLIENT_IP, POS_DEVICE, REQUEST_ID, ROUTE, SESSION
from gateway.paths import encode_path
from gateway.sessions import Resolved, SessionManager
from gateway.signing import digest_for
from gateway.translate import (
    rewrite_login,
    rewrite_query,
    rewrite_request_fields,
    scrub,
    take_tokens,
)
from gateway.upstream import UpstreamClient, UpstreamRequest, UpstreamResponse

_BODYLESS = frozenset({"GET", "DELETE", "HEAD"})


def _compact(doc: dict[str, Any]) -> bytes:
    return json.dumps(doc, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def _is_json(resp: UpstreamResponse) -> bool:
    return resp.headers.get("Content-Type", "").split(";")[0].strip().endswith("json")


def _load(resp: UpstreamResponse) -> Any:
    """Punchh's JSON answer; one we cannot read cannot be checked for tokens, so it is a 502."""
    try:
        return json.loads(resp.body)
    except (ValueError, UnicodeDecodeError):
        raise UpstreamError("Punchh sent JSON that could not be read", kind="protocol") from None


def build_payload(
    method: str,
    doc: dict[str, Any] | None,
    query: list[tuple[str, str]],
    *,
    client_id: str | None,
    auth_token: str | None,
    add_auth_token: bool,
) -> tuple[bytes | None, str]:
    """The body bytes and query string Punchh gets. `client` and `authentication_token`
    travel in the JSON body, or in the query of a body-less GET or DELETE (REFERENCE.md)."""
    in_body = doc is not None or (method not in _BODYLESS and client_id is not None)
    if add_auth_token and auth_token:
        if in_body:
            doc = {**(doc or {}), "authentication_token": auth_token}
        else:
            query = [*query, ("authentication_token", auth_token)]
    body = None
    if in_body:
        fields = rewrite_request_fields(doc or {}, client_id=client_id, auth_token=auth_token)
        body = _compact(fields)
    query_client = None if in_body else client_id
    return body, urlencode(rewrite_query(query, client_id=query_client, auth_token=auth_token))


def _authorization(request: web.Request, cfg: GatewayConfig) -> str | None:
    device = request.get(POS_DEVICE)
    if device is not None:
        return pos_authorization(device.location_key.reveal(), cfg.pos.business_key.reveal())
    resolved = request.get(SESSION)
    if resolved is not None and resolved.session.tokens.access_token:
        return f"Bearer {resolved.session.tokens.access_token}"
    return None


def build_call(request: web.Request, cfg: GatewayConfig) -> UpstreamRequest:
    """Everything Punchh will see, decided from plain values; nothing sent yet."""
    match, doc = request[ROUTE], request[BODY].doc
    route = match.route
    resolved = request.get(SESSION)
    tokens = resolved.session.tokens if resolved else None
    if route.action == "refresh" and tokens is not None:
        doc = {**(doc or {}), "refresh_token": tokens.refresh_token or ""}
    body, query = build_payload(
        route.method,
        doc,
        list(request.rel_url.query.items()),
        client_id=None if route.family == "pos" else cfg.punchh.client_id,
        auth_token=(tokens.authentication_token or tokens.access_token) if tokens else None,
        # Without an access token for the Bearer header, the body must carry the user.
        add_auth_token=tokens is not None and not tokens.access_token,
    )
    path = encode_path(match.path)
    secret = cfg.punchh.client_secret.encode()
    headers = upstream_headers(
        request.headers,
        user_agent=cfg.punchh.pos_user_agent if route.family == "pos" else cfg.punchh.user_agent,
        request_id=request[REQUEST_ID],
        client_ip=request[CLIENT_IP],
        has_body=body is not None,
        digest=digest_for(path, query, body or b"", secret, cfg.punchh.digest[route.family]),
        authorization=_authorization(request, cfg),
        id_token=tokens.id_token if tokens else None,
    )
    return UpstreamRequest(route.method, f"{path}?{query}" if query else path, headers, body)


async def after_call(
    request: web.Request, resp: UpstreamResponse, manager: SessionManager, lifetime: int
) -> bytes:
    """Session bookkeeping around the answer; returns the body the frontend may see."""
    route = request[ROUTE].route
    resolved: Resolved | None = request.get(SESSION)
    if route.action == "logout" and resolved is not None:
        await manager.end(resolved.session.sid)
    ok_json = 200 <= resp.status < 300 and _is_json(resp)
    if route.action == "login" and ok_json:
        doc = _load(resp)
        found = take_tokens(doc)
        if found is not None:
            tokens, user_id = found
            _, gateway_token = await manager.create(user_id, tokens)
            return _compact(rewrite_login(doc, gateway_token, lifetime))
    if route.action == "refresh" and resolved is not None:
        if resp.status == 401:
            await manager.end(resolved.session.sid)
        elif ok_json:
            doc = _load(resp)
            found = take_tokens(doc)
            if found is not None:
                updated = await manager.update_tokens(resolved.session, found[0])
                return _compact(rewrite_login(doc, resolved.token, manager.remaining(updated)))
    if resolved is not None:
        return _scrub_body(resp, resolved)
    return resp.body


def _scrub_body(resp: UpstreamResponse, resolved: Resolved) -> bytes:
    secrets_ = resolved.session.tokens.values()
    if not any(t.encode() in resp.body for t in secrets_):
        return resp.body  # the common case: nothing to scrub, no parse
    if not _is_json(resp):
        body = resp.body
        for t in secrets_:
            body = body.replace(t.encode(), b"")
        return body
    return _compact(scrub(_load(resp), resolved.session.tokens, resolved.token))


def make_proxy_handler(
    cfg: GatewayConfig, upstream: UpstreamClient, manager: SessionManager
) -> Handler:
    lifetime = cfg.session.ttl

    async def proxy(request: web.Request) -> web.StreamResponse:
        call = build_call(request, cfg)
        try:
            resp = await upstream.send(call)
        except GatewayError:
            resolved = request.get(SESSION)
            if request[ROUTE].route.action == "logout" and resolved is not None:
                await manager.end(resolved.session.sid)  # the guest asked to leave: they have
            raise
        body = await after_call(request, resp, manager, lifetime)
        return web.Response(
            status=resp.status,
            body=body,
            headers=client_headers(resp.headers, request[REQUEST_ID]),
        )

    return proxy
