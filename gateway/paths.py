"""Path normalisation before route matching (RFC 3986 §6.2.2, §5.2.4).

The gateway matches, and forwards, only the normalised path, never the raw one,
so a trick that changes meaning after matching has nothing to act on.
Rejected outright (400 invalid_path): encoded or literal backslashes, encoded
slashes, control characters, double encoding, and dot segments above the root.
"""

from __future__ import annotations

import re
from urllib.parse import quote, unquote

_PCT = re.compile(r"%([0-9A-Fa-f]{2})")
_BAD_PCT = re.compile(r"%(?![0-9A-Fa-f]{2})")
# Characters a path segment may hold after decoding: RFC 3986 pchar minus "%".
_SAFE = "-._~!$&'()*+,;=:@"


class InvalidPath(ValueError):
    """The path cannot be normalised without guessing what it means."""


def normalise_path(raw: str) -> str:
    """`raw` is the request target's path (no query), still percent-encoded."""
    if not raw.startswith("/"):
        raise InvalidPath("path must start with '/'")
    if _BAD_PCT.search(raw):
        raise InvalidPath("malformed percent-encoding")
    for code in _PCT.findall(raw):
        if code.upper() in ("2F", "5C"):
            raise InvalidPath("encoded slash or backslash")
    try:
        decoded = unquote(raw, errors="strict")
    except UnicodeDecodeError:
        raise InvalidPath("percent-encoding is not UTF-8") from None
    if "%" in decoded:
        raise InvalidPath("double percent-encoding")
    if "\\" in decoded or any(ord(c) < 0x20 or ord(c) == 0x7F for c in decoded):
        raise InvalidPath("backslash or control character")
    segments: list[str] = []
    for segment in decoded.split("/")[1:]:
        if segment in ("", "."):
            continue
        if segment == "..":
            if not segments:
                raise InvalidPath("dot segment above the root")
            segments.pop()
            continue
        segments.append(segment)
    # Empty segments merge (no double slashes) and a trailing slash is dropped.
    return "/" + "/".join(segments)


def encode_path(path: str) -> str:
    """Percent-encode a normalised path for the wire, byte for byte what gets signed."""
    return quote(path, safe="/" + _SAFE)
