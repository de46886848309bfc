"""Header hygiene, both ways, by allowlist.

Up: Punchh gets the headers the gateway builds (docs/punchh.md, "Required headers")
plus a short list copied from the frontend. A frontend's `Authorization`,
`id-token`, `x-pch-digest`, `Cookie` and `X-Forwarded-*` are never copied: the
gateway sets its own. Down: only end-to-end headers that describe the body.
"""

from __future__ import annotations

from collections.abc import Mapping

from multidict import CIMultiDict

# Copied from the frontend as sent: device and channel markers Punchh reads (docs/punchh.md).
FORWARDED_FROM_CLIENT = ("punchh-app-device-id", "client-type", "accept-language")

# Copied from Punchh's answer to the frontend.
FORWARDED_TO_CLIENT = (
    "Content-Type",
    "Cache-Control",
    "ETag",
    "Last-Modified",
    "Expires",
    "Retry-After",
    "Content-Language",
)


def upstream_headers(
    client: Mapping[str, str],
    *,
    user_agent: str,
    request_id: str,
    client_ip: str,
    has_body: bool,
    digest: str | None,
    authorization: str | None,
    id_token: str | None,
) -> dict[str, str]:
    headers = {
        "Accept": "application/json",
        "User-Agent": user_agent,
        "X-Request-ID": request_id,
    }
    for name in FORWARDED_FROM_CLIENT:
        value = client.get(name)
        if value is not None:
            headers[name] = value
    if has_body:
        headers["Content-Type"] = "application/json"
    if client_ip:
        # Punchh asks proxy partners to forward the true client IP; only ours, never the chain.
        headers["X-Forwarded-For"] = client_ip
    if digest is not None:
        headers["x-pch-digest"] = digest
    if authorization is not None:
        headers["Authorization"] = authorization
    if id_token is not None:
        headers["id-token"] = id_token
    return headers


def client_headers(upstream: Mapping[str, str], request_id: str) -> CIMultiDict[str]:
    """A CIMultiDict, which aiohttp's Response takes as it is."""
    headers = CIMultiDict(
        (name, upstream[name]) for name in FORWARDED_TO_CLIENT if name in upstream
    )
    headers["X-Request-ID"] = request_id
    return headers


def pos_authorization(location_key: str, business_key: str) -> str:
    """POS family (docs/punchh.md): `Token token=<LOCATION_KEY>, btoken=<BUSINESS_KEY>`."""
    return f"Token token={location_key}, btoken={business_key}"
