"""Typed app and request keys, in one place, and the per-request view handlers use.

``make_sandbox_app`` sets the app keys (``CONFIG_KEY``, ``STATE_KEY`` and ``CALLS_KEY``
are the primary business's); the pipeline sets ``CHOSEN_KEY`` (the business a Punchh
request names, when the app has several), ``BODY_KEY`` (parsed JSON object) on every
family request and ``STORE_KEY`` (store_number) on POS requests. ``business_of`` and ``ctx``
answer the chosen business, else the primary.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from sandbox.businesses import Business, Businesses
from sandbox.calls import CallCounter
from sandbox.config import SandboxConfig
from sandbox.faults import FaultBook
from sandbox.state import SandboxState

Clock = Callable[[], float]

CONFIG_KEY = web.AppKey("sandbox_config", SandboxConfig)
STATE_KEY = web.AppKey("sandbox_state", SandboxState)
CLOCK_KEY: web.AppKey[Clock] = web.AppKey("sandbox_clock")
FAULTS_KEY = web.AppKey("sandbox_faults", FaultBook)
CALLS_KEY = web.AppKey("sandbox_calls", CallCounter)
BUSINESSES_KEY = web.AppKey("sandbox_businesses", Businesses)

CHOSEN_KEY: web.RequestKey[Business] = web.RequestKey("sandbox_business")
BODY_KEY: web.RequestKey[dict[str, Any]] = web.RequestKey("sandbox_body")
STORE_KEY: web.RequestKey[str] = web.RequestKey("sandbox_store_number")


@dataclass(frozen=True)
class Ctx:
    """What a handler needs: config, state, the request's time and its JSON body."""

    cfg: SandboxConfig
    state: SandboxState
    now: float
    body: dict[str, Any]


def business_of(request: web.Request) -> Business:
    """The business the request is for: the pipeline's choice, else the primary."""
    chosen = request.get(CHOSEN_KEY)
    return chosen if chosen is not None else request.app[BUSINESSES_KEY].primary


def ctx(request: web.Request, chosen: Business | None = None) -> Ctx:
    """Read once per handler; ``now`` is taken from the injected clock here.

    ``chosen`` overrides the request's business (the ``/__sandbox/`` routes' ``?client=``).
    """
    of = chosen if chosen is not None else business_of(request)
    return Ctx(
        cfg=of.cfg,
        state=of.state,
        now=request.app[CLOCK_KEY](),
        body=request.get(BODY_KEY, {}),
    )


def param(request: web.Request, body: dict[str, Any], name: str) -> Any:
    """A parameter from the JSON body, else from the query string (Punchh accepts both)."""
    if name in body:
        return body[name]
    return request.query.get(name)


def json_response(data: Any, status: int = 200) -> web.Response:
    return web.json_response(data, status=status)
