"""Every HTTP client behind the upstream contract: the same bytes out, the same errors back."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Iterator

import pytest

from gateway.errors import UpstreamError, UpstreamTimeout
from gateway.transports.base import AttemptTimeouts, TransportSettings, UpstreamRequest
from gateway.upstream import make_transport
from tests.support.recorder import Recorder, Reply, digest

KINDS = ["h1", "pyreqwest", "aiohttp"]
SETTINGS = TransportSettings(connect_timeout=0.5, total_timeout=0.5, pool_size=8)
EACH = AttemptTimeouts(connect=0.5, first_byte=0.5, total=0.5)


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
        resp = await transport.send(UpstreamRequest("POST", target, headers, body), EACH)
    finally:
        await transport.close()
    assert (resp.status, resp.body, resp.headers["etag"]) == (201, b'{"ok": true}', "x1")
    seen = recorder.last
    assert (seen.raw_path, seen.body, seen.headers["User-Agent"]) == (target, body, "UA/1")


@pytest.fixture
async def stalled_body() -> AsyncIterator[int]:
    """A server that sends its status line and headers at once, then never the body."""

    done = asyncio.Event()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read(65536)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n")
        await writer.drain()
        await done.wait()
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    yield int(server.sockets[0].getsockname()[1])
    done.set()
    await asyncio.sleep(0.01)
    server.close()


@pytest.fixture
def full_backlog() -> Iterator[int]:
    """A listener that never accepts, its backlog filled: further connects hang (the kernel
    drops their SYNs), which is a connect timeout."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    port = int(listener.getsockname()[1])
    fillers = []
    for _ in range(4):
        s = socket.socket()
        s.setblocking(False)
        s.connect_ex(("127.0.0.1", port))
        fillers.append(s)
    yield port
    for s in fillers:
        s.close()
    listener.close()


@pytest.mark.parametrize("kind", KINDS)
async def test_errors(
    kind: str, recorder: Recorder, dropper: int, stalled_body: int, full_backlog: int
) -> None:
    """Every failure has a kind and says whether the request may have left (`sent`)."""
    recorder.reply("GET", "/slow", Reply(200, {}, delay=2.0))
    cases: list[tuple[str, str, type[Exception], str, bool]] = [
        (f"http://127.0.0.1:{_closed_port()}", "/x", UpstreamError, "connect", False),
        (f"http://127.0.0.1:{full_backlog}", "/x", UpstreamTimeout, "connect_timeout", False),
        (f"http://127.0.0.1:{dropper}", "/x", UpstreamError, "reset", True),
        (recorder.url, "/slow", UpstreamTimeout, "first_byte", True),
        (f"http://127.0.0.1:{stalled_body}", "/x", UpstreamTimeout, "total", True),
    ]
    each = AttemptTimeouts(connect=0.3, first_byte=0.6, total=0.9)
    for base, target, error, error_kind, sent in cases:
        transport = make_transport(kind, SETTINGS)
        await transport.start(base)
        try:
            with pytest.raises(error) as info:
                await transport.send(UpstreamRequest("GET", target, {}, None), each)
        finally:
            await transport.close()
        assert isinstance(info.value, UpstreamError | UpstreamTimeout)
        assert (info.value.kind, info.value.sent) == (error_kind, sent), (kind, base)
        assert info.value.outcome == ("unknown" if sent else "not_applied")


@pytest.mark.parametrize("kind", KINDS)
def test_on_uvloop_with_keep_alive_and_chunks(kind: str) -> None:
    """The gateway runs on uvloop (GATEWAY_EVENT_LOOP): each client there, reusing its
    connection for a second call, reading a chunked answer and a gzip one."""
    import gzip

    import uvloop
    from aiohttp import web

    async def run() -> list[tuple[int, bytes]]:
        peers: set[int] = set()

        async def chunked(request: web.Request) -> web.StreamResponse:
            assert request.transport is not None
            peers.add(request.transport.get_extra_info("peername")[1])
            resp = web.StreamResponse(status=207)
            resp.enable_chunked_encoding()
            await resp.prepare(request)
            for part in (b'{"a":', b"1}"):
                await resp.write(part)
            await resp.write_eof()
            return resp

        async def zipped(request: web.Request) -> web.Response:
            return web.Response(
                body=gzip.compress(b'{"z":true}'), headers={"Content-Encoding": "gzip"}
            )

        app = web.Application()
        app.router.add_get("/chunked", chunked)
        app.router.add_get("/zipped", zipped)
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        transport = make_transport(kind, SETTINGS)
        await transport.start(f"http://127.0.0.1:{port}")
        try:
            got = []
            for target in ("/chunked", "/chunked", "/zipped"):
                resp = await transport.send(UpstreamRequest("GET", target, {}, None), EACH)
                got.append((resp.status, resp.body))
        finally:
            await transport.close()
            await runner.cleanup()
        assert len(peers) == 1  # the second call reused the first one's connection
        return got

    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        assert runner.run(run()) == [(207, b'{"a":1}'), (207, b'{"a":1}'), (200, b'{"z":true}')]


@pytest.mark.parametrize("value", ["a\r\nX-Injected: 1", "a\nb", "a\rb"])
async def test_h1_refuses_a_header_value_with_a_line_break(value: str, recorder: Recorder) -> None:
    transport = make_transport("h1", SETTINGS)
    await transport.start(recorder.url)
    try:
        with pytest.raises(UpstreamError) as info:
            await transport.send(UpstreamRequest("GET", "/x", {"client-type": value}, None), EACH)
    finally:
        await transport.close()
    assert (info.value.kind, info.value.sent) == ("protocol", False)
    assert recorder.seen == []  # nothing was sent
