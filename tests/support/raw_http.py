"""Send a request line exactly as written: HTTP clients normalise paths, attackers do not."""

from __future__ import annotations

import asyncio
import json
from typing import Any


async def raw_request(
    host: str, port: int, method: str, target: str, headers: dict[str, str] | None = None
) -> tuple[int, dict[str, str], Any]:
    reader, writer = await asyncio.open_connection(host, port)
    lines = [f"{method} {target} HTTP/1.1", f"Host: {host}:{port}", "Connection: close"]
    lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
    writer.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
    await writer.drain()
    data = await reader.read()
    writer.close()
    await writer.wait_closed()
    head, _, body = data.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    parsed = dict(line.split(": ", 1) for line in header_lines)
    return int(status_line.split()[1]), parsed, json.loads(body) if body else None
