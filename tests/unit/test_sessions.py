"""Session store and manager: bounded, expiring on the injected clock, never showing tokens."""

from dataclasses import replace

import pytest

from gateway.errors import Unauthorized
from gateway.sessions import PunchhTokens, Session, SessionManager
from gateway.store.memory import MemorySessionStore
from tests.support.clock import ManualClock

TOKENS = PunchhTokens("ACC-x", "AUTH-x", "ID-x", "REF-x", expires_in=1800)
SECRET = b"m" * 40


def _manager(clock: ManualClock, max_sessions: int = 10) -> SessionManager:
    store = MemorySessionStore(max_sessions=max_sessions, clock=clock)
    return SessionManager(store, secret=SECRET, ttl=3600, idle_timeout=3600, clock=clock)


async def test_create_resolve_end() -> None:
    clock = ManualClock()
    manager = _manager(clock)
    session, token = await manager.create("42", TOKENS)
    assert session.access_expires_at == clock.now + 1800
    resolved = await manager.resolve(token)
    assert resolved.session == session
    await manager.end(session.sid)
    with pytest.raises(Unauthorized, match="ended"):
        await manager.resolve(token)


async def test_store_expires_on_the_clock() -> None:
    clock = ManualClock()
    manager = _manager(clock)
    session, _ = await manager.create("42", TOKENS)
    clock.advance(3599)
    assert await manager.store.get(session.sid) is not None
    clock.advance(2)
    assert await manager.store.get(session.sid) is None


async def test_store_is_bounded() -> None:
    clock = ManualClock()
    manager = _manager(clock, max_sessions=3)
    sessions = [(await manager.create(str(i), TOKENS))[0] for i in range(5)]
    store = manager.store
    assert isinstance(store, MemorySessionStore)
    assert len(store) == 3
    assert await store.get(sessions[-1].sid) is not None


async def test_update_keeps_what_punchh_did_not_resend() -> None:
    clock = ManualClock()
    manager = _manager(clock)
    session, _ = await manager.create("42", TOKENS)
    clock.advance(100)
    updated = await manager.update_tokens(
        session, PunchhTokens("ACC-y", refresh_token="REF-y", expires_in=900)
    )
    assert updated.tokens == PunchhTokens("ACC-y", "AUTH-x", "ID-x", "REF-y", 900)
    assert updated.access_expires_at == clock.now + 900
    assert (await manager.store.get(session.sid)) == updated


async def test_no_token_in_repr() -> None:
    clock = ManualClock()
    manager = _manager(clock)
    session, _ = await manager.create("42", TOKENS)
    text = repr(session) + repr(manager) + repr(TOKENS)
    for secret in ("ACC-x", "AUTH-x", "ID-x", "REF-x", SECRET.decode()):
        assert secret not in text


class _Swapping(MemorySessionStore):
    """A store that answers for one session id with another session's record, as a
    tampered shared store would: the manager must not serve it."""

    def __init__(self, clock: ManualClock) -> None:
        super().__init__(max_sessions=10, clock=clock)
        self.swap: dict[str, str] = {}

    async def get(self, sid: str, *, fresh: bool = False) -> Session | None:
        return await super().get(self.swap.get(sid, sid), fresh=fresh)


@pytest.mark.parametrize("same_guest", [False, True])
async def test_a_record_of_another_session_is_refused(
    same_guest: bool, caplog: pytest.LogCaptureFixture
) -> None:
    clock = ManualClock()
    store = _Swapping(clock)
    manager = SessionManager(store, secret=SECRET, ttl=3600, idle_timeout=3600, clock=clock)
    victim, _ = await manager.create("42", TOKENS)
    _, token = await manager.create("42" if same_guest else "7", TOKENS)
    attacker = (await manager.resolve(token)).session
    store.swap[attacker.sid] = victim.sid
    with pytest.raises(Unauthorized) as info:
        await manager.resolve(token)
    assert info.value.code == "invalid_session"
    (record,) = [r for r in caplog.records if r.name == "gateway.sessions"]
    assert record.levelname == "WARNING"
    assert record.getMessage() == "session record does not match its token"
    assert "ACC-x" not in str(record.__dict__)


async def test_a_record_of_another_guest_under_the_right_id_is_refused() -> None:
    clock = ManualClock()
    store = MemorySessionStore(max_sessions=10, clock=clock)
    manager = SessionManager(store, secret=SECRET, ttl=3600, idle_timeout=3600, clock=clock)
    session, token = await manager.create("42", TOKENS)
    await store.replace(replace(session, user_id="7"), 3600)
    with pytest.raises(Unauthorized) as info:
        await manager.resolve(token)
    assert info.value.code == "invalid_session"


