"""Token refresh: exactly one refresh per session at a time, in a process and across replicas.

A session whose Punchh access token is within `refresh_margin` of its expiry is refreshed
before forwarding; an upstream 401 triggers one refresh-and-retry. Concurrent requests in
one process share one in-flight refresh (a per-session future); across replicas a store
lock, then reload-and-recheck, makes the losers take the winner's new tokens (refresh
tokens rotate: a second use would fail). A refresh Punchh rejects ends the session:
401 `session_expired`. A refresh that cannot reach Punchh keeps the old tokens while
they are still valid.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Callable

from gateway import jsonio
from gateway.config import GatewayConfig
from gateway.errors import GatewayError, Unauthorized, UpstreamError
from gateway.metrics import Metrics
from gateway.punchh_calls import refresh_request, refresh_spec, refreshable
from gateway.sessions import Session, SessionManager
from gateway.timing import Timing
from gateway.translate import id_token_expiry, take_tokens
from gateway.upstream import UpstreamClient

log = logging.getLogger("gateway.refresh")
_REJECTED = frozenset({400, 401, 403, 404, 410, 422})


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
        store = self._manager.store
        async with store.lock(f"refresh:{sid}", ttl=self._lock_ttl, wait=self._lock_ttl) as got:
            current = await self._manager.reload(sid)
            if current is None:
                raise _expired()
            if not got or not refreshable(current):
                return current
            if stale is None and not needs_refresh(current, self._clock(), self._margin):
                return current  # another replica refreshed while we waited for the lock
            if stale is not None and current.tokens.access_token != stale:
                return current
            return await self._call(current, request_id, timing)

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
        return await self._manager.update_tokens(current, tokens, access_expires_at=expires_at)

    def _keep_if_valid(self, current: Session, why: str) -> Session:
        self._metrics.refreshes.labels("failed").inc()
        log.warning("token refresh failed", extra={"reason": why})
        if current.access_expires_at is not None and self._clock() < current.access_expires_at:
            return current
        raise UpstreamError("Punchh could not refresh the session's tokens", kind="refresh")
