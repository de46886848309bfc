"""Guest sessions: Punchh's tokens kept server-side behind a gateway session token.

`SessionStore` is the storage contract (memory now; Redis in the sessions-at-scale work).
`SessionManager` issues, resolves and ends sessions; `resolve` raises `Unauthorized`
(401, `invalid_session`) for a missing, forged, expired or revoked token.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Protocol

from cachetools import TLRUCache

from gateway.errors import Unauthorized
from gateway.tokens import (
    InvalidToken,
    TokenClaims,
    decode_session_token,
    encode_session_token,
    key_id,
    new_session_id,
)

Clock = Callable[[], float]


@dataclass(frozen=True, slots=True)
class PunchhTokens:
    """What a Punchh sign-in hands out. Never shown: repr is masked field by field."""

    access_token: str | None = field(default=None, repr=False)
    authentication_token: str | None = field(default=None, repr=False)
    id_token: str | None = field(default=None, repr=False)
    refresh_token: str | None = field(default=None, repr=False)
    expires_in: float | None = None  # access token lifetime, as Punchh said

    def values(self) -> tuple[str, ...]:
        return tuple(
            v
            for v in (
                self.access_token,
                self.authentication_token,
                self.id_token,
                self.refresh_token,
            )
            if v
        )


@dataclass(frozen=True, slots=True)
class Session:
    sid: str
    user_id: str | None
    tokens: PunchhTokens
    created_at: float
    expires_at: float
    access_expires_at: float | None = None


class SessionStore(Protocol):
    async def get(self, sid: str) -> Session | None: ...
    async def put(self, session: Session) -> None: ...
    async def delete(self, sid: str) -> None: ...
    async def close(self) -> None: ...


class MemorySessionStore:
    """Bounded by count; each record expires at its own `expires_at` on the injected clock."""

    def __init__(self, *, max_sessions: int, clock: Clock) -> None:
        self._cache: TLRUCache[str, Session] = TLRUCache(
            maxsize=max_sessions, ttu=lambda _k, s, _now: s.expires_at, timer=clock
        )

    async def get(self, sid: str) -> Session | None:
        return self._cache.get(sid)

    async def put(self, session: Session) -> None:
        self._cache[session.sid] = session

    async def delete(self, sid: str) -> None:
        self._cache.pop(sid, None)

    async def close(self) -> None:
        self._cache.clear()

    def __len__(self) -> int:
        return len(self._cache)


@dataclass(frozen=True, slots=True)
class Resolved:
    session: Session
    token: str  # the gateway token the client presented


class SessionManager:
    def __init__(
        self,
        store: SessionStore,
        *,
        secret: bytes,
        ttl: int,
        clock: Clock,
        previous_secrets: tuple[bytes, ...] = (),
    ) -> None:
        self.store = store
        self._secret = secret
        self._keys: Mapping[str, bytes] = {key_id(s): s for s in (*previous_secrets, secret)}
        self._ttl = ttl
        self._clock = clock

    def __repr__(self) -> str:
        return f"SessionManager(store={type(self.store).__name__}, ttl={self._ttl})"

    async def create(self, user_id: str | None, tokens: PunchhTokens) -> tuple[Session, str]:
        now = self._clock()
        session = Session(
            sid=new_session_id(),
            user_id=user_id,
            tokens=tokens,
            created_at=now,
            expires_at=now + self._ttl,
            access_expires_at=now + tokens.expires_in if tokens.expires_in else None,
        )
        await self.store.put(session)
        return session, self.token_for(session)

    def token_for(self, session: Session) -> str:
        claims = TokenClaims(
            sid=session.sid,
            sub=session.user_id,
            iat=int(session.created_at),
            exp=int(session.expires_at),
        )
        return encode_session_token(claims, self._secret)

    async def resolve(self, token: str | None) -> Resolved:
        if not token:
            raise Unauthorized("a gateway session token is required", code="session_required")
        try:
            claims = decode_session_token(token, self._keys, self._clock())
        except InvalidToken as exc:
            raise Unauthorized(str(exc), code="invalid_session") from None
        session = await self.store.get(claims.sid)
        if session is None:
            raise Unauthorized("session has ended", code="invalid_session")
        return Resolved(session, token)

    async def update_tokens(self, session: Session, tokens: PunchhTokens) -> Session:
        """Store refreshed Punchh tokens; fields Punchh did not send again are kept."""
        merged = PunchhTokens(
            access_token=tokens.access_token or session.tokens.access_token,
            authentication_token=tokens.authentication_token or session.tokens.authentication_token,
            id_token=tokens.id_token or session.tokens.id_token,
            refresh_token=tokens.refresh_token or session.tokens.refresh_token,
            expires_in=tokens.expires_in,
        )
        now = self._clock()
        updated = replace(
            session,
            tokens=merged,
            access_expires_at=now + tokens.expires_in if tokens.expires_in else None,
        )
        await self.store.put(updated)
        return updated

    def remaining(self, session: Session) -> int:
        """Seconds the session (and so its gateway token) still lives."""
        return max(0, int(session.expires_at - self._clock()))

    async def end(self, sid: str) -> None:
        await self.store.delete(sid)
