"""The Redis idempotency book against the real Redis: two books on one prefix are two
replicas. A key claimed on one is waited for on the other; the kept answer is shared; a
different request with the key is 422 on both; a failed or unkept request frees the key."""

from __future__ import annotations

import asyncio
import socket
from typing import Any

import pytest

from gateway.errors import Unprocessable, UpstreamError
from gateway.resilience.idempotency import Kept, RedisIdempotencyBook
from gateway.store.resp import connect

ANSWER = Kept(200, (("Content-Type", "application/json"),), b'{"points": 7}')


def _book(client: Any, prefix: str, **kw: Any) -> RedisIdempotencyBook:
    return RedisIdempotencyBook(client, prefix=prefix, ttl=60, lease=5.0, poll=0.01, **kw)


async def test_a_key_is_run_once_across_replicas(
    redis_client: Any, other_client: Any, prefix: str
) -> None:
    a, b = _book(redis_client, prefix), _book(other_client, prefix)
    assert await a.claim("guest:1\x00k1", "fp") is None  # a runs it
    waiting = asyncio.create_task(b.claim("guest:1\x00k1", "fp"))
    await asyncio.sleep(0.05)
    assert not waiting.done()  # b waits for a's answer
    await a.finish("guest:1\x00k1", ANSWER, keep=True)
    assert await asyncio.wait_for(waiting, 1) == ANSWER
    assert await b.claim("guest:1\x00k1", "fp") == ANSWER  # and later too
    with pytest.raises(Unprocessable) as info:
        await b.claim("guest:1\x00k1", "another body")
    assert info.value.code == "idempotency_key_reused"
    assert await b.claim("guest:2\x00k1", "fp") is None  # another guest's key is theirs
    raw = await redis_client.scan(prefix + "*")
    assert all(b"guest" not in k for k in raw)  # keys are hashed, no user ids in Redis


async def test_a_different_request_is_refused_while_the_first_runs(
    redis_client: Any, other_client: Any, prefix: str
) -> None:
    a, b = _book(redis_client, prefix), _book(other_client, prefix)
    assert await a.claim("k", "fp") is None
    with pytest.raises(Unprocessable):
        await b.claim("k", "other")
    with pytest.raises(Unprocessable):
        await a.claim("k", "other")  # the same replica: checked before Redis
    same = await a.claim("k", "fp")
    assert isinstance(same, asyncio.Future)  # the same replica joins its own request
    await a.finish("k", ANSWER, keep=True)
    assert await same == ANSWER


async def test_unkept_or_failed_answers_free_the_key(
    redis_client: Any, other_client: Any, prefix: str
) -> None:
    a, b = _book(redis_client, prefix), _book(other_client, prefix)
    assert await a.claim("k", "fp") is None
    waiting = asyncio.create_task(b.claim("k", "fp"))
    await asyncio.sleep(0.05)
    await a.finish("k", Kept(502, (), b"{}"), keep=False)  # e.g. a 5xx: not kept
    assert await asyncio.wait_for(waiting, 1) is None  # so b runs it again itself
    await b.fail("k", UpstreamError("down", kind="connect", sent=False))
    assert await a.claim("k", "fp") is None  # and after b failed, a may run it


async def test_a_dead_replicas_key_is_taken_over_after_the_lease(
    redis_client: Any, prefix: str
) -> None:
    dead = RedisIdempotencyBook(redis_client, prefix=prefix, ttl=60, lease=1.0, poll=0.05)
    other = RedisIdempotencyBook(redis_client, prefix=prefix, ttl=60, lease=1.0, poll=0.05)
    assert await dead.claim("k", "fp") is None  # and it never finishes
    loop = asyncio.get_running_loop()
    started = loop.time()
    assert await other.claim("k", "fp") is None  # waited for the lease, then runs it
    assert loop.time() - started >= 0.9


async def test_redis_down_falls_back_to_this_process(prefix: str) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    client = connect(f"redis://127.0.0.1:{port}/0", timeout=0.2)
    errors: list[int] = []
    book = RedisIdempotencyBook(
        client, prefix=prefix, ttl=60, lease=5.0, on_error=lambda: errors.append(1)
    )
    try:
        assert await book.claim("k", "fp") is None
        joined = await book.claim("k", "fp")
        assert isinstance(joined, asyncio.Future)  # in-process dedupe still holds
        await book.finish("k", ANSWER, keep=True)
        assert await joined == ANSWER
        assert errors
    finally:
        await book.close()
