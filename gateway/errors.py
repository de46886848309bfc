"""The errors the gateway answers itself, rendered once as JSON by the outermost stage.

    GatewayError                    status  code
    ├── BadRequest                  400     bad_request, invalid_json, invalid_body, invalid_path
    ├── Unauthorized                401     unauthorized, session_required, invalid_session
    ├── Forbidden                   403     forbidden
    ├── NotFound                    404     not_found
    ├── MethodNotAllowed            405     method_not_allowed
    ├── PayloadTooLarge             413     payload_too_large
    ├── UnsupportedMediaType        415     unsupported_media_type
    ├── InternalError               500     internal_error
    ├── UpstreamError               502     upstream_unavailable (connect, reset, bad answer)
    └── UpstreamTimeout             504     upstream_timeout

Punchh's own error answers are not GatewayErrors: they pass through unchanged.
Messages never carry secrets or guest tokens.
"""

from __future__ import annotations

from typing import ClassVar


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


class BadRequest(GatewayError):
    status = 400
    default_code = "bad_request"


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


class PayloadTooLarge(GatewayError):
    status = 413
    default_code = "payload_too_large"


class UnsupportedMediaType(GatewayError):
    status = 415
    default_code = "unsupported_media_type"


class InternalError(GatewayError):
    status = 500
    default_code = "internal_error"


class UpstreamError(GatewayError):
    """Punchh could not be reached, or dropped the connection: the request may not have applied."""

    status = 502
    default_code = "upstream_unavailable"

    def __init__(self, message: str, *, kind: str) -> None:
        super().__init__(message)
        self.kind = kind  # connect | reset | protocol


class UpstreamTimeout(GatewayError):
    status = 504
    default_code = "upstream_timeout"
