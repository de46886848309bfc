"""The request side: what Punchh gets for a routed frontend request, built from plain values.

`client` is always the gateway's own; `authentication_token` is the session's real one;
the body is serialised once, and those bytes and the normalised path are what is signed
and sent. What does not change per request (the secret, the digest algorithm, the
User-Agent, the timeouts) is the route's `CallTemplate`, built once at start-up.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from gateway.body import compact_json
from gateway.config import GatewayConfig
from gateway.exchange import Exchange
from gateway.headers import pos_authorization, upstream_headers
from gateway.paths import encode_path
from gateway.resilience.policy import replayable, route_class
from gateway.routes import Route
from gateway.sessions import Session
from gateway.signing import Signer
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
    travel in the JSON body, or in the query of a body-less GET or DELETE (docs/punchh.md)."""
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
    if not query and query_client is None:
        return body, ""
    return body, urlencode(rewrite_query(query, client_id=query_client, auth_token=auth_token))


@dataclass(frozen=True, slots=True)
class CallTemplate:
    """What every call on one route shares, built once at start-up."""

    family: str
    client_id: str | None  # None for POS: devices' calls carry no `client`
    signer: Signer = field(repr=False)
    user_agent: str
    business_key: str | None = field(default=None, repr=False)  # POS `btoken`
    encoded_path: str | None = None  # the route's path on the wire, when it has no parameter
    spec: CallSpec | None = None  # timeouts by route class; sent again only if it never left
    replay_spec: CallSpec | None = None  # the same, for a call Punchh deduplicates


def call_template(route: Route, cfg: GatewayConfig) -> CallTemplate:
    pos = route.family == "pos"
    timeouts = cfg.resilience.timeouts[route_class(route)]
    return CallTemplate(
        family=route.family,
        client_id=None if pos else cfg.punchh.client_id,
        signer=Signer(cfg.punchh.client_secret.encode(), cfg.punchh.digest[route.family]),
        user_agent=cfg.punchh.pos_user_agent if pos else cfg.punchh.user_agent,
        business_key=cfg.pos.business_key.reveal() if pos else None,
        encoded_path=None if "{" in route.path else encode_path(route.path),
        spec=CallSpec(route.name, route.family, timeouts, route.read, read=route.read),
        replay_spec=CallSpec(route.name, route.family, timeouts, True, read=route.read),
    )


def call_spec(route: Route, template: CallTemplate, doc: dict[str, Any] | None) -> CallSpec:
    """The call's timeouts (by route class) and whether it may be sent again."""
    spec = template.replay_spec if replayable(route, doc) else template.spec
    assert spec is not None
    return spec


def _authorization(ex: Exchange, template: CallTemplate, session: Session | None) -> str | None:
    if ex.device is not None and template.business_key is not None:
        return pos_authorization(ex.device.location_key.reveal(), template.business_key)
    if session is not None and session.tokens.access_token:
        return f"Bearer {session.tokens.access_token}"
    return None


def build_call(
    ex: Exchange, method: str, template: CallTemplate, session: Session | None
) -> UpstreamRequest:
    """Everything Punchh will see, decided from the exchange and the template; nothing sent."""
    tokens = session.tokens if session else None
    body, query = build_payload(
        method,
        ex.doc,
        ex.query(),
        client_id=template.client_id,
        auth_token=(tokens.authentication_token or tokens.access_token) if tokens else None,
        # Without an access token for the Bearer header, the body must carry the user.
        add_auth_token=tokens is not None and not tokens.access_token,
    )
    path = template.encoded_path or encode_path(ex.path)
    headers = upstream_headers(
        ex.request.headers,
        user_agent=template.user_agent,
        request_id=ex.request_id,
        client_ip=ex.client_ip,
        has_body=body is not None,
        digest=template.signer.digest(path, query, body or b""),
        authorization=_authorization(ex, template, session),
        id_token=tokens.id_token if tokens else None,
    )
    return UpstreamRequest(method, f"{path}?{query}" if query else path, headers, body)
