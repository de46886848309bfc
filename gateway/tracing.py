"""Distributed tracing (OpenTelemetry, W3C Trace Context), off unless an OTLP endpoint is set.

Off (no `OTEL_EXPORTER_OTLP_ENDPOINT` / `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`, or
`OTEL_SDK_DISABLED=true`), nothing of OpenTelemetry is imported and the hot path reads one
global, `TRACER is None`. On, every request gets a `Trace` from the front: the frontend's
`traceparent` continued, or a new trace id; its trace id goes in the access log and the
JSON errors, and every attempt to Punchh carries `traceparent` (and `tracestate`).
Sampling is decided here on the ids (gateway/trace_context.py): only a sampled request
enters the SDK (gateway/tracing_sdk.py) for its server span, a client span per upstream
attempt and one per hot-path Redis call. An unsampled one costs a few microseconds
(docs/operators/tracing.md has the numbers); the SDK's own path would cost 7 to 11.

The spans of one request reach the upstream client and the Redis links through CURRENT, a
context variable: those are shared objects that never see the exchange (OpenTelemetry's
own context is a context variable for the same reason).
"""

from __future__ import annotations

import atexit
import logging
import threading
from collections.abc import Awaitable, Callable, Mapping
from contextlib import AbstractContextManager, nullcontext
from contextvars import ContextVar, Token
from random import getrandbits
from typing import TYPE_CHECKING, Any

from aiohttp import web

from gateway.trace_context import (
    clean_tracestate,
    parse_traceparent,
    sampling_from,
    traceparent,
)
from gateway.transports.base import UpstreamRequest, UpstreamResponse

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.trace import Span, Tracer

    from gateway.exchange import Exchange

log = logging.getLogger("gateway.tracing")

TRACER: Tracer | None = None  # the SDK's tracer while tracing is on
CURRENT: ContextVar[Trace | None] = ContextVar("gateway_trace", default=None)
NOTHING: AbstractContextManager[None] = nullcontext()  # what a Redis call enters when off
SHUTDOWN_SECONDS = 2.0  # the most shutdown_tracing waits for the last spans to leave
EXPORT_TIMEOUT_SECONDS = 2.0  # one export to the collector, so shutdown never hangs on it
DEFAULT_SERVICE = "loyalty-gateway"
_sampling = sampling_from(None, None)
_provider: TracerProvider | None = None
_lock = threading.Lock()

Send = Callable[[UpstreamRequest], Awaitable[UpstreamResponse]]


class Trace:
    """One request's place in its trace: the trace id (32 hex digits), the frontend's
    `tracestate`, and, sampled only, the SDK's server span and its context."""

    __slots__ = ("context", "span", "state", "token", "trace_id")

    def __init__(self, trace_id: str, state: str | None) -> None:
        self.trace_id = trace_id
        self.state = state
        self.span: Span | None = None
        self.context: Any = None  # the OpenTelemetry Context holding `span`
        self.token: Token[Trace | None] | None = None


def endpoint_from(env: Mapping[str, str]) -> str | None:
    """The OTLP/HTTP traces URL, or None when tracing is off (the OpenTelemetry
    exporter spec: the signal's own variable as is, or the base one plus v1/traces)."""
    if env.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return None
    if env.get("OTEL_TRACES_EXPORTER", "").strip().lower() == "none":
        return None
    own = env.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "").strip()
    if own:
        return own
    base = env.get("OTEL_EXPORTER_OTLP_ENDPOINT", "").strip()
    return f"{base.rstrip('/')}/v1/traces" if base else None


