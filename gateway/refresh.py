"""Token refresh: exactly one refresh per session at a time, in a process and across replicas.

A session whose Punchh access token is within `refresh_margin` of its expiry is refreshed
before forwarding; an upstream 401 triggers one refresh-and-retry. Concurrent requests in
one process share one in-flight refresh (a per-session future); across replicas a store
lock, then reload-and-recheck, makes the losers take the winner's new tokens (refresh
tokens rotate: a second use would fail). A refresh Punchh rejects ends the session:
401 `session_expired`. A refresh that cannot reach Punchh keeps the old tokens while
they are still valid.

Tokens Punchh granted that the store could not keep (it failed between the lock and the
write: a Redis failover) are not thrown away, since Punchh already retired the refresh
token they replace and the next refresh would be refused, ending the session: this
process keeps them (bounded, for UNSAVED_SECONDS), saves them under the lock at the
next refresh of that session instead of calling Punchh, and meanwhile tries to save
them in the background, so that the other replicas find them in the store.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Callable
from dataclasses import dataclass

from gateway import jsonio
from gateway.config import GatewayConfig
from gateway.errors import GatewayError, StoreUnavailable, Unauthorized, UpstreamError
from gateway.metrics import Metrics
from gateway.punchh_calls import refresh_request, refresh_spec, refreshable
from gateway.sessions import PunchhTokens, Session, SessionManager
from gateway.timing import Timing
from gateway.translate import id_token_expiry, take_tokens
from gateway.upstream import UpstreamClient

log = logging.getLogger("gateway.refresh")
_REJECTED = frozenset({400, 401, 403, 404, 410, 422})
LOCK_SLICE = 0.5  # a refresh waiting for the lock reads the session again this often
UNSAVED_SECONDS = 120.0  # how long granted tokens the store could not keep are retried
UNSAVED_MAX = 10_000


@dataclass(frozen=True, slots=True)
class _Unsaved:
    replaces: str | None  # the refresh token these tokens were granted for
    tokens: PunchhTokens
    expires_at: float | None
    until: float


def needs_refresh(session: Session, now: float, margin: float) -> bool:
    return (
        refreshable(session)
        and session.access_expires_at is not None
        and now >= session.access_expires_at - margin
    )


def _expired() -> Unauthorized:
    return Unauthorized("the session has expired; sign in again", code="session_expired")


class Refresher:
    def __init__(
        self,
        manager: SessionManager,
        upstream: UpstreamClient,
        cfg: GatewayConfig,
        *,
        clock: Callable[[], float],
        metrics: Metrics,
    ) -> None:
        self._metrics = metrics
        self._manager = manager
        self._upstream = upstream
        self._cfg = cfg
        self._clock = clock
        self._margin = cfg.session.refresh_margin
        self._lock_ttl = cfg.punchh.total_timeout + 2.0
        self._inflight: dict[str, asyncio.Future[Session]] = {}
        self._unsaved: dict[str, _Unsaved] = {}  # sid → tokens granted, not yet stored
        self._savers: set[asyncio.Task[None]] = set()

    def reconfigure(
        self, manager: SessionManager, upstream: UpstreamClient, cfg: GatewayConfig
    ) -> None:
        """A live reload's settings (the session secrets, the client secret, timeouts):
        the refreshes in flight and the tokens kept to store again stay, so a session is
        still refreshed once."""
        self._manager, self._upstream, self._cfg = manager, upstream, cfg
        self._margin = cfg.session.refresh_margin
        self._lock_ttl = cfg.punchh.total_timeout + 2.0

    async def ensure_fresh(
        self, session: Session, request_id: str, *, timing: Timing | None = None
    ) -> Session:
        if not needs_refresh(session, self._clock(), self._margin):
            return session
        return await self._shared(session, None, request_id, timing)

    async def refresh_now(
        self, session: Session, request_id: str, *, timing: Timing | None = None
    ) -> Session:
        """After Punchh said 401 to this access token (or the frontend asked): refresh unless
        another request already replaced the token."""
        return await self._shared(session, session.tokens.access_token, request_id, timing)

    async def _shared(
        self, session: Session, stale: str | None, request_id: str, timing: Timing | None
    ) -> Session:
        """One refresh per session in this process; its time is the first asker's."""
        future = self._inflight.get(session.sid)
        if future is None:
            future = asyncio.ensure_future(self._refresh(session.sid, stale, request_id, timing))
            self._inflight[session.sid] = future
            future.add_done_callback(functools.partial(self._done, session.sid))
        return await asyncio.shield(future)

    def _done(self, sid: str, future: asyncio.Future[Session]) -> None:
        self._inflight.pop(sid, None)
        if not future.cancelled():
            future.exception()  # retrieved here, so a waiter that went away leaves no warning

    async def _refresh(
        self, sid: str, stale: str | None, request_id: str, timing: Timing | None
    ) -> Session:
        """Under the session's refresh lock. Waiting for another holder, the session is
        read again every LOCK_SLICE seconds: once the holder stored new tokens, they are
        taken without waiting for the lock (which a refresh cut by a store outage leaves
        held until it expires: store.lock's ttl, Punchh's total timeout + 2 s)."""
        store = self._manager.store
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._lock_ttl
        while True:
            wait = min(LOCK_SLICE, max(0.0, deadline - loop.time()))
            async with store.lock(f"refresh:{sid}", ttl=self._lock_ttl, wait=wait) as got:
                current = await self._manager.reload(sid)
                if current is None:
                    raise _expired()
                if not refreshable(current) or self._done_elsewhere(current, stale):
                    return current
                if not got and loop.time() < deadline:
                    continue
                if not got:
                    return current
                if current.sid in self._unsaved:  # granted before, never stored: store them
                    saved = await self._save_unsaved(current)
                    if saved is not None:
                        return saved
                return await self._call(current, request_id, timing)

    def _done_elsewhere(self, current: Session, stale: str | None) -> bool:
        """Another request or replica refreshed since this one was asked for."""
        if stale is None:
            return not needs_refresh(current, self._clock(), self._margin)
        return current.tokens.access_token != stale

    async def _call(self, current: Session, request_id: str, timing: Timing | None) -> Session:
        try:
            resp = await self._upstream.send(
                refresh_request(self._cfg, current, request_id),
                refresh_spec(self._cfg),
                timing=timing,
            )
        except GatewayError:
            return self._keep_if_valid(current, "unreachable")
        if resp.status in _REJECTED:
            again = await self._manager.reload(current.sid)
            if again is not None and again.tokens.refresh_token != current.tokens.refresh_token:
                # Another replica stored tokens it was granted meanwhile (after an outage
                # cut its write): Punchh retired the one sent here, not the session.
                return again
            self._metrics.refreshes.labels("rejected").inc()
            await self._manager.end(current.sid)
            raise _expired()
        found = None
        if 200 <= resp.status < 300:
            try:
                found = take_tokens(jsonio.loads(resp.body))
            except ValueError:
                found = None
        if found is None:
            return self._keep_if_valid(current, f"status {resp.status}")
        tokens = found[0]
        expires_at = None if tokens.expires_in else id_token_expiry(tokens.id_token)
        self._metrics.refreshes.labels("success").inc()
        try:
            return await self._manager.update_tokens(current, tokens, access_expires_at=expires_at)
        except StoreUnavailable:
            self._keep_unsaved(current, tokens, expires_at)
            raise

    def _keep_unsaved(
        self, current: Session, tokens: PunchhTokens, expires_at: float | None
    ) -> None:
        if len(self._unsaved) >= UNSAVED_MAX:
            self._unsaved.pop(next(iter(self._unsaved)))
        until = self._clock() + UNSAVED_SECONDS
        self._unsaved[current.sid] = _Unsaved(
            current.tokens.refresh_token, tokens, expires_at, until
        )
        log.warning("refreshed tokens not stored; kept to store again")
        task = asyncio.ensure_future(self._save_later(current.sid))
        self._savers.add(task)
        task.add_done_callback(self._savers.discard)

    async def _save_unsaved(self, current: Session) -> Session | None:
        """Store the tokens kept for `current` (under its refresh lock), if they still
        replace its refresh token; None when they no longer apply (dropped)."""
        kept = self._unsaved.get(current.sid)
        if kept is None or self._clock() > kept.until:
            self._unsaved.pop(current.sid, None)
            return None
        if current.tokens.refresh_token != kept.replaces:
            self._unsaved.pop(current.sid, None)  # the session moved on meanwhile
            return None
        saved = await self._manager.update_tokens(
            current, kept.tokens, access_expires_at=kept.expires_at
        )
        self._unsaved.pop(current.sid, None)
        log.info("refreshed tokens stored after the store came back")
        return saved

    async def _save_later(self, sid: str) -> None:
        """Try to store kept tokens until it works, the session ends, or UNSAVED_SECONDS.
        Without the refresh lock: the one taken for the cut refresh may outlive the outage
        (its release failed), and the other replicas wait for it; storing the tokens
        before it expires is what lets them find the tokens instead of refreshing with
        the retired one. Tokens are only stored over the very refresh token they
        replace. Tried every 0.1 s: the first to act once the store is back must be this
        process, before another replica's lock wait ends."""
        while sid in self._unsaved and self._clock() <= self._unsaved[sid].until:
            await asyncio.sleep(0.1)  # one read a try: soon after the store is back
            try:
                current = await self._manager.reload(sid)
                if current is None:
                    break
                await self._save_unsaved(current)
                return
            except (StoreUnavailable, Unauthorized):
                continue
        self._unsaved.pop(sid, None)

    async def close(self) -> None:
        for task in list(self._savers):
            task.cancel()
        if self._savers:
            await asyncio.gather(*self._savers, return_exceptions=True)

    def _keep_if_valid(self, current: Session, why: str) -> Session:
        self._metrics.refreshes.labels("failed").inc()
        log.warning("token refresh failed", extra={"reason": why})
        if current.access_expires_at is not None and self._clock() < current.access_expires_at:
            return current
        raise UpstreamError("Punchh could not refresh the session's tokens", kind="refresh")
