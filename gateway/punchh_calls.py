"""Calls the gateway makes to Punchh on its own behalf: token refresh and sign-out.

Pure builders: a session and the configuration in, an `UpstreamRequest` out, signed like
any other call of its family (docs/punchh.md, "Tokens").
"""

from __future__ import annotations

from gateway.body import compact_json
from gateway.config import GatewayConfig
from gateway.headers import upstream_headers
from gateway.sessions import Session
from gateway.signing import digest_for
from gateway.upstream import CallSpec, UpstreamRequest

REFRESH_PATH = "/api2/password_less/refresh_token"
SIGN_OUT = {  # the sign-in family → Punchh's sign-out for it
    "password_less": ("POST", "/api2/password_less/sign_out"),
    "mobile": ("DELETE", "/api2/mobile/users/logout"),
}


def refreshable(session: Session) -> bool:
    """Advanced Authentication sessions hold a refresh token Punchh documents a refresh for."""
    return session.family == "password_less" and bool(session.tokens.refresh_token)


def _signed(
    cfg: GatewayConfig,
    family: str,
    method: str,
    path: str,
    fields: dict[str, str],
    request_id: str,
    session: Session | None,
) -> UpstreamRequest:
    body = compact_json({**fields, "client": cfg.punchh.client_id})
    secret = cfg.punchh.client_secret.encode()
    tokens = session.tokens if session else None
    headers = upstream_headers(
        {},
        user_agent=cfg.punchh.user_agent,
        request_id=request_id,
        client_ip="",
        has_body=True,
        digest=digest_for(path, "", body, secret, cfg.punchh.digest[family]),
        authorization=f"Bearer {tokens.access_token}" if tokens and tokens.access_token else None,
        id_token=tokens.id_token if tokens else None,
    )
    return UpstreamRequest(method, path, headers, body)


def own_call_spec(cfg: GatewayConfig, method: str, path: str, family: str) -> CallSpec:
    """The gateway's own calls are of the auth class; none is sent again once it left
    (a refresh token may rotate, so a second refresh could fail where the first worked)."""
    return CallSpec(f"{method} {path}", family, cfg.resilience.timeouts["auth"], replayable=False)


def refresh_spec(cfg: GatewayConfig) -> CallSpec:
    return own_call_spec(cfg, "POST", REFRESH_PATH, "password_less")


def sign_out_spec(cfg: GatewayConfig, session: Session) -> CallSpec:
    method, path = SIGN_OUT.get(session.family, ("POST", "/api2/signout"))
    return own_call_spec(cfg, method, path, session.family)


def refresh_request(cfg: GatewayConfig, session: Session, request_id: str) -> UpstreamRequest:
    fields = {"refresh_token": session.tokens.refresh_token or ""}
    return _signed(cfg, "password_less", "POST", REFRESH_PATH, fields, request_id, None)


def sign_out_request(
    cfg: GatewayConfig, session: Session, request_id: str
) -> UpstreamRequest | None:
    """Punchh's sign-out for the session's kind of sign-in; None where Punchh has none."""
    target = SIGN_OUT.get(session.family)
    if target is None:
        return None
    method, path = target
    return _signed(cfg, session.family, method, path, {}, request_id, session)
