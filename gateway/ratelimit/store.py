"""Where GCRA state lives: this process (memory) or Redis, where the check-and-update is
one Lua script, so replicas sharing a Redis share every budget exactly. Time in Redis is
Redis's own (`TIME`): replicas whose clocks disagree still agree on the budget.
A Redis error is `RateStoreUnavailable`; what that means is the policy's to say.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Protocol

from redis.exceptions import RedisError

from gateway import tracing
from gateway.expiring import ExpiringDict
from gateway.ratelimit.gcra import US, Decision, Rate, gcra, give_back
from gateway.store.resp import Prefetch, RedisLink


class RateStoreUnavailable(Exception):
    """The store could not answer. `taken`: the draws of a `take_many` that were made
    before it failed (on a Cluster, buckets on a shard that answered), in order: the
    caller gives back what an attempt that was never made must not keep."""

    def __init__(self, reason: str, taken: Sequence[Decision] = ()) -> None:
        super().__init__(reason)
        self.taken = list(taken)


class RateStore(Protocol):
    async def take(self, key: str, rate: Rate, *, take: bool = True) -> Decision: ...

    async def take_many(
        self, draws: Sequence[tuple[str, Rate]], prefetch: Prefetch | None = None
    ) -> list[Decision]:
        """Take from each bucket in order, stopping at the first that refuses (the last
        decision returned): in Redis, one round trip for every policy of a request, which
        also carries `prefetch` (the cached-answer read) when it is for the same client."""

    async def refund(self, key: str, rate: Rate) -> None:
        """Give back one unit taken for an attempt that turned out not to count."""

    async def close(self) -> None: ...


class MemoryRateStore:
    def __init__(self, *, clock: Callable[[], float], max_keys: int = 1_000_000) -> None:
        self._clock = clock
        # A bucket whose TAT has passed is full again: the same as no state, so it may go.
        self._tats: ExpiringDict[str, int] = ExpiringDict(max_keys)

    async def take(self, key: str, rate: Rate, *, take: bool = True) -> Decision:
        now = self._clock()
        decision = gcra(self._tats.get(key, now), now, rate, take=take)
        if decision.tat is not None:
            self._tats.set(key, decision.tat, decision.tat / US, now)
        return decision

    async def take_many(
        self, draws: Sequence[tuple[str, Rate]], prefetch: Prefetch | None = None
    ) -> list[Decision]:
        out: list[Decision] = []
        for key, rate in draws:
            decision = await self.take(key, rate)
            out.append(decision)
            if not decision.allowed:
                break
        return out

    async def refund(self, key: str, rate: Rate) -> None:
        now = self._clock()
        back = give_back(self._tats.get(key, now), now, rate)
        if back is None:
            self._tats.pop(key)
        else:
            self._tats.set(key, back, back / US, now)

    async def close(self) -> None:
        self._tats.clear()


# The same arithmetic as gcra.py, in whole microseconds (exact in Lua's doubles).
_GCRA = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local window, interval = tonumber(ARGV[1]), tonumber(ARGV[2])
local tat = now
local stored = redis.call('GET', KEYS[1])
if stored then tat = math.max(tonumber(stored), now) end
local new = tat + interval
if new - now > window then
  return {0, new - now - window, tat - now, 0}
end
local remaining = math.floor((window - (new - now)) / interval)
if ARGV[3] == '1' then
  redis.call('SET', KEYS[1], string.format('%d', new), 'PX', math.ceil((new - now) / 1000) + 1)
  return {1, 0, new - now, remaining}
end
return {1, 0, tat - now, remaining + 1}
"""

# take_many: the GCRA above for each key in turn (ARGV: window, interval per key), in one
# script, stopping at the first refusal; returns 4 numbers per decision made.
_GCRA_MANY = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local out = {}
for i, key in ipairs(KEYS) do
  local window, interval = tonumber(ARGV[2 * i - 1]), tonumber(ARGV[2 * i])
  local tat = now
  local stored = redis.call('GET', key)
  if stored then tat = math.max(tonumber(stored), now) end
  local new = tat + interval
  if new - now > window then
    table.insert(out, 0) table.insert(out, new - now - window)
    table.insert(out, tat - now) table.insert(out, 0)
    return out
  end
  local remaining = math.floor((window - (new - now)) / interval)
  redis.call('SET', key, string.format('%d', new), 'PX', math.ceil((new - now) / 1000) + 1)
  table.insert(out, 1) table.insert(out, 0) table.insert(out, new - now)
  table.insert(out, remaining)
