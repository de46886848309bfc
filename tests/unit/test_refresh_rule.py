"""When a session's Punchh tokens are refreshed: only Advanced Authentication sessions with a
refresh token and a known expiry, once inside the margin."""

import pytest

from gateway.refresh import needs_refresh
from gateway.sessions import PunchhTokens, Session


def _session(
    family: str = "password_less",
    refresh: str | None = "R",
    access_expires_at: float | None = 1000.0,
) -> Session:
    return Session(
        sid="s",
        user_id="1",
        tokens=PunchhTokens("A", refresh_token=refresh),
        created_at=0,
        expires_at=10_000,
        last_seen=0,
        access_expires_at=access_expires_at,
        family=family,
    )


@pytest.mark.parametrize(
    ("session", "now", "expected"),
    [
        (_session(), 939.0, False),
        (_session(), 940.0, True),  # exactly at the margin
        (_session(), 2000.0, True),
        (_session(refresh=None), 2000.0, False),
        (_session(access_expires_at=None), 2000.0, False),
        (_session(family="auth"), 2000.0, False),
        (_session(family="mobile"), 2000.0, False),
    ],
)
def test_needs_refresh(session: Session, now: float, expected: bool) -> None:
    assert needs_refresh(session, now, margin=60) is expected