# -- issue 15, finding 5: who goes when there is no room ---------------------------------


def _store(clock: ManualClock, max_sessions: int, max_per_user: int = 10) -> SessionManager:
    store = MemorySessionStore(max_sessions=max_sessions, max_per_user=max_per_user, clock=clock)
    return SessionManager(store, secret=SECRET, ttl=3600, idle_timeout=3600, clock=clock)


async def _alive(manager: SessionManager, session: Session) -> bool:
    return await manager.store.get(session.sid) is not None


async def test_a_guest_holds_at_most_max_per_user_sessions_the_oldest_ending_first() -> None:
    clock = ManualClock()
    manager = _store(clock, max_sessions=100, max_per_user=10)
    mine = []
    for _ in range(13):
        mine.append((await manager.create("42", TOKENS))[0])
        clock.advance(1)
    assert [await _alive(manager, s) for s in mine] == [False] * 3 + [True] * 10
    store = manager.store
    assert isinstance(store, MemorySessionStore)
    assert store.sessions_of("42") == tuple(s.sid for s in mine[3:])
    assert len(store) == 10
    assert await store.delete_user("42") == 10
    assert len(store) == 0


async def test_one_account_signing_in_over_and_over_logs_nobody_else_out() -> None:
    clock = ManualClock()
    manager = _store(clock, max_sessions=20)
    others = [(await manager.create(f"guest-{i}", TOKENS))[0] for i in range(8)]
    clock.advance(1)
    flood = [(await manager.create("attacker", TOKENS))[0] for _ in range(200)]
    assert all([await _alive(manager, s) for s in others])
    assert sum([await _alive(manager, s) for s in flood]) == 10
    assert all([await _alive(manager, s) for s in flood[-10:]])


async def test_a_full_table_takes_from_guests_with_sessions_to_spare_first() -> None:
    clock = ManualClock()
    manager = _store(clock, max_sessions=10)
    singles = [(await manager.create(f"guest-{i}", TOKENS))[0] for i in range(6)]
    clock.advance(1)
    pairs = [(await manager.create(f"pair-{i // 2}", TOKENS))[0] for i in range(4)]
    # Full: the next sign-in takes the least recently used session of a guest with two,
    # although the six singles are older.
    newcomer, _ = await manager.create("newcomer", TOKENS)
    assert all([await _alive(manager, s) for s in (*singles, newcomer)])
    assert [await _alive(manager, s) for s in pairs] == [False, True, True, True]
    # Once no guest has a session to spare, the least recently used goes, whoever's; a
    # session in use is not the least recently used.
    clock.advance(61)
    await manager.resolve(manager.token_for(singles[0]))  # touched: written again
    await manager.create("another", TOKENS)  # pair-1 still had two: its older one goes
    assert not await _alive(manager, pairs[2])
    await manager.create("third", TOKENS)
    assert await _alive(manager, singles[0])
    assert not await _alive(manager, singles[1])


async def test_the_per_guest_index_follows_a_record_rewritten_for_another_guest() -> None:
    clock = ManualClock()
    store = MemorySessionStore(max_sessions=10, clock=clock)
    manager = SessionManager(store, secret=SECRET, ttl=3600, idle_timeout=3600, clock=clock)
    session, _ = await manager.create("42", TOKENS)
    assert await store.replace(replace(session, user_id="7"), 3600)
    assert store.sessions_of("42") == ()
    assert store.sessions_of("7") == (session.sid,)
    assert await store.delete_user("42") == 0
    assert await store.get(session.sid) is not None
    assert await store.delete_user("7") == 1


async def test_a_token_of_another_business_is_refused_even_over_one_store() -> None:
    """The `bus` claim, not only the store a business has of its own: two managers over
    one store (as a store shared by mistake would be) still refuse each other's tokens,
    also once the token was verified and remembered by its own business's manager."""
    clock = ManualClock()
    store = MemorySessionStore(max_sessions=10, clock=clock)
    a, b = (
        SessionManager(store, secret=SECRET, ttl=3600, clock=clock, business=name)
        for name in ("default", "brand-b")
    )
    _, token_a = await a.create("42", TOKENS)
    _, token_b = await b.create("42", TOKENS)
    assert (await a.resolve(token_a)).session.user_id == "42"
    assert (await b.resolve(token_b)).session.user_id == "42"
    for manager, token in ((b, token_a), (a, token_b)):
        with pytest.raises(Unauthorized, match="another business") as info:
            await manager.resolve(token)
        assert info.value.code == "invalid_session"
