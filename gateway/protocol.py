"""aiohttp's HTTP/1.1 connection held to the gateway's connection policy
(gateway/connections.py): header and body deadlines, the connection cap, aiohttp's own
error answers in the gateway's JSON shape, and `Server: loyalty-gateway` (no versions) on
every answer.

One timer handle per connection, re-armed by moving a deadline (as aiohttp's keep-alive
does): a request costs a float or two, and a connection at most one `call_at` per
`header_timeout`. Subclassing, not patching aiohttp: the RequestHandler hooks
`data_received`, `finish_response` (also turning the router's plain-text answer to a
request target that is not a path, `OPTIONS *`, into JSON), `handle_error` and the
server's `request_factory`; it also reads `_request_count` (to see the parser give up on
a body's framing) and swaps `_request_handler` on over-cap connections.
tests/security/test_slow_clients.py and test_disclosure.py hold it to its contract
against a real gateway process.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, cast

from aiohttp import hdrs, web
from aiohttp.abc import AbstractStreamWriter
from aiohttp.http_parser import RawRequestMessage
from aiohttp.streams import StreamReader
from aiohttp.web_protocol import RequestHandler
from aiohttp.web_request import BaseRequest

from gateway.config import ServerConfig
from gateway.connections import HEALTH, Connections, refusal
from gateway.errors import BadRequest, MalformedRequest, RequestTimeout, TooManyConnections
from middleware.errors import error_response
from middleware.request_id import request_id_for

log = logging.getLogger("gateway")

SERVER = "loyalty-gateway"  # the Server header: no versions (issue 15, finding 9)
_HEAD, _BODY = 0, 1  # what a connection's deadline waits for


def _overloaded(request: BaseRequest) -> web.StreamResponse:
    error = TooManyConnections("too many connections to this gateway process; retry")
    rid = request_id_for(request.headers.get("X-Request-ID"))
    response = error_response(
        error.status, error.code, error.message, rid, {"Retry-After": "1", "X-Request-ID": rid}
    )
    response.force_close()
    return response


def _not_a_path(request: BaseRequest) -> web.StreamResponse:
    error = BadRequest("the request target must be a path", code="invalid_path")
    rid = request_id_for(request.headers.get("X-Request-ID"))
    log.info(
        "request target is not a path",
        extra={"request_id": rid, "status": error.status, "code": error.code},
    )
    return error_response(error.status, error.code, error.message, rid, {"X-Request-ID": rid})


class GatewayProtocol(RequestHandler):
    """aiohttp's HTTP/1.1 connection, with the header and body deadlines and the cap."""

    __slots__ = (
        "_app_handler",
        "_body",
        "_counted",
        "_cut",
        "_deadline",
        "_head_pending",
        "_limits",
        "_open",
        "_phase",
        "_quiet",
        "_timer",
        "_timer_at",
    )

    def __init__(self, manager: web.Server, limits: Connections, **kwargs: Any) -> None:
        super().__init__(manager, **kwargs)
        self._limits = limits
        self._app_handler = manager.request_handler
        self._counted = False
        self._head_pending = False  # the header deadline runs for a next head's first bytes
        self._cut = False  # close right after the current answer, without lingering
        self._open = 0  # requests taken up and not yet answered
        self._body: StreamReader | None = None  # the latest request's body
        self._deadline = 0.0  # 0: no deadline runs
        self._phase = _HEAD  # what the deadline waits for
        self._quiet = True  # not a byte received yet
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at = 0.0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._counted = True
        if not self._limits.admit():
            self._cut = True
            self._request_handler = self._health_only
        super().connection_made(transport)
        self._arm(self._limits.header_timeout, _HEAD)

    def connection_lost(self, exc: BaseException | None) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._counted:
            self._counted = False
            self._limits.release()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        body = self._body
        if body is not None and not body.is_eof():  # more of a body: read, or lingered over
            parsed = self._request_count
            super().data_received(data)
            if self._request_count != parsed and not body.is_eof() and self._open:
                # aiohttp's parser refused the body's framing and queued a 400 behind this
                # request, whose handler would wait for the body in vain: it gets the 400
                self._cut = True
                body.set_exception(MalformedRequest("the request body's framing is invalid"))
            return
        if not data:
            super().data_received(data)
            return
        # The bytes of a next head: between requests, or pipelined behind one in flight (its
        # body all in). The header deadline runs from the first of them until a head is whole.
        self._quiet = False
        if not self._deadline or self._phase == _BODY:  # (a body deadline: that body is in)
            self._arm(self._limits.header_timeout, _HEAD)
            self._head_pending = True
        parsed = self._request_count
        super().data_received(data)
        if self._request_count != parsed and self._open and self._phase == _HEAD:
            self._deadline, self._head_pending = 0.0, False  # whole: it waits for its turn

    def taken(self, payload: StreamReader) -> None:
        """A request's headers are complete and its handling starts (the request factory)."""
        self._open += 1
        self._head_pending = False
        self._body = payload
        if payload.is_eof():
            self._deadline = 0.0
        else:
            self._arm(self._limits.body_timeout, _BODY)

    async def finish_response(
        self, request: BaseRequest, resp: web.StreamResponse, start_time: float | None
    ) -> tuple[web.StreamResponse, bool]:
        self._open -= 1
        if not self._head_pending:  # a pipelined head still partial keeps its deadline
            self._deadline = 0.0
        if self._body is not None and self._body.is_eof():
            self._body = None  # kept only while aiohttp may linger over the rest of it
        if not isinstance(resp, web.StreamResponse):  # a handler that returned nothing
            resp = self.handle_error(request, 500)
        elif isinstance(resp, web.HTTPException) and not request.raw_path.startswith("/"):
            # `OPTIONS *`, `CONNECT host:443`: no route, not even the catch-all, so
            # aiohttp's router answered in plain text; the gateway's JSON shape instead.
            resp = _not_a_path(request)
        resp.headers[hdrs.SERVER] = SERVER
        if self._cut:
            resp.force_close()
        answered = await super().finish_response(request, resp, start_time)
        if self._cut:
            self.force_close()  # no lingering over a body that is not coming
        return answered

    def handle_error(
        self,
        request: BaseRequest,
        status: int = 500,
        exc: BaseException | None = None,
        message: str | None = None,
    ) -> web.StreamResponse:
        """aiohttp's own error answers, in the gateway's JSON shape; `message` (aiohttp's
        text, which quotes the raw request) is neither sent nor logged."""
        if request.writer.output_size > 0:
            raise ConnectionError("an answer was already sent; cannot send an error")
        error = refusal(status, exc)
        rid = request_id_for(None)
        extra = {"request_id": rid, "status": status, "code": error.code}
        if status == 400:
            kind = type(exc).__name__ if exc is not None else "unknown"
            log.info("malformed request", extra={**extra, "kind": kind})
        else:
            log.error("unhandled error", extra=extra, exc_info=exc)
        headers = {"X-Request-ID": rid, "Connection": "close"}  # said even to HTTP/1.0
        # aiohttp's 400s keep their status; anything else it would answer (a 500, a 504 for
        # a timeout escaping a handler) is the gateway's 500 internal_error, status and code
        # agreeing.
        response = error_response(error.status, error.code, error.message, rid, headers)
        response.force_close()
        return response

    async def _health_only(self, request: BaseRequest) -> web.StreamResponse:
        """The request handler of a connection beyond the cap."""
        if request.path in HEALTH:
            return await self._app_handler(request)
        return _overloaded(request)

    def _arm(self, seconds: float, phase: int) -> None:
        deadline = self._loop.time() + seconds
        self._deadline, self._phase = deadline, phase
        if self._timer is None or self._timer_at > deadline:
            if self._timer is not None:
                self._timer.cancel()
            self._timer = self._loop.call_at(deadline, self._expire)
            self._timer_at = deadline

    def _expire(self) -> None:
        self._timer = None
        deadline = self._deadline
        if not deadline or self.transport is None:
            return
        if self._loop.time() < deadline:  # the deadline moved on: wait for it
            self._timer = self._loop.call_at(deadline, self._expire)
            self._timer_at = deadline
            return
        self._deadline = 0.0
        if self._phase == _BODY:
            body = self._body
            if body is not None and not body.is_eof():
                seconds = self._limits.body_timeout
                log.debug("request body timed out", extra={"timeout": seconds})
                self._cut = True
                body.set_exception(
                    RequestTimeout(f"the request body did not arrive within {seconds:g} s")
                )
            return
        log.log(
            logging.DEBUG if self._quiet else logging.INFO,
            "request headers timed out: connection closed",
            extra={"timeout": self._limits.header_timeout, "bytes_received": not self._quiet},
        )
        self.force_close()


