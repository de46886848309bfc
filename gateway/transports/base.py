"""The transport contract: one request out, Punchh's status, headers and body back.

A transport raises only `UpstreamTimeout` (504) or `UpstreamError` (502, with a kind:
connect, reset, protocol); its own library's errors never escape.
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
    connect_timeout: float
    total_timeout: float
    pool_size: int


class Transport(Protocol):
    async def start(self, base_url: str) -> None: ...

    async def send(self, request: UpstreamRequest) -> UpstreamResponse: ...

    async def close(self) -> None: ...
