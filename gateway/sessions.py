"""Guest sessions: Punchh's tokens kept server-side behind a gateway session token.

`SessionManager` issues, resolves, touches and ends sessions over a `SessionStore`
(gateway/store/). `resolve` raises `Unauthorized` (401): `session_required` without a
token; `invalid_session` for a forged, expired, idle-timed-out or revoked one, for a
token of another business (its `bus` claim; one manager per business, over that
business's store), and for a store record whose session id or guest is not the token's
(WARNING logged).
A store that cannot answer raises `StoreUnavailable` (503): a network error never ends
a session.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import replace

from gateway.errors import Unauthorized
from gateway.expiring import ExpiringDict
from gateway.session_record import PunchhTokens, Resolved, Session
from gateway.store.base import SessionStore
from gateway.tokens import (
    LEEWAY_SECONDS,
    InvalidToken,
    TokenClaims,
    decode_session_token,
    encode_session_token,
    key_id,
    new_session_id,
)

__all__ = ["PunchhTokens", "Resolved", "Session", "SessionManager"]
log = logging.getLogger("gateway.sessions")

Clock = Callable[[], float]


class SessionManager:
    def __init__(
        self,
        store: SessionStore,
        *,
        secret: bytes,
        ttl: int,
        clock: Clock,
        idle_timeout: int = 14400,
        previous_secrets: tuple[bytes, ...] = (),
        business: str = "default",
    ) -> None:
        self.store = store
        self.business = business
        self._claim = None if business == "default" else business  # the token's `bus`
        self._secret = secret
        self._keys: Mapping[str, bytes] = {key_id(s): s for s in (*previous_secrets, secret)}
        self._ttl = ttl
        self._idle = idle_timeout
        self._clock = clock
        self.lifetime = ttl
        # Verified tokens → claims, until their exp: a JWT verification costs ~90 µs here,
        # a dict look-up nothing. Keyed by the whole token, signature included: only the
        # exact bytes that were verified are remembered. Revocation is the store's.
        self._verified: ExpiringDict[str, TokenClaims] = ExpiringDict(65536)

    def __repr__(self) -> str:
        return (
            f"SessionManager(business={self.business!r}, store={type(self.store).__name__}, "
            f"ttl={self._ttl})"
        )

    def _keep_for(self, session: Session) -> float:
        return session.deadline(self._idle) - self._clock()

    async def _update(self, session: Session) -> Session:
        """Write an existing session; one ended meanwhile (logout, revoke) stays ended: 401."""
        if not await self.store.replace(session, self._keep_for(session)):
            raise Unauthorized("session has ended", code="invalid_session")
        return session

    async def create(
        self,
        user_id: str | None,
        tokens: PunchhTokens,
        *,
        family: str = "auth",
        access_expires_at: float | None = None,
    ) -> tuple[Session, str]:
        now = self._clock()
        if access_expires_at is None and tokens.expires_in:
            access_expires_at = now + tokens.expires_in
        session = Session(
            sid=new_session_id(user_id),
            user_id=user_id,
            tokens=tokens,
            created_at=now,
            expires_at=now + self._ttl,
            last_seen=now,
            access_expires_at=access_expires_at,
            family=family,
        )
        await self.store.put(session, self._keep_for(session))
        return session, self.token_for(session)

    def token_for(self, session: Session) -> str:
        claims = TokenClaims(
            sid=session.sid,
            sub=session.user_id,
            iat=int(session.created_at),
            exp=int(session.expires_at),
            bus=self._claim,
        )
        return encode_session_token(claims, self._secret)

    async def resolve(self, token: str | None) -> Resolved:
        if not token:
            raise Unauthorized("a gateway session token is required", code="session_required")
        now = self._clock()
        claims = self._verified.get(token, now)
        if claims is None:
            try:
                claims = decode_session_token(token, self._keys, now)
            except InvalidToken as exc:
                raise Unauthorized(str(exc), code="invalid_session") from None
            self._verified.set(token, claims, claims.exp + LEEWAY_SECONDS, now)
        if claims.bus != self._claim:
            # Signed by this gateway for another business: never looked up in this one's.
            log.warning("session token of another business", extra={"business": self.business})
            raise Unauthorized("session token of another business", code="invalid_session")
        session = await self.store.get(claims.sid)
        if session is None:
            raise Unauthorized("session has ended", code="invalid_session")
        if session.sid != claims.sid or session.user_id != claims.sub:
            # A store that answered with another session's record: never serve it.
            field = "session id" if session.sid != claims.sid else "guest"
            log.warning("session record does not match its token", extra={"field": field})
            raise Unauthorized("session has ended", code="invalid_session")
        if now > session.deadline(self._idle):
            await self.store.delete(session.sid)
            raise Unauthorized("session has ended", code="invalid_session")
        # Touch at most once a minute (or a tenth of the idle timeout): a store write per
        # request would double the store's load for nothing.
        if now - session.last_seen > min(60.0, self._idle / 10):
            session = await self._update(replace(session, last_seen=now))
        return Resolved(session, token)

    async def reload(self, sid: str) -> Session | None:
        return await self.store.get(sid, fresh=True)

    async def update_tokens(
        self, session: Session, tokens: PunchhTokens, *, access_expires_at: float | None = None
    ) -> Session:
        """Store refreshed Punchh tokens; fields Punchh did not send again are kept."""
        merged = PunchhTokens(
            access_token=tokens.access_token or session.tokens.access_token,
            authentication_token=tokens.authentication_token or session.tokens.authentication_token,
            id_token=tokens.id_token or session.tokens.id_token,
            refresh_token=tokens.refresh_token or session.tokens.refresh_token,
            expires_in=tokens.expires_in,
        )
        now = self._clock()
        if access_expires_at is None and tokens.expires_in:
            access_expires_at = now + tokens.expires_in
        return await self._update(
            replace(session, tokens=merged, access_expires_at=access_expires_at)
        )

    def remaining(self, session: Session) -> int:
        """Seconds the session (and so its gateway token) still lives."""
        return max(0, int(session.expires_at - self._clock()))

    async def end(self, sid: str) -> None:
        await self.store.delete(sid)

    async def end_all(self, user_id: str) -> int:
        """Revoke every session of one guest, in every replica sharing the store."""
        return await self.store.delete_user(user_id)
