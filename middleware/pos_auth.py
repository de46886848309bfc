"""POS device authentication (seed 003): devices, not guests, call the /api/pos routes.

A device sends `Authorization: Token token=<DEVICE_KEY>` (a `btoken` part is ignored);
the gateway maps the key to that store's Punchh location key. Sets POS_DEVICE.
Rejects: 403 browser_forbidden for anything a browser sends (Origin, Sec-Fetch-*,
Cookie): a guest look-up by phone must never be reachable from a web page;
401 invalid_device_key for a missing or unknown key.
"""

from __future__ import annotations

import hmac
import re

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware

from gateway.config import PosConfig, PosDevice
from gateway.errors import Forbidden, Unauthorized
from gateway.keys import POS_DEVICE, ROUTE

_TOKEN = re.compile(r"\s*Token\s+token=\"?([^\",\s]+)\"?", re.IGNORECASE)
_BROWSER_HEADERS = ("Origin", "Sec-Fetch-Site", "Sec-Fetch-Mode", "Cookie")


def device_key(authorization: str | None) -> str | None:
    if not authorization:
        return None
    found = _TOKEN.match(authorization)
    return found.group(1) if found else None


def find_device(key: str, devices: tuple[PosDevice, ...]) -> PosDevice | None:
    """Compares against every device in constant time per key: no early exit to time."""
    found: PosDevice | None = None
    for device in devices:
        if hmac.compare_digest(device.key.encode(), key.encode()):
            found = device
    return found


def make_pos_auth_middleware(cfg: PosConfig) -> Middleware:
    devices = cfg.devices if cfg.enabled else ()

    @web.middleware
    async def pos_auth(request: web.Request, handler: Handler) -> web.StreamResponse:
        match = request.get(ROUTE)
        if match is None or match.route.access != "pos":
            return await handler(request)
        if any(name in request.headers for name in _BROWSER_HEADERS):
            raise Forbidden("POS routes are not served to browsers", code="browser_forbidden")
        key = device_key(request.headers.get("Authorization"))
        device = find_device(key, devices) if key else None
        if device is None:
            raise Unauthorized("a valid POS device key is required", code="invalid_device_key")
        request[POS_DEVICE] = device
        return await handler(request)

    return pos_auth