class GatewayServer(web.Server):
    """aiohttp's low-level server, built like the app's own, making GatewayProtocols."""

    def __init__(self, plain: web.Server, limits: Connections) -> None:
        self._app_request = plain.request_factory
        super().__init__(
            plain.request_handler,
            request_factory=self._request,
            handler_cancellation=plain.handler_cancellation,
            loop=plain._loop,
            **plain._kwargs,
        )
        self.limits = limits

    def __call__(self) -> GatewayProtocol:
        return GatewayProtocol(self, self.limits, loop=self._loop, **self._kwargs)

    def _request(
        self,
        message: RawRequestMessage,
        payload: StreamReader,
        protocol: RequestHandler,
        writer: AbstractStreamWriter,
        task: asyncio.Task[None],
    ) -> BaseRequest:
        cast(GatewayProtocol, protocol).taken(payload)
        return self._app_request(message, payload, protocol, writer, task)


class GatewayRunner(web.AppRunner):
    """`web.AppRunner` whose server makes GatewayProtocols held to `limits`."""

    __slots__ = ("_limits",)

    def __init__(self, app: web.Application, limits: Connections, **kwargs: Any) -> None:
        super().__init__(app, **kwargs)
        self._limits = limits

    @classmethod
    def serving(cls, app: web.Application, server: ServerConfig, **kwargs: Any) -> GatewayRunner:
        """A runner held to `server`'s deadlines, connection cap and keep-alive idle time."""
        limits = Connections(server.header_timeout, server.body_timeout, server.max_connections)
        return cls(app, limits, keepalive_timeout=server.keepalive_timeout, **kwargs)

    async def _make_server(self) -> web.Server:
        return GatewayServer(await super()._make_server(), self._limits)
