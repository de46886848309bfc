"""A guest session as data: what Punchh handed out, and what the gateway keeps with it.

The stores (gateway/store/) keep these; the session manager (gateway/sessions.py) issues,
resolves and ends them. Data only: importing this module imports no store and no manager.
"""

from __future__ import annotations

from dataclasses import dataclass, field


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
    expires_at: float  # absolute end
    last_seen: float = 0.0
    access_expires_at: float | None = None
    family: str = "auth"  # the route family of the sign-in: decides how to sign out

    def deadline(self, idle_timeout: float) -> float:
        """When the record may be dropped: idle timeout or absolute end, whichever is first."""
        return min(self.expires_at, self.last_seen + idle_timeout)


@dataclass(frozen=True, slots=True)
class Resolved:
    session: Session
    token: str  # the gateway token the client presented
