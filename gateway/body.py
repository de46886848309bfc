"""A frontend's request body as the gateway understands it: a JSON object, or nothing.

400 invalid_json (malformed, or nested deeper than MAX_DEPTH = 32 levels: no frontend
body is; a deeper one would only cost recursion further on), 400 invalid_body (JSON but
not an object),
415 unsupported_media_type (a body that says it is not JSON).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from gateway import jsonio
from gateway.errors import BadRequest, UnsupportedMediaType

MAX_DEPTH = 32


@dataclass(frozen=True, slots=True)
class ParsedBody:
    doc: dict[str, Any] | None  # the JSON object the frontend sent, None when it sent no body


def parse_body(raw: bytes, content_type: str) -> ParsedBody:
    """`content_type` is "" when the frontend sent no Content-Type header."""
    if not raw.strip():
        return ParsedBody(None)
    if content_type not in ("application/json", "") and not content_type.endswith("+json"):
        raise UnsupportedMediaType("request bodies must be application/json")
    try:
        doc = jsonio.loads(raw, max_depth=MAX_DEPTH)
    except (ValueError, UnicodeDecodeError):
        raise BadRequest("request body is not valid JSON", code="invalid_json") from None
    if not isinstance(doc, dict):
        raise BadRequest("request body must be a JSON object", code="invalid_body")
    return ParsedBody(doc)


def compact_json(doc: Any) -> bytes:
    """The one serialisation of bodies sent to Punchh: compact, UTF-8; these bytes are signed."""
    return jsonio.dumps(doc)
