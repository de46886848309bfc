"""The session cookie of cookie mode: HttpOnly, Secure, SameSite, Path=/ (RFC 6265bis)."""

from __future__ import annotations

from aiohttp import web

from gateway.config import CookieConfig


def set_session_cookie(
    response: web.StreamResponse, cfg: CookieConfig, token: str, max_age: int
) -> None:
    response.set_cookie(
        cfg.name,
        token,
        max_age=max_age,
        path="/",
        httponly=True,
        secure=cfg.secure,
        samesite=cfg.samesite,
    )


def clear_session_cookie(response: web.StreamResponse, cfg: CookieConfig) -> None:
    response.del_cookie(cfg.name, path="/", secure=cfg.secure, httponly=True, samesite=cfg.samesite)
