"""The sandbox's error tree; ``pipeline.make_errors_middleware`` renders it as JSON.

Each leaf carries its status and the Punchh-shaped body it answers with::

    SandboxError                          status, body, headers
     ├── BadRequest         400  {"error": "..."}
     ├── BadHeader          400  {"error": "..."} or {"errors": {"header": [...]}} (api2)
     ├── Unauthorized       401  {"error": "..."}
     ├── NotFound           404  {"error": "..."}
     ├── Gone               410  {"error": {"message": "...", "code": "..."}}
     ├── InvalidSignature   412  ["Invalid Signature"] or {"errors": {"invalid_signature": [...]}}
     └── Unprocessable      422  {"errors": {"field": ["...", ...]}}
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any


class SandboxError(Exception):
    """An answer other than success; ``body`` is JSON-ready."""

    status = 500

    def __init__(self, body: Any, *, headers: Mapping[str, str] | None = None) -> None:
        super().__init__(body)
        self.body = body
        self.headers = dict(headers or {})


class BadRequest(SandboxError):
    status = 400

    def __init__(self, message: str) -> None:
        super().__init__({"error": message})


class BadHeader(SandboxError):
    """A required header missing or malformed; the body is the family's (``headers``)."""

    status = 400


class Unauthorized(SandboxError):
    status = 401

    def __init__(self, message: str) -> None:
        super().__init__({"error": message})


class NotFound(SandboxError):
    status = 404

    def __init__(self, message: str) -> None:
        super().__init__({"error": message})


class Gone(SandboxError):
    status = 410

    def __init__(self, message: str, code: str) -> None:
        super().__init__({"error": {"message": message, "code": code}})


class InvalidSignature(SandboxError):
    status = 412


class Unprocessable(SandboxError):
    status = 422

    def __init__(self, errors: Mapping[str, Sequence[str]]) -> None:
        super().__init__({"errors": {field: list(msgs) for field, msgs in errors.items()}})

    @classmethod
    def one(cls, field: str, message: str) -> Unprocessable:
        return cls({field: [message]})
