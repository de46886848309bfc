"""The OpenTelemetry SDK side of gateway/tracing.py, imported only once tracing is on, and
called only for sampled requests: the provider and its OTLP/HTTP exporter, the spans.

Spans follow the OpenTelemetry HTTP and database semantic conventions. Attributes are
chosen, never copied: route templates (never the raw path or the query, which hold ids
and tokens), methods, status codes, Punchh's host, the client's address and User-Agent,
Redis command names. No header other than User-Agent, no body, no key, no token.
"""

from __future__ import annotations

import logging
import time
from functools import lru_cache
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from aiohttp import web
from opentelemetry.context import Context
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.sdk.trace.id_generator import RandomIdGenerator
from opentelemetry.sdk.trace.sampling import ALWAYS_ON
from opentelemetry.trace import (
    NonRecordingSpan,
    Span,
    SpanContext,
    SpanKind,
    Status,
    StatusCode,
    TraceFlags,
    Tracer,
    TraceState,
    set_span_in_context,
)

from gateway.errors import UpstreamError, UpstreamTimeout
from gateway.trace_context import Parent, traceparent
from gateway.tracing import Send, Trace, propagated
from gateway.transports.base import UpstreamRequest, UpstreamResponse

if TYPE_CHECKING:
    from types import TracebackType

    from gateway.exchange import Exchange

_METHODS = frozenset(
    {"GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH"}
)


class _ChosenIds(RandomIdGenerator):
    """The SDK makes a new trace's id itself; the gateway chose it already (its sampling
    decided on it, and unsampled requests log it too): `chosen` is used once, then random."""

    def __init__(self) -> None:
        self.chosen = 0

    def generate_trace_id(self) -> int:
        chosen, self.chosen = self.chosen, 0
        return chosen or super().generate_trace_id()


_IDS = _ChosenIds()


_NOISY = (  # the loggers of the batch processor and the exporter (filters do not inherit)
    "opentelemetry.sdk._shared_internal",
    "opentelemetry.exporter.otlp.proto.common._internal",  # an attribute it cannot encode
    "opentelemetry.exporter.otlp.common.http",
    "opentelemetry.exporter.otlp.proto.http.trace_exporter",
)


class _Sparse(logging.Filter):
    """One line a minute per message: a collector that is down makes the batch processor
    warn for every span it drops, and the exporter for every batch."""

    def __init__(self, every: float = 60.0) -> None:
        super().__init__()
        self._every = every
        self._last: dict[str, float] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        now, key = time.monotonic(), str(record.msg)
        if now - self._last.get(key, -self._every) < self._every:
            return False
        self._last[key] = now
        return True


def make_provider(endpoint: str, service: str, timeout: float) -> TracerProvider:
    """Every span the gateway starts is recorded (the decision was made before: a span
    is only started for a sampled request); exported in batches from a thread."""
    provider = TracerProvider(
        sampler=ALWAYS_ON,
        resource=Resource.create({"service.name": service}),
        id_generator=_IDS,
        shutdown_on_exit=False,  # tracing.shutdown_tracing, bounded, at exit
    )
    exporter = OTLPSpanExporter(endpoint=endpoint, timeout=timeout)
    provider.add_span_processor(BatchSpanProcessor(exporter))
    for name in _NOISY:
        logger = logging.getLogger(name)
        if not any(isinstance(f, _Sparse) for f in logger.filters):
            logger.addFilter(_Sparse())
    return provider


def shown(endpoint: str) -> str:
    """The endpoint for the log: no user or password."""
    parts = urlsplit(endpoint)
    return f"{parts.scheme}://{parts.hostname}{f':{parts.port}' if parts.port else ''}{parts.path}"


def _method(method: str) -> str:
    return method if method in _METHODS else "_OTHER"


def _host_port(host: str) -> tuple[str, int | None]:
    name, colon, port = host.rpartition(":")
    if colon and port.isdigit():
        return name.strip("[]"), int(port)
    return host.strip("[]"), None


