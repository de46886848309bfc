"""An OTLP/HTTP trace receiver on 127.0.0.1, as a collector would be (the OTLP spec,
"OTLP/HTTP"): POST /v1/traces with a protobuf `ExportTraceServiceRequest`, answered with an
`ExportTraceServiceResponse`. The spans are decoded (`opentelemetry-proto`) into plain
`Received` values for the tests to look at.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from google.protobuf.message import DecodeError
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue

KINDS = {1: "internal", 2: "server", 3: "client", 4: "producer", 5: "consumer"}


@dataclass(frozen=True)
class Received:
    name: str
    kind: str
    trace_id: str  # hex, as in traceparent
    span_id: str
    parent_id: str  # "" for a root span
    attributes: dict[str, Any]
    error: bool  # status code ERROR
    service: str  # the resource's service.name

    @property
    def values(self) -> list[str]:
        """Every attribute value as text, for scans for secrets."""
        return [str(v) for v in self.attributes.values()]


def _value(value: AnyValue) -> Any:
    which = value.WhichOneof("value")
    if which == "array_value":
        return [_value(v) for v in value.array_value.values]
    return getattr(value, which) if which else None


@dataclass
class OtlpReceiver:
    url: str = ""  # the base URL, as OTEL_EXPORTER_OTLP_ENDPOINT
    spans: list[Received] = field(default_factory=list)
    requests: int = 0

    async def handle(self, request: web.Request) -> web.Response:
        if request.content_type != "application/x-protobuf":
            return web.Response(status=415)
        export = ExportTraceServiceRequest()
        try:
            export.ParseFromString(await request.read())
        except DecodeError:
            return web.Response(status=400)
        self.requests += 1
        for resource_spans in export.resource_spans:
            resource = {a.key: _value(a.value) for a in resource_spans.resource.attributes}
            for scope in resource_spans.scope_spans:
                for span in scope.spans:
                    self.spans.append(
                        Received(
                            name=span.name,
                            kind=KINDS.get(span.kind, str(span.kind)),
                            trace_id=span.trace_id.hex(),
                            span_id=span.span_id.hex(),
                            parent_id=span.parent_span_id.hex(),
                            attributes={a.key: _value(a.value) for a in span.attributes},
                            error=span.status.code == 2,
                            service=str(resource.get("service.name", "")),
                        )
                    )
        body = ExportTraceServiceResponse().SerializeToString()
        return web.Response(body=body, content_type="application/x-protobuf")

    def trace(self, trace_id: str) -> list[Received]:
        return [s for s in self.spans if s.trace_id == trace_id]

    async def wait_for(self, trace_id: str, count: int, within: float = 10.0) -> list[Received]:
        """The spans of `trace_id` once at least `count` have arrived."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        while len(self.trace(trace_id)) < count:
            if loop.time() > deadline:
                raise AssertionError(f"{count} spans of {trace_id} expected: {self.spans}")
            await asyncio.sleep(0.02)
        return self.trace(trace_id)


@asynccontextmanager
async def otlp_receiver() -> AsyncIterator[OtlpReceiver]:
    receiver = OtlpReceiver()
    app = web.Application()
    app.router.add_post("/v1/traces", receiver.handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    receiver.url = f"http://{host}:{port}"
    try:
        yield receiver
    finally:
        await runner.cleanup()
