"""The request side: what Punchh gets for a routed frontend request, built from plain values.

`client` is always the gateway's own; `authentication_token` is the session's real one;
the body is serialised once, and those bytes and the normalised path are what is signed
and sent. Reads ROUTE, BODY, POS_DEVICE, CLIENT_IP and REQUEST_ID.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from aiohttp import web

from gateway.body import compact_json
from gateway.config import GatewayConfig
from gateway.headers import pos_authorization, upstream_headers
from gateway.keys import BODY, CLIENT_IP, POS_DEVICE, REQUEST_ID, ROUTE
from gateway.paths import encode_path
from gateway.resilience.policy import spec_for
from gateway.sessions import Session
from gateway.signing import digest_for
from gateway.translate import rewrite_query, rewrite_request_fields
from gateway.upstream import CallSpec, UpstreamRequest

_BODYLESS = frozenset({"GET", "DELETE", "HEAD"})


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
        body = compact_json(fields)
    query_client = None if in_body else client_id
    return body, urlencode(rewrite_query(query, client_id=query_client, auth_token=auth_token))


def _authorization(request: web.Request, cfg: GatewayConfig, session: Session | None) -> str | None:
    device = request.get(POS_DEVICE)
    if device is not None:
        return pos_authorization(device.location_key.reveal(), cfg.pos.business_key.reveal())
    if session is not None and session.tokens.access_token:
        return f"Bearer {session.tokens.access_token}"
    return None


def build_call(
    request: web.Request, cfg: GatewayConfig, session: Session | None
) -> UpstreamRequest:
    """Everything Punchh will see, decided from plain values; nothing sent yet."""
    match, doc = request[ROUTE], request[BODY].doc
    route = match.route
    tokens = session.tokens if session else None
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
        authorization=_authorization(request, cfg, session),
        id_token=tokens.id_token if tokens else None,
    )
    return UpstreamRequest(route.method, f"{path}?{query}" if query else path, headers, body)


def call_spec(request: web.Request, cfg: GatewayConfig) -> CallSpec:
    """The call's timeouts (by route class) and whether it may be sent again."""
    return spec_for(request[ROUTE].route, request[BODY].doc, cfg.resilience.timeouts)
