"""The lean RESP client (gateway/store/resp.py) against the real Redis on 127.0.0.1."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator

import pytest
from redis.exceptions import ConnectionError, ResponseError, TimeoutError

from gateway.store.resp import LeanRedis, encode, parse
from tests.store.conftest import REDIS_URL
from tests.store.test_redis_store import _closed_port


@pytest.fixture
async def lean() -> AsyncIterator[LeanRedis]:
    client = LeanRedis(REDIS_URL, timeout=1.0)
    yield client
    await client.aclose()


@pytest.mark.parametrize(
    ("raw", "reply"),
    [
        (b"+OK\r\n", b"OK"),
        (b":42\r\n", 42),
        (b"$3\r\nabc\r\n", b"abc"),
        (b"$-1\r\n", None),
        (b"*2\r\n:1\r\n$1\r\nx\r\n", [1, b"x"]),
        (b"*-1\r\n", None),
        (b"*2\r\n*1\r\n:1\r\n$0\r\n\r\n", [[1], b""]),
    ],
)
def test_parse(raw: bytes, reply: object) -> None:
    assert parse(raw, 0) == (reply, len(raw))


def test_parse_a_cut_reply_asks_for_more() -> None:
    from gateway.store.resp import _Incomplete

    for raw in (b"$3\r\nab", b"*2\r\n:1\r\n", b":4"):
        with pytest.raises(_Incomplete):
            parse(raw, 0)
    error, _ = parse(b"-ERR bad\r\n", 0)
    assert isinstance(error, ResponseError)


def test_encode() -> None:
    assert encode(("SET", "k", b"v", 5)) == b"*4\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nv\r\n$1\r\n5\r\n"


async def test_commands_pipelines_and_errors(lean: LeanRedis, prefix: str) -> None:
    key = f"{prefix}lean"
    assert await lean.execute("SET", key, "v1", "PX", 5000) == b"OK"
    assert await lean.execute("GET", key) == b"v1"
    replies = await lean.pipeline([("GET", key), ("PTTL", key), ("GET", f"{prefix}none")])
    assert replies[0] == b"v1"
    assert 0 < replies[1] <= 5000
    assert replies[2] is None
    with pytest.raises(ResponseError):
        await lean.execute("INCR", key)  # not an integer
    assert await lean.execute("DEL", key) == 1


async def test_many_concurrent_callers_share_one_connection_in_order(
    lean: LeanRedis, prefix: str
) -> None:
    async def one(i: int) -> bytes:
        await lean.execute("SET", f"{prefix}c{i}", str(i), "PX", 5000)
        return bytes(await lean.execute("GET", f"{prefix}c{i}"))

    got = await asyncio.gather(*(one(i) for i in range(200)))
    assert got == [str(i).encode() for i in range(200)]
    await lean.execute("DEL", *[f"{prefix}c{i}" for i in range(200)])


async def test_a_script_is_loaded_when_redis_does_not_know_it(lean: LeanRedis, prefix: str) -> None:
    script = "return {KEYS[1], ARGV[1], 7}  -- lean client test " + prefix
    assert await lean.evalsha(script, [f"{prefix}k"], ["a"]) == [f"{prefix}k".encode(), b"a", 7]
    assert await lean.evalsha(script, [f"{prefix}k"], ["b"]) == [f"{prefix}k".encode(), b"b", 7]


async def test_unreachable_and_silent_servers() -> None:
    refused = LeanRedis(f"redis://127.0.0.1:{_closed_port()}/0", timeout=0.2)
    with pytest.raises(ConnectionError):
        await refused.execute("PING")
    with socket.socket() as silent:  # accepts (the kernel does), never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        port = silent.getsockname()[1]
        mute = LeanRedis(f"redis://127.0.0.1:{port}/0", timeout=0.2)
        with pytest.raises(TimeoutError):
            await mute.execute("PING")
        await mute.aclose()


async def test_a_lost_connection_is_opened_again(lean: LeanRedis) -> None:
    import redis.asyncio as aioredis

    own = await lean.execute("CLIENT", "ID")
    other = aioredis.Redis.from_url(REDIS_URL)
    try:
        assert await other.client_kill_filter(_id=own) == 1
    finally:
        await other.aclose()
    for _ in range(100):  # until the loss reaches this side
        if lean._proto is None or lean._proto.lost:
            break
        await asyncio.sleep(0.01)
    assert await lean.execute("PING") == b"PONG"
    assert await lean.execute("CLIENT", "ID") != own


async def test_a_pipeline_cut_by_a_lost_connection_fails_every_command_cleanly(
    lean: LeanRedis,
) -> None:
    """A lost connection fails every waiting command; none is left unretrieved (warnings
    are errors here) and the next call opens a new connection."""
    import gc

    import redis.asyncio as aioredis

    loop = asyncio.get_running_loop()
    reported: list[dict[str, object]] = []
    loop.set_exception_handler(lambda _loop, context: reported.append(context))
    own = await lean.execute("CLIENT", "ID")
    waiting = asyncio.ensure_future(
        lean.pipeline([("BLPOP", "lean-test-never", 5), ("PING",), ("PING",)])
    )
    await asyncio.sleep(0.05)
    other = aioredis.Redis.from_url(REDIS_URL)
    try:
        assert await other.client_kill_filter(_id=own) == 1
    finally:
        await other.aclose()
    with pytest.raises(ConnectionError):
        await waiting
    del waiting
    gc.collect()
    loop.set_exception_handler(None)
    assert [c["message"] for c in reported] == []
    assert await lean.execute("PING") == b"PONG"
