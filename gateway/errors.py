"""The errors the gateway answers itself, rendered once as JSON by the outermost stage.

    GatewayError                    status  code
    ├── BadRequest                  400     bad_request, invalid_json, invalid_body, invalid_path
    │   ├── InvalidIdentifier       400     invalid_identifier
    │   ├── MalformedRequest        400     malformed_request (not HTTP/1.1 aiohttp can parse)
    │   └── HeadersTooLarge         400     headers_too_large (a request line or header too long)
    ├── Unauthorized                401     unauthorized, session_required, invalid_session
    ├── Forbidden                   403     forbidden
    ├── NotFound                    404     not_found
    ├── MethodNotAllowed            405     method_not_allowed
    ├── RequestTimeout              408     body_timeout (the body came too slowly)
    ├── PayloadTooLarge             413     payload_too_large
    ├── UnsupportedMediaType        415     unsupported_media_type
    ├── Conflict                    409     idempotency_key_in_flight
    ├── Unprocessable               422     idempotency_key_reused
    ├── RateLimited                 429     rate_limited
    ├── LimiterUnavailable          503     rate_limiter_unavailable
    ├── UpstreamBusy                503     upstream_busy (Punchh's Retry-After on the route)
    ├── Overloaded                  503     upstream_overloaded (the concurrency cap)
    ├── TooManyConnections          503     overloaded (server.max_connections)
    ├── StoreUnavailable            503     session_store_unavailable
    ├── NotReady                    503     not_ready, draining
    ├── InternalError               500     internal_error
    ├── UpstreamError               502     upstream_unavailable (connect, reset, bad answer)
    ├── UpstreamRetryRefused        502     upstream_retry_refused (a 4xx to a retried write)
    ├── CircuitOpen                 503     upstream_unavailable (the family's breaker is open)
    └── UpstreamTimeout             504     upstream_timeout

Every error also says what became of the request at Punchh (`outcome`):
`not_applied` (Punchh never got it, or refused it), `unknown` (it was sent and the
answer was lost: repeat it only with the same `external_uid` or `Idempotency-Key`), or
`applied` (Punchh applied it; the gateway failed afterwards).
Punchh's own error answers are not GatewayErrors: they pass through unchanged.
Messages never carry secrets or guest tokens.
"""

from __future__ import annotations

from typing import ClassVar, Literal

Outcome = Literal["not_applied", "unknown", "applied"]