def start_server(
    tracer: Tracer, trace: Trace, parent: Parent | None, request: web.Request, client_ip: str
) -> None:
    if parent is None:
        _IDS.chosen = int(trace.trace_id, 16)
        context = Context()
    else:
        remote = SpanContext(
            int(parent.trace_id, 16),
            int(parent.span_id, 16),
            is_remote=True,
            trace_flags=TraceFlags(TraceFlags.SAMPLED if parent.sampled else TraceFlags.DEFAULT),
            trace_state=TraceState.from_header([trace.state]) if trace.state else None,
        )
        context = set_span_in_context(NonRecordingSpan(remote))
    method = _method(request.method)
    host, port = _host_port(request.host)
    attributes: dict[str, Any] = {
        "http.request.method": method,
        "url.scheme": request.scheme,
        "server.address": _text(host, 255),
        "network.protocol.version": f"{request.version.major}.{request.version.minor}",
        "client.address": client_ip,
    }
    if port is not None:
        attributes["server.port"] = port
    if method == "_OTHER":
        attributes["http.request.method_original"] = _text(request.method, 32)
    agent = request.headers.get("User-Agent")
    if agent:
        attributes["user_agent.original"] = _text(agent, 256)
    span = tracer.start_span(method, context, SpanKind.SERVER, attributes)
    trace.span, trace.context = span, set_span_in_context(span)


def _text(value: str, limit: int) -> str:
    """A client's header as an attribute: at most `limit` characters, and UTF-8 that can be
    encoded (aiohttp hands bytes that are not text over as surrogates, which the exporter
    would refuse, logging an error for every such request)."""
    return value[:limit].encode("utf-8", "replace").decode("utf-8")


def end_server(span: Span, ex: Exchange, status: int) -> None:
    """Named by the route template ("POST /api2/mobile/checkins"), or the method alone
    for a path no route matched: never the raw path."""
    plan = ex.plan
    _, space, template = plan.label.partition(" ")
    if space and template.startswith("/"):
        span.update_name(plan.label)
        span.set_attribute("http.route", template)
        span.set_attribute("url.path", template)
    span.set_attribute("http.response.status_code", status)
    if plan.business:
        span.set_attribute("gateway.business", plan.business)
    span.set_attribute("gateway.source", ex.source)
    if ex.error is not None:
        span.set_attribute("gateway.error.code", ex.error.code)
    if status >= 500:
        span.set_attribute("error.type", ex.error.code if ex.error is not None else str(status))
        span.set_status(Status(StatusCode.ERROR))
    span.end()


@lru_cache(maxsize=64)
def _origin(base_url: str) -> tuple[str, int]:
    parts = urlsplit(base_url)
    return parts.hostname or "", parts.port or (443 if parts.scheme == "https" else 80)


async def traced_attempt(
    tracer: Tracer,
    trace: Trace,
    send: Send,
    request: UpstreamRequest,
    route: str,
    resend: int,
    origin: str,
) -> UpstreamResponse:
    """A CLIENT span over one attempt, its id in the `traceparent` Punchh gets."""
    method = _method(request.method)
    host, port = _origin(origin)
    attributes: dict[str, Any] = {
        "http.request.method": method,
        "server.address": _text(host, 255),
        "server.port": port,
    }
    if route:
        attributes["url.template"] = route.partition(" ")[2]
    if resend:
        attributes["http.request.resend_count"] = resend
    span = tracer.start_span(route or method, trace.context, SpanKind.CLIENT, attributes)
    parent = traceparent(trace.trace_id, f"{span.get_span_context().span_id:016x}", True)
    try:
        response = await send(propagated(request, parent, trace.state))
    except (UpstreamError, UpstreamTimeout) as exc:
        _failed(span, exc.kind)
        raise
    except BaseException as exc:  # cancelled, or refused by the concurrency cap
        _failed(span, type(exc).__qualname__)
        raise
    span.set_attribute("http.response.status_code", response.status)
    if response.status >= 400:
        _failed(span, str(response.status))
    else:
        span.end()
    return response


def _failed(span: Span, kind: str) -> None:
    span.set_attribute("error.type", kind)
    span.set_status(Status(StatusCode.ERROR))
    span.end()


class RedisSpan:
    """A CLIENT span over one Redis call (database semantic conventions, Redis)."""

    __slots__ = ("_span",)

    def __init__(self, tracer: Tracer, trace: Trace, operation: str, store: str) -> None:
        attributes = {
            "db.system.name": "redis",
            "db.operation.name": operation,
            "gateway.store": store,
        }
        self._span = tracer.start_span(operation, trace.context, SpanKind.CLIENT, attributes)

    def __enter__(self) -> None:
        return None

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if kind is not None:
            _failed(self._span, kind.__qualname__)
        else:
            self._span.end()
