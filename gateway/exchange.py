"""One request's state, in one slotted object built by the front (Envoy's `StreamInfo`,
OpenResty's `ngx.ctx`): the stages read and set its fields instead of request keys.

Fields are set in the order the stages run: the front (request id, client IP, plan, the
normalised path), then body, POS device or session; the proxy and the error rendering
say whose answer it is (`source`) and which error it was; the rate-limit and cache
stages leave a note for the access log; the upstream client adds its time. With tracing
on, the front sets `trace` (the trace id for the access log and the errors).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aiohttp import web

if TYPE_CHECKING:
    from gateway.config import PosDevice
    from gateway.errors import GatewayError
    from gateway.plan import Plan
    from gateway.sessions import Resolved
    from gateway.store.resp import Prefetch
    from gateway.tracing import Trace


class Exchange:
    __slots__ = (
        "cache_note",
        "client_ip",
        "device",
        "doc",
        "error",
        "limit_note",
        "path",
        "plan",
        "prefetched",
        "request",
        "request_id",
        "session",
        "source",
        "trace",
        "upstream_calls",
        "upstream_seconds",
    )

    def __init__(
        self, request: web.Request, request_id: str, client_ip: str, plan: Plan, path: str
    ) -> None:
        self.request = request
        self.request_id = request_id
        self.client_ip = client_ip
        self.plan = plan
        self.path = path  # the normalised path: what is matched, signed and forwarded
        self.doc: dict[str, Any] | None = None  # the JSON object the frontend sent
        self.session: Resolved | None = None
        self.device: PosDevice | None = None
        self.source = "gateway"  # "upstream" once the answer is Punchh's
        self.error: GatewayError | None = None  # the error the gateway answered with
        self.cache_note = "-"
        self.limit_note = "-"
        self.upstream_seconds = 0.0
        self.upstream_calls = 0
        self.prefetched: Prefetch | None = None  # the cached answer, read with the rate limits
        self.trace: Trace | None = None  # while tracing is on: its trace id (gateway/tracing.py)

    def __repr__(self) -> str:  # never the body, the session or a header: they hold secrets
        return f"Exchange({self.request_id!r}, {self.plan.label!r})"

    def upstream(self, seconds: float) -> None:
        """The upstream client adds each attempt's time (the overhead metric subtracts it)."""
        self.upstream_seconds += seconds
        self.upstream_calls += 1

    def query(self) -> list[tuple[str, str]]:
        return list(self.request.rel_url.query.items()) if self.request.query_string else []
