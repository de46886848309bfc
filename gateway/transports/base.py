"""The transport contract: one attempt out, Punchh's status, headers and body back.

Each attempt has its own timeouts: `connect` (opening a connection), `first_byte` (from
the start of the attempt to Punchh's status line) and `total` (the whole attempt).
A transport raises only `UpstreamTimeout` (504; kind connect_timeout, first_byte, total)
or `UpstreamError` (502; kind connect, reset, protocol); its own library's errors never
escape. Both say whether the request may have left (`sent`): a failed connect, a connect
timeout or a full pool never sent anything, which makes any call safe to try again.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

from multidict import CIMultiDictProxy


@dataclass(frozen=True, slots=True)
class UpstreamRequest:
    method: str
    target: str  # encoded path plus "?query": exactly the bytes that were signed
    headers: Mapping[str, str]
    body: bytes | None


@dataclass(frozen=True, slots=True)
class UpstreamResponse:
    status: int
    headers: CIMultiDictProxy[str]
    body: bytes


@dataclass(frozen=True, slots=True)
class TransportSettings:
    connect_timeout: float  # the default; each attempt brings its own
    total_timeout: float
    pool_size: int


@dataclass(frozen=True, slots=True)
class AttemptTimeouts:
    connect: float
    first_byte: float
    total: float


class Transport(Protocol):
    async def start(self, base_url: str) -> None: ...

    async def send(
        self, request: UpstreamRequest, timeouts: AttemptTimeouts
    ) -> UpstreamResponse: ...

    async def close(self) -> None: ...