class GatewayError(Exception):
    status: ClassVar[int] = 500
    default_code: ClassVar[str] = "internal_error"

    def __init__(
        self, message: str, *, code: str | None = None, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code = code or self.default_code
        self.headers = headers or {}
        self.outcome: Outcome = "not_applied"
        self.sent = False  # did the request leave for Punchh (its errors set it)


class BadRequest(GatewayError):
    status = 400
    default_code = "bad_request"


class InvalidIdentifier(BadRequest):
    """An identifier the abuse budgets are keyed by (an email, a phone) of another JSON
    type than a string (or a number, for a phone): refused before any budget is drawn."""

    default_code = "invalid_identifier"


class MalformedRequest(BadRequest):
    """A request aiohttp's parser refused (request line, header, Content-Length, chunked
    framing): answered by the connection (gateway/protocol.py), never echoing the input."""

    default_code = "malformed_request"


class HeadersTooLarge(BadRequest):
    """A request line or header field longer than aiohttp's limit (8190 bytes)."""

    default_code = "headers_too_large"


class Unauthorized(GatewayError):
    status = 401
    default_code = "unauthorized"


class Forbidden(GatewayError):
    status = 403
    default_code = "forbidden"


class NotFound(GatewayError):
    status = 404
    default_code = "not_found"


class MethodNotAllowed(GatewayError):
    status = 405
    default_code = "method_not_allowed"

    def __init__(self, message: str, *, allowed: tuple[str, ...]) -> None:
        super().__init__(message, headers={"Allow": ", ".join(allowed)})
        self.allowed = allowed


class RequestTimeout(GatewayError):
    """The request body did not arrive within `server.body_timeout`; the connection closes
    after the answer."""

    status = 408
    default_code = "body_timeout"


class PayloadTooLarge(GatewayError):
    status = 413
    default_code = "payload_too_large"


class UnsupportedMediaType(GatewayError):
    status = 415
    default_code = "unsupported_media_type"


class Conflict(GatewayError):
    status = 409
    default_code = "conflict"


class Unprocessable(GatewayError):
    status = 422
    default_code = "unprocessable"


class RateLimited(GatewayError):
    """A rate-limit policy refused the request (`Retry-After`, RateLimit fields)."""

    status = 429
    default_code = "rate_limited"


class LimiterUnavailable(GatewayError):
    """The rate-limit store cannot answer for a policy that fails closed."""

    status = 503
    default_code = "rate_limiter_unavailable"


class UpstreamBusy(GatewayError):
    """Punchh asked for a pause on this route (its 429 or 503 with `Retry-After`)."""

    status = 503
    default_code = "upstream_busy"


class Overloaded(GatewayError):
    """Too many calls to Punchh in flight in this process, and the queue is full."""

    status = 503
    default_code = "upstream_overloaded"


class TooManyConnections(GatewayError):
    """A request on a connection opened beyond `server.max_connections`: only /healthz and
    /readyz are served there, and the connection closes after its answer."""

    status = 503
    default_code = "overloaded"


class StoreUnavailable(GatewayError):
    """The session store cannot answer; nothing is deleted because of it."""

    status = 503
    default_code = "session_store_unavailable"


class NotReady(GatewayError):
    """/readyz before the upstream client is up, or while draining."""

    status = 503
    default_code = "not_ready"


class InternalError(GatewayError):
    status = 500
    default_code = "internal_error"


class UpstreamError(GatewayError):
    """Punchh could not be reached (`sent` false: nothing left the gateway), or dropped the
    connection or answered garbage after the request went out (`sent`: it may have applied)."""

    status = 502
    default_code = "upstream_unavailable"

    def __init__(self, message: str, *, kind: str, sent: bool = True) -> None:
        super().__init__(message)
        self.kind = kind  # connect | reset | protocol | refresh
        self.sent = sent
        self.outcome = "unknown" if sent else "not_applied"


class UpstreamRetryRefused(GatewayError):
    """Punchh refused a retry (a 4xx) of a write whose earlier attempt was sent and may have
    applied: its answer is about the retry, not about the write. Repeat the request later
    with the same `external_uid` or `Idempotency-Key` (Punchh's `Retry-After` is kept)."""

    status = 502
    default_code = "upstream_retry_refused"

    def __init__(self, punchh_status: int, retry_after: str | None) -> None:
        super().__init__(
            f"Punchh answered {punchh_status} to a retry; an earlier attempt may have applied",
            headers={"Retry-After": retry_after} if retry_after else None,
        )
        self.kind = "retry_refused"
        self.sent = True
        self.outcome = "unknown"


class CircuitOpen(GatewayError):
    """The family's circuit breaker is open: answered at once, nothing sent."""

    status = 503
    default_code = "upstream_unavailable"

    def __init__(self, family: str, retry_after: int) -> None:
        super().__init__(
            f"Punchh ({family}) is failing; calls are paused for {retry_after} s",
            headers={"Retry-After": str(retry_after)},
        )
        self.kind = "circuit_open"
        self.sent = False


class UpstreamTimeout(GatewayError):
    """Punchh did not answer in time: before the connection was made (`sent` false), or
    after the request went out (kind `first_byte` or `total`: it may have applied)."""

    status = 504
    default_code = "upstream_timeout"

    def __init__(self, message: str, *, kind: str = "timeout", sent: bool = True) -> None:
        super().__init__(message)
        self.kind = kind  # connect_timeout | first_byte | total
        self.sent = sent
        self.outcome = "unknown" if sent else "not_applied"