def start_tracing(env: Mapping[str, str]) -> bool:
    """Tracing on when `env` names an endpoint (see `endpoint_from`); False, and nothing
    imported, when not. Called once per worker process, before the app is made; a
    second call changes nothing. Other OTEL_* variables (headers, batch sizes, resource
    attributes) are read by the SDK from the process environment."""
    global TRACER, _provider, _sampling
    with _lock:
        if TRACER is not None:
            return True
        endpoint = endpoint_from(env)
        if endpoint is None:
            return False
        from gateway import tracing_sdk  # the SDK, imported only now

        service = env.get("OTEL_SERVICE_NAME", "").strip() or DEFAULT_SERVICE
        _sampling = sampling_from(
            env.get("OTEL_TRACES_SAMPLER"), env.get("OTEL_TRACES_SAMPLER_ARG")
        )
        _provider = tracing_sdk.make_provider(endpoint, service, EXPORT_TIMEOUT_SECONDS)
        TRACER = _provider.get_tracer("gateway")
    atexit.register(shutdown_tracing)
    log.info(
        "tracing on",
        extra={
            "endpoint": tracing_sdk.shown(endpoint),
            "service": service,
            "sampler": _sampling.name,
            "ratio": _sampling.bound / (1 << 64),
        },
    )
    return True


def shutdown_tracing(seconds: float = SHUTDOWN_SECONDS) -> None:
    """Send the spans still waiting, for `seconds` at most (a collector that is down
    or slow never holds the exit), then stop tracing."""
    global TRACER, _provider
    with _lock:
        provider, _provider, TRACER = _provider, None, None
    if provider is None:
        return
    closing = threading.Thread(target=provider.shutdown, name="tracing-shutdown", daemon=True)
    closing.start()
    closing.join(seconds)
    if closing.is_alive():
        log.warning("tracing: spans not sent before shutdown", extra={"seconds": seconds})


def begin(request: web.Request, client_ip: str) -> Trace:
    """The request's trace (only while TRACER is set): the frontend's continued when its
    `traceparent` is valid, else a new one; sampled ones get their server span."""
    headers = request.headers
    parent = parse_traceparent(headers.get("traceparent"))
    if parent is None:
        bits = getrandbits(128) or 1
        trace = Trace(f"{bits:032x}", None)
        sampled = _sampling.root(bits)
    else:
        trace = Trace(parent.trace_id, clean_tracestate(headers.getall("tracestate", [])))
        sampled = _sampling.sampled(parent.trace_id, parent)
    if sampled and TRACER is not None:
        from gateway import tracing_sdk

        tracing_sdk.start_server(TRACER, trace, parent, request, client_ip)
    trace.token = CURRENT.set(trace)
    return trace


def finish(trace: Trace, ex: Exchange, status: int) -> None:
    """The request is answered: its server span named by the route template and ended."""
    if trace.token is not None:
        CURRENT.reset(trace.token)
        trace.token = None
    if trace.span is not None:
        from gateway import tracing_sdk

        tracing_sdk.end_server(trace.span, ex, status)


async def attempt(
    send: Send, request: UpstreamRequest, route: str, resend: int, origin: str
) -> UpstreamResponse:
    """One attempt to Punchh with `traceparent`: in a client span of its own when the
    request is sampled (`route`: the call's template, `resend`: 0 for the first attempt,
    `origin`: Punchh's base URL), with the trace id and sampled flag 00 when not."""
    trace = CURRENT.get()
    if trace is None:  # not a request's call (nothing is, today)
        return await send(request)
    if trace.span is None:
        span_id = f"{getrandbits(64) or 1:016x}"
        return await send(
            propagated(request, traceparent(trace.trace_id, span_id, False), trace.state)
        )
    from gateway import tracing_sdk

    assert TRACER is not None
    return await tracing_sdk.traced_attempt(TRACER, trace, send, request, route, resend, origin)


def propagated(request: UpstreamRequest, parent: str, state: str | None) -> UpstreamRequest:
    headers = {**request.headers, "traceparent": parent}
    if state is not None:
        headers["tracestate"] = state
    return UpstreamRequest(request.method, request.target, headers, request.body)


def redis(operation: str, store: str) -> AbstractContextManager[None]:
    """A client span around one Redis call of a sampled request (`operation`: the command,
    `store`: sessions, rate_limit or cache); NOTHING otherwise. Never a key or a value:
    keys hold session ids and guest ids."""
    if TRACER is None:
        return NOTHING
    trace = CURRENT.get()
    if trace is None or trace.span is None:
        return NOTHING
    from gateway import tracing_sdk

    return tracing_sdk.RedisSpan(TRACER, trace, operation, store)
