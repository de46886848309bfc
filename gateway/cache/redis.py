"""The response cache in Redis, shared by every replica: a check-in through one replica
makes the answers every other replica cached for that guest stale at once.

Keys under the prefix: `cache:e:<key>` (a hash: the entry and the generations of its
tags; expires by TTL), `cache:g:<tag>` (a tag's generation, drawn from the one counter
`cache:counter` so it never repeats), `cache:i:<ident>` (guest identifier → user id).
Reading an entry checks its generations in the same script: one round trip.
Every Redis error is `CacheUnavailable`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from redis.exceptions import RedisError

from gateway.cache.base import CacheUnavailable
from gateway.cache.policy import Entry
from gateway.store.resp import LeanRedis, Prefetch

GENERATION_TTL_MS = 86_400_000

_GET = """
local e = redis.call('HMGET', KEYS[1], 'entry', 'tags')
if not e[1] then return false end
for tag, gen in pairs(cjson.decode(e[2])) do
  local current = redis.call('GET', ARGV[1] .. tag)
  if (not current) or tonumber(current) ~= gen then return false end
end
return e[1]
"""

_GENERATIONS = """
local out = {}
for i, key in ipairs(KEYS) do
  local gen = redis.call('GET', key)
  if not gen then
    gen = redis.call('INCR', ARGV[1])
    redis.call('SET', key, gen, 'PX', ARGV[2])
  end
  out[i] = tonumber(gen)
end
return out
"""

_INVALIDATE = """
for _, key in ipairs(KEYS) do
  redis.call('SET', key, redis.call('INCR', ARGV[1]), 'PX', ARGV[2])
end
return #KEYS
"""


def _pack(entry: Entry) -> bytes:
    meta = {"status": entry.status, "headers": entry.headers, "stored_at": entry.stored_at}
    return json.dumps(meta).encode() + b"\n" + entry.body


def _unpack(raw: bytes) -> Entry:
    meta_raw, _, body = raw.partition(b"\n")
    meta = json.loads(meta_raw)
    headers = tuple((str(k), str(v)) for k, v in meta["headers"])
    return Entry(int(meta["status"]), headers, body, float(meta["stored_at"]))


class RedisResponseCache:
    def __init__(self, client: Any, *, prefix: str, fast: LeanRedis | None = None) -> None:
        self._redis = client
        self._fast = fast  # the entry read goes through it when given
        self._p = f"{prefix}cache:"
        self._get = client.register_script(_GET)
        self._generations = client.register_script(_GENERATIONS)
        self._invalidate = client.register_script(_INVALIDATE)

    def __repr__(self) -> str:
        return f"RedisResponseCache(prefix={self._p!r})"

    async def get(self, key: str) -> Entry | None:
        keys, args = [f"{self._p}e:{key}"], [f"{self._p}g:"]
        try:
            if self._fast is not None:
                raw = await self._fast.evalsha(_GET, keys, args)
            else:
                raw = await self._get(keys=keys, args=args)
        except RedisError as exc:
            raise CacheUnavailable(type(exc).__name__) from None
        return self.entry_from(raw)

    def prefetch_for(self, key: str) -> Prefetch | None:
        """The read of `get(key)` as a command another call can carry (one round trip)."""
        if self._fast is None:
            return None
        return Prefetch(self._fast, _GET, [f"{self._p}e:{key}"], [f"{self._p}g:"], key)

    def entry_from(self, raw: Any) -> Entry | None:
        """What the read's reply says: the entry, or None (absent, stale, unreadable)."""
        try:
            return _unpack(raw) if isinstance(raw, bytes) and raw else None
        except (ValueError, KeyError, TypeError):
            return None

    async def generations(self, tags: Sequence[str]) -> dict[str, int]:
        if not tags:
            return {}
        keys = [f"{self._p}g:{t}" for t in tags]
        try:
            gens = await self._generations(keys=keys, args=[f"{self._p}counter", GENERATION_TTL_MS])
        except RedisError as exc:
            raise CacheUnavailable(type(exc).__name__) from None
        return {tag: int(gen) for tag, gen in zip(tags, gens, strict=True)}

    async def put(self, key: str, entry: Entry, ttl: float, tags: Mapping[str, int]) -> None:
        name = f"{self._p}e:{key}"
        try:
            async with self._redis.pipeline(transaction=True) as pipe:
                pipe.hset(name, mapping={"entry": _pack(entry), "tags": json.dumps(dict(tags))})
                pipe.pexpire(name, max(1, int(ttl * 1000)))
                await pipe.execute()
        except RedisError as exc:
            raise CacheUnavailable(type(exc).__name__) from None

    async def invalidate(self, tags: Sequence[str]) -> None:
        if not tags:
            return
        keys = [f"{self._p}g:{t}" for t in tags]
        args = [f"{self._p}counter", GENERATION_TTL_MS]
        try:
            if self._fast is not None:  # every write makes stale: the hot path too
                await self._fast.evalsha(_INVALIDATE, keys, args)
            else:
                await self._invalidate(keys=keys, args=args)
        except RedisError as exc:
            raise CacheUnavailable(type(exc).__name__) from None

    async def learn(self, idents: Sequence[str], user: str, ttl: float) -> None:
        try:
            async with self._redis.pipeline(transaction=False) as pipe:
                for ident in idents:
                    pipe.set(f"{self._p}i:{ident}", user, px=max(1, int(ttl * 1000)))
                await pipe.execute()
        except RedisError as exc:
            raise CacheUnavailable(type(exc).__name__) from None

    async def users_for(self, idents: Sequence[str]) -> set[str]:
        if not idents:
            return set()
        try:
            found = await self._redis.mget([f"{self._p}i:{i}" for i in idents])
        except RedisError as exc:
            raise CacheUnavailable(type(exc).__name__) from None
        return {v.decode() for v in found if v is not None}

    async def close(self) -> None:
        await self._redis.aclose()
        if self._fast is not None:
            await self._fast.aclose()
