"""The session store contract, and the one error a store raises.

Every backend error (connection refused, timeout, a reply that cannot be read)
becomes `StoreUnavailable`: 503 `session_store_unavailable`. Nothing is deleted
because a store could not be reached.
"""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from gateway.session_record import Session


class SessionStore(Protocol):
    async def get(self, sid: str, *, fresh: bool = False) -> Session | None:
        """`fresh`: past any copy this process keeps (the token refresh reads so)."""

    async def put(self, session: Session, ttl: float) -> None:
        """Keep `session` for `ttl` seconds at most."""

    async def replace(self, session: Session, ttl: float) -> bool:
        """Overwrite a session that still exists (atomically); False, writing nothing, when
        it has ended meanwhile: an update must never bring an ended session back."""

    async def delete(self, sid: str) -> None: ...

    async def delete_user(self, user_id: str) -> int:
        """End every session of a guest; how many there were."""

    def lock(self, name: str, *, ttl: float, wait: float) -> AbstractAsyncContextManager[bool]:
        """Hold `name` (across replicas, for a shared store) for at most `ttl` seconds,
        waiting up to `wait` for it; yields whether it was acquired."""

    async def count(self) -> int:
        """Live sessions (for the active-sessions gauge)."""

    async def ping(self, *, every: bool = False) -> None:
        """Raises StoreUnavailable when the store cannot answer; `every`: when any part of
        it cannot (each Cluster shard: the sign-in's check, its session may land on any)."""

    async def close(self) -> None: ...
