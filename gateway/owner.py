"""Whose request this is: the one answer the cache, the idempotency book and logout share.

A guest is named by the Punchh user id of the session (or, before Punchh named one, by
the session id); a POS request by its device. None for a request with neither.
"""

from __future__ import annotations

from gateway.exchange import Exchange
from gateway.sessions import Session


def guest_of(session: Session) -> str:
    """The guest a session belongs to: the cache's user tag and the idempotency scope."""
    return session.user_id or f"sid:{session.sid}"


def owner_of(ex: Exchange) -> str | None:
    if ex.device is not None:
        return f"pos:{ex.device.name}"
    if ex.session is not None:
        return f"guest:{guest_of(ex.session.session)}"
    return None
