"""The one place gateway errors become answers: `{"error": {code, message, request_id}}`.

The body also says what became of the request at Punchh: `outcome` is `not_applied`,
`unknown` or `applied` (gateway/errors.py); while tracing is on, `trace_id` names the
request's trace (gateway/tracing.py). Renders GatewayError (its status and code),
aiohttp's own HTTP errors (mapped to codes), and anything unexpected (500
internal_error, logged with its traceback). Sets the exchange's `error` and `source`.
Each gateway-made error is one log line; the message is safe to show and to log.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from aiohttp import web

from gateway import jsonio
from gateway.errors import GatewayError, Outcome
from gateway.exchange import Exchange
from gateway.recent import RecentErrors

_HTTP_CODES = {
    400: "bad_request",
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
    415: "unsupported_media_type",
}

RenderError = Callable[[Exchange, BaseException], web.Response]


def error_response(
    status: int,
    code: str,
    message: str,
    request_id: str,
    headers: dict[str, str] | None = None,
    outcome: Outcome = "not_applied",
    trace_id: str | None = None,
) -> web.Response:
    error = {"code": code, "message": message, "request_id": request_id, "outcome": outcome}
    if trace_id is not None:  # tracing on: what a guest reports leads to the trace
        error["trace_id"] = trace_id
    body = {"error": error}
    response = web.Response(body=jsonio.dumps(body), status=status, headers=headers)
    response.content_type = "application/json"
    return response


def make_error_renderer(logger: logging.Logger, recent: RecentErrors) -> RenderError:
    def render(ex: Exchange, exc: BaseException) -> web.Response:
        headers: dict[str, str]
        outcome: Outcome
        if isinstance(exc, GatewayError):
            ex.error = exc
            status, code, message, headers = exc.status, exc.code, exc.message, exc.headers
            outcome = exc.outcome
        elif isinstance(exc, web.HTTPException) and exc.status >= 400:
            status, code = exc.status, _HTTP_CODES.get(exc.status, "http_error")
            message = exc.reason
            headers = {"Allow": exc.headers["Allow"]} if "Allow" in exc.headers else {}
            outcome = "not_applied"
        else:
            logger.exception("unhandled error", extra={"request_id": ex.request_id}, exc_info=exc)
            status, code, message, headers = 500, "internal_error", "internal error", {}
            outcome = "unknown"  # it may have failed after Punchh answered
        ex.source = "gateway"  # even when Punchh had answered: this answer is ours
        label = ex.plan.label
        recent.add(ex.request_id, label, status, code, message)
        logger.warning(
            "gateway error",
            extra={
                "request_id": ex.request_id,
                "status": status,
                "code": code,
                "method": ex.request.method,
                "route": label,
                "error": message,
                "outcome": outcome,
            },
        )
        trace_id = ex.trace.trace_id if ex.trace is not None else None
        return error_response(status, code, message, ex.request_id, headers, outcome, trace_id)

    return render
