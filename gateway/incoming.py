"""What a frontend request says, read the same way wherever the gateway reads it."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from gateway.translate import presented_token


def sent_content_type(request: web.Request) -> str:
    """The Content-Type the frontend sent, or "" when it sent none (aiohttp would say
    application/octet-stream)."""
    return request.content_type if "Content-Type" in request.headers else ""


def request_token(request: web.Request, doc: Any, cookie_name: str | None) -> str | None:
    """The gateway token, wherever the frontend put it; the cookie only in cookie mode."""
    return presented_token(
        request.headers.get("Authorization"),
        doc,
        list(request.rel_url.query.items()),
        request.cookies.get(cookie_name) if cookie_name else None,
    )