end
return out
"""

_REFUND = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local stored = redis.call('GET', KEYS[1])
if not stored then return 0 end
local back = tonumber(stored) - tonumber(ARGV[1])
if back <= now then redis.call('DEL', KEYS[1]) return 0 end
redis.call('SET', KEYS[1], string.format('%d', back), 'PX', math.ceil((back - now) / 1000) + 1)
return 1
"""


def _decisions(flat: list[Any]) -> list[Decision]:
    """The script's four numbers per decision: allowed, retry, reset, remaining (µs)."""
    return [
        Decision(
            bool(flat[i]), None, int(flat[i + 3]), int(flat[i + 1]) / US, int(flat[i + 2]) / US
        )
        for i in range(0, len(flat), 4)
    ]


def bucket_key(prefix: str, key: str) -> str:
    """`<prefix>rl:{<key>}`: each bucket its own hash tag (a Cluster spreads them over every
    slot); braces and `%` in a key are escaped so a key cannot choose another's tag."""
    if "{" in key or "}" in key or "%" in key:
        key = key.replace("%", "%25").replace("{", "%7B").replace("}", "%7D")
    return f"{prefix}rl:{{{key}}}"


class RedisRateStore:
    def __init__(self, client: RedisLink, *, prefix: str) -> None:
        self._redis = client
        self._prefix = prefix

    def __repr__(self) -> str:
        return f"RedisRateStore(prefix={self._prefix!r})"

    async def take(self, key: str, rate: Rate, *, take: bool = True) -> Decision:
        try:
            with tracing.redis("EVALSHA", "rate_limit"):
                allowed, retry, reset, remaining = await self._redis.evalsha(
                    _GCRA,
                    [bucket_key(self._prefix, key)],
                    [rate.window_us, rate.interval_us, "1" if take else "0"],
                )
        except RedisError as exc:
            raise RateStoreUnavailable(type(exc).__name__) from None
        return Decision(bool(allowed), None, int(remaining), int(retry) / US, int(reset) / US)

    async def take_many(
        self, draws: Sequence[tuple[str, Rate]], prefetch: Prefetch | None = None
    ) -> list[Decision]:
        """One script for the buckets that share a slot (all of them on one server or
        Sentinel: one round trip); on a Cluster, one script a slot, in order, stopping at
        the first refusal, as one script would."""
        keys = [bucket_key(self._prefix, key) for key, _ in draws]
        flat: list[Any] = []
        try:
            for group in self._redis.slot_groups(keys):
                args: list[int] = []
                for i in group:
                    args += (draws[i][1].window_us, draws[i][1].interval_us)
                call = (_GCRA_MANY, [keys[i] for i in group], args)
                if prefetch is not None and prefetch.client is self._redis and not flat:
                    # The cached answer's read rides along (gateway/store/resp.py Prefetch).
                    with tracing.redis("PIPELINE EVALSHA", "rate_limit"):
                        part, prefetch.reply = await self._redis.evalsha_many(
                            [call, (prefetch.script, prefetch.keys, prefetch.args)]
                        )
                    prefetch.done = not isinstance(prefetch.reply, RedisError)
                    if isinstance(part, RedisError):
                        raise part
                else:
                    with tracing.redis("EVALSHA", "rate_limit"):
                        part = await self._redis.evalsha(*call)
                flat += part
                if len(part) < 4 * len(group) or not part[-4]:
                    break  # refused: no later bucket is drawn on
        except RedisError as exc:
            raise RateStoreUnavailable(type(exc).__name__, _decisions(flat)) from None
        return _decisions(flat)

    async def refund(self, key: str, rate: Rate) -> None:
        try:
            await self._redis.evalsha(_REFUND, [bucket_key(self._prefix, key)], [rate.interval_us])
        except RedisError as exc:
            raise RateStoreUnavailable(type(exc).__name__) from None

    async def close(self) -> None:
        await self._redis.aclose()
