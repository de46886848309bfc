"""The one place gateway errors become answers: `{"error": {code, message, request_id}}`.

The body also says what became of the request at Punchh: `outcome` is `not_applied`,
`unknown` or `applied` (gateway/errors.py). Catches GatewayError (its status and code),
aiohttp's own HTTP errors (mapped to codes), and anything unexpected (500
internal_error, logged with its traceback).
Each gateway-made error is one log line; the message is safe to show and to log.
"""

from __future__ import annotations

import logging

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware

from gateway.errors import GatewayError, Outcome
from gateway.keys import ERROR, REQUEST_ID, SOURCE
from gateway.recent import RecentErrors
from middleware.observe import route_label

_HTTP_CODES = {
    400: "bad_request",
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
    415: "unsupported_media_type",
}


def error_response(
    status: int,
    code: str,
    message: str,
    request_id: str,
    headers: dict[str, str] | None = None,
    outcome: Outcome = "not_applied",
) -> web.Response:
    body = {
        "error": {"code": code, "message": message, "request_id": request_id, "outcome": outcome}
    }
    return web.json_response(body, status=status, headers=headers)


def make_error_middleware(logger: logging.Logger, recent: RecentErrors) -> Middleware:
    @web.middleware
    async def errors(request: web.Request, handler: Handler) -> web.StreamResponse:
        try:
            return await handler(request)
        except GatewayError as exc:
            request[ERROR] = exc
            status, code, message, headers = exc.status, exc.code, exc.message, exc.headers
            outcome = exc.outcome
        except web.HTTPException as exc:
            if exc.status < 400:
                raise
            status, code = exc.status, _HTTP_CODES.get(exc.status, "http_error")
            message = exc.reason
            headers = {"Allow": exc.headers["Allow"]} if "Allow" in exc.headers else {}
            outcome = "not_applied"
        except Exception:
            logger.exception("unhandled error", extra={"request_id": request.get(REQUEST_ID, "")})
            status, code, message, headers = 500, "internal_error", "internal error", {}
            outcome = "unknown"  # it may have failed after Punchh answered
        request[SOURCE] = "gateway"  # even when Punchh had answered: this answer is ours
        rid = request.get(REQUEST_ID, "")
        recent.add(rid, route_label(request), status, code, message)
        logger.warning(
            "gateway error",
            extra={
                "request_id": rid,
                "status": status,
                "code": code,
                "method": request.method,
                "route": route_label(request),
                "error": message,
                "outcome": outcome,
            },
        )
        return error_response(status, code, message, rid, headers, outcome)

    return errors
