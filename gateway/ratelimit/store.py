"""Where GCRA state lives: this process (memory) or Redis, where the check-and-update is
one Lua script, so replicas sharing a Redis share every budget exactly. Time in Redis is
Redis's own (`TIME`): replicas whose clocks disagree still agree on the budget.
A Redis error is `RateStoreUnavailable`; what that means is the policy's to say.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from cachetools import TLRUCache
from redis.exceptions import RedisError

from gateway.ratelimit.gcra import Decision, Rate, gcra


class RateStoreUnavailable(Exception):
    pass


class RateStore(Protocol):
    async def take(self, key: str, rate: Rate, *, take: bool = True) -> Decision: ...

    async def close(self) -> None: ...


class MemoryRateStore:
    def __init__(self, *, clock: Callable[[], float], max_keys: int = 1_000_000) -> None:
        self._clock = clock
        # A bucket whose TAT has passed is full again: the same as no state, so it may go.
        self._tats: TLRUCache[str, float] = TLRUCache(
            maxsize=max_keys, ttu=lambda _k, tat, _now: tat, timer=clock
        )

    async def take(self, key: str, rate: Rate, *, take: bool = True) -> Decision:
        decision = gcra(self._tats.get(key), self._clock(), rate, take=take)
        if decision.tat is not None:
            self._tats[key] = decision.tat
        return decision

    async def close(self) -> None:
        self._tats.clear()


_GCRA = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local limit, window = tonumber(ARGV[1]), tonumber(ARGV[2])
local interval = window / limit
local tat = now
local stored = redis.call('GET', KEYS[1])
if stored then tat = math.max(tonumber(stored), now) end
local new = tat + interval
if new - now > window + 1e-9 then
  return {0, tostring(new - now - window), tostring(tat - now), 0}
end
local remaining = math.floor((window - (new - now)) / interval + 1e-9)
if ARGV[3] == '1' then
  redis.call('SET', KEYS[1], tostring(new), 'PX', math.ceil((new - now) * 1000) + 1)
  return {1, '0', tostring(new - now), remaining}
end
return {1, '0', tostring(tat - now), remaining + 1}
"""


class RedisRateStore:
    def __init__(self, client: Any, *, prefix: str) -> None:
        self._redis = client
        self._prefix = f"{prefix}rl:"
        self._script = client.register_script(_GCRA)

    def __repr__(self) -> str:
        return f"RedisRateStore(prefix={self._prefix!r})"

    async def take(self, key: str, rate: Rate, *, take: bool = True) -> Decision:
        try:
            allowed, retry, reset, remaining = await self._script(
                keys=[self._prefix + key], args=[rate.limit, rate.window, "1" if take else "0"]
            )
        except RedisError as exc:
            raise RateStoreUnavailable(type(exc).__name__) from None
        return Decision(bool(allowed), None, int(remaining), float(retry), float(reset))

    async def close(self) -> None:
        await self._redis.aclose()
