"""Both HTTP clients behind the upstream contract: the same bytes out, the same errors back."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator

import pytest

from gateway.errors import UpstreamError, UpstreamTimeout
from gateway.transports.base import TransportSettings, UpstreamRequest
from gateway.upstream import make_transport
from tests.support.recorder import Recorder, Reply, digest

KINDS = ["pyreqwest", "aiohttp"]
SETTINGS = TransportSettings(connect_timeout=0.5, total_timeout=0.5, pool_size=8)


@pytest.fixture
async def dropper() -> AsyncIterator[int]:
    """A server that reads the request and closes the connection without an answer."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read(65536)
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    yield int(server.sockets[0].getsockname()[1])
    server.close()
    await server.wait_closed()


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.parametrize("kind", KINDS)
async def test_exact_bytes_and_answer(kind: str, recorder: Recorder) -> None:
    recorder.reply(
        "POST", "/api/auth/users/forgot_password", Reply(201, {"ok": True}, headers={"ETag": "x1"})
    )
    body = b'{"client":"client-abc","n":"Zo\xc3\xab"}'
    target = "/api/auth/users/forgot_password?a=1&b=%2Bx"
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "UA/1",
        "x-pch-digest": digest("s3cret-client-value", target, body, "sha1"),
    }
    transport = make_transport(kind, SETTINGS)
    await transport.start(recorder.url)
    try:
        resp = await transport.send(UpstreamRequest("POST", target, headers, body))
    finally:
        await transport.close()
    assert (resp.status, resp.body, resp.headers["etag"]) == (201, b'{"ok": true}', "x1")
    seen = recorder.last
    assert (seen.raw_path, seen.body, seen.headers["User-Agent"]) == (target, body, "UA/1")


@pytest.mark.parametrize("kind", KINDS)
async def test_errors(kind: str, recorder: Recorder, dropper: int) -> None:
    recorder.reply("GET", "/slow", Reply(200, {}, delay=2.0))
    cases: list[tuple[str, type[Exception], str | None]] = [
        (f"http://127.0.0.1:{_closed_port()}", UpstreamError, "connect"),
        (f"http://127.0.0.1:{dropper}", UpstreamError, "reset"),
        (recorder.url, UpstreamTimeout, None),
    ]
    for base, error, error_kind in cases:
        transport = make_transport(kind, SETTINGS)
        await transport.start(base)
        target = "/slow" if error is UpstreamTimeout else "/x"
        try:
            with pytest.raises(error) as info:
                await transport.send(UpstreamRequest("GET", target, {}, None))
        finally:
            await transport.close()
        if error_kind is not None:
            assert isinstance(info.value, UpstreamError)
            assert info.value.kind == error_kind, (kind, base)
