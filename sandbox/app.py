"""Builds the sandbox: an aiohttp app emulating Punchh businesses over in-memory state.

One config emulates one business; a sequence emulates several on one port, each with its
own config, state and call counts (``sandbox.businesses``; ``ValueError`` when two share
a client id, business key or location key). The first is the primary: ``CONFIG_KEY``,
``STATE_KEY`` and ``CALLS_KEY`` are its. A Punchh request is for the business its
``client`` (or, on POS, its ``btoken``) names, else the primary (``pipeline``); the
``/__sandbox/`` routes take ``?client=`` (``handlers_sandbox``). Fault rules are shared.
All state hangs off the app, never module globals, so two apps in one process share
nothing. Time comes only from the injected ``clock``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

from aiohttp import web
from aiohttp.typedefs import Middleware

from sandbox import (
    handlers_auth,
    handlers_checkins,
    handlers_discounts,
    handlers_history,
    handlers_mobile,
    handlers_otp,
    handlers_pos,
    handlers_receipts,
    handlers_redemptions,
    handlers_sandbox,
)
from sandbox.businesses import Businesses
from sandbox.calls import CallCounter, make_calls_middleware
from sandbox.config import SandboxConfig
from sandbox.context import (
    BUSINESSES_KEY,
    CALLS_KEY,
    CLOCK_KEY,
    CONFIG_KEY,
    FAULTS_KEY,
    STATE_KEY,
    business_of,
)
from sandbox.faults import FaultBook, make_faults_middleware
from sandbox.pipeline import (
    make_body_middleware,
    make_business_middleware,
    make_client_middleware,
    make_errors_middleware,
    make_headers_middleware,
    make_pos_key_middleware,
    make_signature_middleware,
)
from sandbox.state import SandboxState

ROUTE_TABLES = (
    handlers_auth.routes,
    handlers_checkins.routes,
    handlers_redemptions.routes,
    handlers_discounts.routes,
    handlers_history.routes,
    handlers_otp.routes,
    handlers_mobile.routes,
    handlers_pos.routes,
    handlers_receipts.routes,
    handlers_sandbox.routes,
)


def _calls_of(request: web.Request) -> CallCounter:
    return business_of(request).calls


def _state_of(request: web.Request) -> SandboxState:
    return business_of(request).state


def make_sandbox_app(
    cfg: SandboxConfig | Sequence[SandboxConfig], *, clock: Callable[[], float] = time.time
) -> web.Application:
    businesses, faults = Businesses(cfg), FaultBook()
    # With one business every request is the primary's: no stage to choose it.
    choose: list[Middleware] = []
    if len(businesses.all) > 1:
        choose.append(make_business_middleware(businesses))  # CHOSEN_KEY: client / btoken
    app = web.Application(
        middlewares=[
            *choose,
            make_calls_middleware(_calls_of),  # count "METHOD /path" of every family request
            make_faults_middleware(faults, _state_of),  # latency / status / drop / token echo
            make_errors_middleware(),  # SandboxError and 404/405 -> Punchh-shaped JSON
            make_headers_middleware(),  # 400: Accept, Content-Type, User-Agent (headers.py)
            make_signature_middleware(),  # 412 on a bad x-pch-digest
            make_body_middleware(),  # 400 on malformed JSON; BODY_KEY
            make_client_middleware(),  # 401 on a wrong client (not POS)
            make_pos_key_middleware(),  # 401 on bad POS keys; STORE_KEY
        ]
    )
    primary = businesses.primary
    app[BUSINESSES_KEY] = businesses
    app[CONFIG_KEY] = primary.cfg
    app[STATE_KEY] = primary.state
    app[CALLS_KEY] = primary.calls
    app[CLOCK_KEY] = clock
    app[FAULTS_KEY] = faults
    for table in ROUTE_TABLES:
        app.router.add_routes(table)
    return app
