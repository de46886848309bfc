"""A fake Punchh that records what reaches it and checks x-pch-digest byte for byte.

A real aiohttp app served on 127.0.0.1. Its signature check is written apart from the
gateway's (hmac over raw path + raw query + raw body) so the two cannot share a bug.
Replies are scripted per (method, path); the default echoes what arrived.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from multidict import CIMultiDict


@dataclass
class Seen:
    method: str
    raw_path: str  # path and query exactly as received
    headers: CIMultiDict[str]
    body: bytes

    @property
    def path(self) -> str:
        return self.raw_path.partition("?")[0]

    @property
    def query(self) -> str:
        return self.raw_path.partition("?")[2]

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Reply:
    status: int = 200
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    raw: bytes | None = None  # sent as is, labelled application/json
    times: int | None = None  # answers this many requests, then the default echo again


def _algorithm(path: str) -> str | None:
    if path.startswith(("/api/auth/", "/oauth/")):
        return "sha1"
    if path.startswith("/api2/mobile/"):
        return "sha256"
    return None


class Recorder:
    def __init__(self, client_secret: str) -> None:
        self.secret = client_secret.encode()
        self.url = ""  # set once served
        self.seen: list[Seen] = []
        self.replies: dict[tuple[str, str], Reply] = {}
        self.app = web.Application()
        self.app.router.add_route("*", "/{tail:.*}", self._handle)

    def reply(self, method: str, path: str, reply: Reply) -> None:
        self.replies[(method, path)] = reply

    @property
    def last(self) -> Seen:
        return self.seen[-1]

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        seen = Seen(request.method, request.raw_path, CIMultiDict(request.headers), body)
        self.seen.append(seen)
        alg = _algorithm(seen.path)
        if alg is not None:
            expected = hmac.new(self.secret, request.raw_path.encode() + body, alg).hexdigest()
            given = request.headers.get("x-pch-digest", "")
            if not hmac.compare_digest(expected, given):
                if alg == "sha256":
                    return web.json_response(
                        {"errors": {"invalid_signature": ["Invalid Signature"]}}, status=412
                    )
                return web.json_response(["Invalid Signature"], status=412)
        reply = self.replies.get((request.method, seen.path))
        if reply is not None and reply.times is not None:
            reply.times -= 1
            if reply.times <= 0:
                del self.replies[(request.method, seen.path)]
        if reply is None:
            echo = {"path": seen.path, "query": seen.query, "body": body.decode() or None}
            return web.json_response({"echo": echo})
        if reply.delay:
            await asyncio.sleep(reply.delay)
        if reply.raw is not None:
            return web.Response(
                body=reply.raw,
                status=reply.status,
                headers=reply.headers,
                content_type="application/json",
            )
        return web.json_response(reply.body, status=reply.status, headers=reply.headers)


def digest(secret: str, raw_path: str, body: bytes, alg: str) -> str:
    return hmac.new(secret.encode(), raw_path.encode() + body, getattr(hashlib, alg)).hexdigest()
