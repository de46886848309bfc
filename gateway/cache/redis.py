"""The response cache in Redis, shared by every replica: a check-in through one replica
makes the answers every other replica cached for that guest stale at once.

Keys under the prefix: `cache:e:<key>` (a hash: the entry and the generations of its
tags; expires by TTL), `cache:g:<tag>` (a tag's generation: Redis's clock in
microseconds when made, moved past both that clock and its last value when invalidated,
so a value never comes back), `cache:i:<ident>` (guest identifier → user id). Every
script touches one key, so each key may be on any Cluster slot.
Reading an entry checks its generations in the same script (one round trip) on one
server or Sentinel; on a Cluster the generations may be on other servers: the entry is
read, then its generations (two round trips).
Every Redis error is `CacheUnavailable`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from redis.exceptions import RedisError

from gateway import tracing
from gateway.cache.base import CacheUnavailable
from gateway.cache.policy import Entry
from gateway.store.resp import Prefetch, RedisLink

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

_GENERATION = """
local gen = redis.call('GET', KEYS[1])
if gen then return tonumber(gen) end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
redis.call('SET', KEYS[1], string.format('%d', now), 'PX', ARGV[1])
return now
"""

_INVALIDATE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local gen = math.max(now, tonumber(redis.call('GET', KEYS[1]) or '0') + 1)
redis.call('SET', KEYS[1], string.format('%d', gen), 'PX', ARGV[1])
return 1
"""

_PUT = """
redis.call('HSET', KEYS[1], 'entry', ARGV[1], 'tags', ARGV[2])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return 1
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
    def __init__(self, client: RedisLink, *, prefix: str) -> None:
        self._redis = client
        self._p = f"{prefix}cache:"

    def __repr__(self) -> str:
        return f"RedisResponseCache(prefix={self._p!r})"

    async def get(self, key: str) -> Entry | None:
        name = f"{self._p}e:{key}"
        try:
            if not self._redis.clustered:
                with tracing.redis("EVALSHA", "cache"):
                    found = await self._redis.evalsha(_GET, [name], [f"{self._p}g:"])
                return self.entry_from(found)
            with tracing.redis("HMGET", "cache"):
                raw, tags = await self._redis.execute("HMGET", name, "entry", "tags")
            if raw is None or tags is None:
                return None
            wanted = json.loads(tags)
            if not isinstance(wanted, dict):
                return None
            names = list(wanted)
            current = await self._redis.pipeline([("GET", f"{self._p}g:{t}") for t in names])
        except RedisError as exc:
            raise CacheUnavailable(type(exc).__name__) from None
        except ValueError:
            return None
        for tag, gen in zip(names, current, strict=True):
            if isinstance(gen, RedisError):
                raise CacheUnavailable(type(gen).__name__)
            if not isinstance(gen, bytes) or not gen.isdigit() or int(gen) != wanted[tag]:
                return None  # absent, or not a generation this entry knows: stale
        return self.entry_from(raw)

    def prefetch_for(self, key: str) -> Prefetch | None:
        """The read of `get(key)` as a command another call can carry (one round trip);
        none on a Cluster, where the read takes two."""
        if self._redis.clustered:
            return None
        return Prefetch(self._redis, _GET, [f"{self._p}e:{key}"], [f"{self._p}g:"], key)

    def entry_from(self, raw: Any) -> Entry | None:
        """What the read's reply says: the entry, or None (absent, stale, unreadable)."""
        try:
            return _unpack(raw) if isinstance(raw, bytes) and raw else None
        except (ValueError, KeyError, TypeError):
            return None

    async def generations(self, tags: Sequence[str]) -> dict[str, int]:
        if not tags:
            return {}
        calls = [(_GENERATION, [f"{self._p}g:{t}"], [GENERATION_TTL_MS]) for t in tags]
        try:
            gens = await self._redis.evalsha_many(calls)
        except RedisError as exc:
            raise CacheUnavailable(type(exc).__name__) from None
        for gen in gens:
            if isinstance(gen, RedisError):
                raise CacheUnavailable(type(gen).__name__)
        return {tag: int(gen) for tag, gen in zip(tags, gens, strict=True)}

    async def put(self, key: str, entry: Entry, ttl: float, tags: Mapping[str, int]) -> None:
        args = [_pack(entry), json.dumps(dict(tags)), max(1, int(ttl * 1000))]
        try:
            await self._redis.evalsha(_PUT, [f"{self._p}e:{key}"], args)
        except RedisError as exc:
            raise CacheUnavailable(type(exc).__name__) from None

    async def invalidate(self, tags: Sequence[str]) -> None:
        if not tags:
            return
        calls = [(_INVALIDATE, [f"{self._p}g:{t}"], [GENERATION_TTL_MS]) for t in tags]
        try:
            done = await self._redis.evalsha_many(calls)
        except RedisError as exc:
            raise CacheUnavailable(type(exc).__name__) from None
        for reply in done:
            if isinstance(reply, RedisError):
                raise CacheUnavailable(type(reply).__name__)

    async def learn(self, idents: Sequence[str], user: str, ttl: float) -> None:
        ms = max(1, int(ttl * 1000))
        try:
            replies = await self._redis.pipeline(
                [("SET", f"{self._p}i:{ident}", user, "PX", ms) for ident in idents]
            )
        except RedisError as exc:
            raise CacheUnavailable(type(exc).__name__) from None
        for reply in replies:
            if isinstance(reply, RedisError):
                raise CacheUnavailable(type(reply).__name__)

    async def users_for(self, idents: Sequence[str]) -> set[str]:
        if not idents:
            return set()
        try:
            found = await self._redis.pipeline([("GET", f"{self._p}i:{i}") for i in idents])
        except RedisError as exc:
            raise CacheUnavailable(type(exc).__name__) from None
        return {v.decode() for v in found if isinstance(v, bytes)}

    async def close(self) -> None:
        await self._redis.aclose()
