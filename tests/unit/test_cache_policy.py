"""Cache keys, identifiers and the memory cache's generations and bounds."""

from __future__ import annotations

import pytest

from gateway.cache.memory import MemoryResponseCache
from gateway.cache.policy import (
    Entry,
    answer_user,
    cache_key,
    identifiers,
    invite_tag,
    user_tag,
)
from tests.support.clock import ManualClock

ROUTE = "GET /api/auth/checkins/balance"


def test_key_holds_the_identity_and_route() -> None:
    base = cache_key(ROUTE, "guest:1", [], None)
    assert cache_key(ROUTE, "guest:2", [], None) != base
    assert cache_key("GET /api/auth/users", "guest:1", [], None) != base
    assert cache_key(ROUTE, "guest:1", [("a", "1")], None) != base
    assert cache_key(ROUTE, "guest:1", [], {"a": 1}) != base


def test_key_ignores_gateway_fields_and_order() -> None:
    assert cache_key(ROUTE, "g", [("client", "x"), ("authentication_token", "t")], None) == (
        cache_key(ROUTE, "g", [], None)
    )
    assert cache_key(ROUTE, "g", [("b", "2"), ("a", "1")], None) == (
        cache_key(ROUTE, "g", [("a", "1"), ("b", "2")], None)
    )
    assert cache_key(ROUTE, "g", [], {"b": 1, "a": 2, "client": "c"}) == (
        cache_key(ROUTE, "g", [], {"a": 2, "b": 1})
    )


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ({"phone": "(555) 010-0100"}, ("ident:phone:5550100100",)),
        ({"email": " Ada@Example.COM "}, ("ident:email:ada@example.com",)),
        ({"user": {"email": "a@b.co", "user_id": 7}}, ("ident:email:a@b.co", "ident:user_id:7")),
        ({"referral_code": "ADA42X", "phone": ""}, ("ident:referral_code:ada42x",)),
        ({"phone": True, "email": None}, ()),
        ({"user_as_barcode": "4219804"}, ("ident:card_number:4219804",)),  # a POS card
        (
            {"data": {"user_id": 12, "phone": "5550100100"}},
            ("ident:phone:5550100100", "ident:user_id:12"),
        ),
        (["not", "a", "dict"], ()),
    ],
)
def test_identifiers(source: object, expected: tuple[str, ...]) -> None:
    assert identifiers(source) == expected


def test_invite_and_answer_user() -> None:
    assert invite_tag({"user": {"invite_code": "ADA42X"}}) == "ident:referral_code:ada42x"
    assert invite_tag({"user": {}}) is None
    assert invite_tag(None) is None
    assert answer_user({"id": 5, "user_id": 6}) == "6"
    assert answer_user({"user": {"id": 9}}) == "9"
    assert answer_user({"error": "User not found"}) is None
    assert answer_user({"data": {"access_token": "x", "user_id": 3}}) == "3"


def _entry(body: bytes = b"{}", at: float = 0.0) -> Entry:
    return Entry(200, (("Content-Type", "application/json"),), body, at)


async def test_invalidation_makes_entries_stale() -> None:
    cache = MemoryResponseCache(max_entries=10, max_bytes=10_000, clock=ManualClock())
    gens = await cache.generations([user_tag("1")])
    await cache.put("k", _entry(), 30, gens)
    assert await cache.get("k") == _entry()
    await cache.invalidate([user_tag("2")])
    assert await cache.get("k") == _entry()
    await cache.invalidate([user_tag("1")])
    assert await cache.get("k") is None


async def test_a_fetch_racing_a_write_is_not_kept() -> None:
    cache = MemoryResponseCache(max_entries=10, max_bytes=10_000, clock=ManualClock())
    gens = await cache.generations([user_tag("1")])  # read before the fetch...
    await cache.invalidate([user_tag("1")])  # ...a write lands while Punchh answers...
    await cache.put("k", _entry(b"old"), 30, gens)  # ...and the old answer arrives
    assert await cache.get("k") is None


async def test_entries_expire_on_the_clock() -> None:
    clock = ManualClock()
    cache = MemoryResponseCache(max_entries=10, max_bytes=10_000, clock=clock)
    await cache.put("k", _entry(), 30, {})
    clock.advance(29)
    assert await cache.get("k") is not None
    clock.advance(2)
    assert await cache.get("k") is None


async def test_bounded_by_entries_and_by_bytes() -> None:
    by_count = MemoryResponseCache(max_entries=3, max_bytes=1_000_000, clock=ManualClock())
    for i in range(10):
        await by_count.put(f"k{i}", _entry(), 30, {})
    assert len(by_count) == 3
    by_bytes = MemoryResponseCache(max_entries=1000, max_bytes=10_000, clock=ManualClock())
    for i in range(10):
        await by_bytes.put(f"k{i}", _entry(b"x" * 3000), 30, {})
    assert len(by_bytes) == 3  # 3 x (3000 + overhead) fits in 10 000 bytes, 4 do not
    await by_bytes.put("huge", _entry(b"x" * 20_000), 30, {})
    assert await by_bytes.get("huge") is None


async def test_an_evicted_generation_never_brings_a_stale_entry_back() -> None:
    cache = MemoryResponseCache(max_entries=1, max_bytes=10_000, clock=ManualClock())
    gens = await cache.generations([user_tag("1")])
    await cache.put("k", _entry(), 30, gens)
    await cache.invalidate([user_tag("1")])
    for i in range(20):  # push user:1's generation out of the bounded table
        await cache.generations([user_tag(f"other-{i}")])
    assert await cache.get("k") is None


async def test_learned_identifiers() -> None:
    cache = MemoryResponseCache(max_entries=10, max_bytes=10_000, clock=ManualClock())
    await cache.learn(["ident:phone:5550100100"], "42", 3600)
    assert await cache.users_for(["ident:phone:5550100100", "ident:email:x@y.z"]) == {"42"}
