"""POS device authentication (seed 003): devices, not guests, call the /api/pos routes.

A device sends `Authorization: Token token=<DEVICE_KEY>` (a `btoken` part is ignored);
the gateway maps the key to that store's Punchh location key. Bound to POS routes only.
Sets the exchange's `device`.
Rejects: 403 browser_forbidden for anything a browser sends (Origin, Sec-Fetch-*,
Cookie): a guest look-up by phone must never be reachable from a web page;
401 invalid_device_key for a missing or unknown key.
"""

from __future__ import annotations

import hmac
import re

from aiohttp import web

from gateway.config import PosConfig, PosDevice
from gateway.errors import Forbidden, Unauthorized
from gateway.exchange import Exchange
from gateway.plan import Next, Plan, Stage

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


def make_pos_auth_stage(cfg: PosConfig) -> Stage:
    devices = cfg.devices if cfg.enabled else ()

    def bind(plan: Plan, nxt: Next) -> Next:
        if plan.access != "pos":
            return nxt

        async def pos_auth(ex: Exchange) -> web.StreamResponse:
            headers = ex.request.headers
            if any(name in headers for name in _BROWSER_HEADERS):
                raise Forbidden("POS routes are not served to browsers", code="browser_forbidden")
            key = device_key(headers.get("Authorization"))
            device = find_device(key, devices) if key else None
            if device is None:
                raise Unauthorized("a valid POS device key is required", code="invalid_device_key")
            ex.device = device
            return await nxt(ex)

        return pos_auth

    return bind
