"""Builds the sandbox: an aiohttp app emulating the Punchh API over in-memory state.

All state hangs off the app (``context.*_KEY``), never module globals, so two apps in one
process share nothing. Time comes only from the injected ``clock``.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from aiohttp import web

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
from sandbox.calls import CallCounter, make_calls_middleware
from sandbox.config import SandboxConfig
from sandbox.context import CALLS_KEY, CLOCK_KEY, CONFIG_KEY, FAULTS_KEY, STATE_KEY
from sandbox.faults import FaultBook, make_faults_middleware
from sandbox.pipeline import (
    make_body_middleware,
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


def make_sandbox_app(
    cfg: SandboxConfig, *, clock: Callable[[], float] = time.time
) -> web.Application:
    calls, faults, state = CallCounter(), FaultBook(), SandboxState()
    app = web.Application(
        middlewares=[
            make_calls_middleware(calls),  # count "METHOD /path" of every family request
            make_faults_middleware(faults, state),  # latency / status / drop / token echo
            make_errors_middleware(),  # SandboxError and 404/405 -> Punchh-shaped JSON
            make_headers_middleware(),  # 400: Accept, Content-Type, User-Agent (headers.py)
            make_signature_middleware(cfg),  # 412 on a bad x-pch-digest
            make_body_middleware(),  # 400 on malformed JSON; BODY_KEY
            make_client_middleware(cfg),  # 401 on a wrong client (not POS)
            make_pos_key_middleware(cfg),  # 401 on bad POS keys; STORE_KEY
        ]
    )
    app[CONFIG_KEY] = cfg
    app[STATE_KEY] = state
    app[CLOCK_KEY] = clock
    app[FAULTS_KEY] = faults
    app[CALLS_KEY] = calls
    for table in ROUTE_TABLES:
        app.router.add_routes(table)
    return app
