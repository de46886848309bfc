"""Memory of live sessions in the gateway's memory store.

Run by bench/run.py in a process of its own: `python bench/session_memory.py N SECONDS`.
Builds the memory session store the gateway builds (`MemorySessionStore` behind
`SessionManager`), creates N sessions through `SessionManager.create` with tokens as long
as Punchh's (access and refresh tokens of 43 characters, an authentication token of 40,
an id_token that is a 700-character JWT; every one distinct, one guest per session), and
prints one JSON line: the process's RSS (VmRSS from /proc/self/status) before and after,
and the bytes each session costs. Bounded: after SECONDS it stops creating and projects
the RSS at N from the bytes per session measured so far (`measured: false`), with the
creation cost per session of the first and the last batch.
"""

from __future__ import annotations

import asyncio
import base64
import gc
import json
import secrets
import sys
import time
from pathlib import Path
from typing import Any

from gateway.sessions import PunchhTokens, SessionManager
from gateway.store.memory import MemorySessionStore

ACCESS_CHARS = 43  # secrets.token_urlsafe(32), like Punchh's access and refresh tokens
AUTHENTICATION_CHARS = 40
ID_TOKEN_CHARS = 700
LIMIT_MB = 150
BATCH = 1000


def rss_bytes() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS in /proc/self/status")


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


_JWT_HEADER = _b64(b'{"alg":"RS256","kid":"2a7c9e1f4b","typ":"JWT"}')


def fake_id_token(user_id: str, now: int) -> str:
    """An RS256-shaped JWT of exactly ID_TOKEN_CHARS characters (header, claims, and a
    342-character signature: 2048-bit RSA); the claims' part is padded to the length."""
    claims = {
        "iss": "https://sandbox.punchh.com",
        "sub": user_id,
        "aud": "bench-client",
        "iat": now,
        "exp": now + 7200,
        "jti": secrets.token_hex(16),
        "email": f"guest{user_id}@example.com",
    }
    signature = _b64(secrets.token_bytes(256))
    payload = _b64(json.dumps(claims, separators=(",", ":")).encode())
    room = ID_TOKEN_CHARS - len(_JWT_HEADER) - len(signature) - 2
    payload = (payload + "A" * room)[:room]
    return f"{_JWT_HEADER}.{payload}.{signature}"


def tokens_for(user_id: str, now: int) -> PunchhTokens:
    return PunchhTokens(
        access_token=secrets.token_urlsafe(32),
        authentication_token=secrets.token_urlsafe(30),
        id_token=fake_id_token(user_id, now),
        refresh_token=secrets.token_urlsafe(32),
        expires_in=7200.0,
    )


async def probe(count: int, budget: float) -> dict[str, Any]:
    """Create `count` sessions, or as many as fit in `budget` seconds (the rest is then
    projected from the bytes each created session cost, and says so)."""
    store = MemorySessionStore(max_sessions=count, clock=time.time)
    manager = SessionManager(
        store, secret=secrets.token_bytes(48), ttl=86400, idle_timeout=14400, clock=time.time
    )
    now = int(time.time())
    # One session made and ended first: lazily imported code and caches are in `before`.
    session, _ = await manager.create("warm-up", tokens_for("warm-up", now))
    await manager.end(session.sid)
    sample = tokens_for("0", now)
    gc.collect()
    before = rss_bytes()
    started = time.perf_counter()
    batch_us: list[float] = []  # microseconds per session, per batch of BATCH
    created = 0
    while created < count and time.perf_counter() - started < budget:
        batch_started = time.perf_counter()
        for i in range(created, min(count, created + BATCH)):
            user_id = str(10_000_000 + i)
            await manager.create(user_id, tokens_for(user_id, now), family="password_less")
        done = min(count, created + BATCH) - created
        batch_us.append((time.perf_counter() - batch_started) / done * 1e6)
        created += done
    elapsed = time.perf_counter() - started
    gc.collect()
    after = rss_bytes()
    if len(store) != created:
        raise RuntimeError(f"the store kept {len(store)} of {created} sessions")
    per_session = (after - before) / created
    rss_full = after if created == count else before + per_session * count
    return {
        "sessions": count,
        "sessions_created": created,
        "measured": created == count,  # False: rss_mb_after is projected (budget ran out)
        "rss_mb_before": round(before / 2**20, 1),
        "rss_mb_after": round(rss_full / 2**20, 1),
        "rss_mb_after_created": round(after / 2**20, 1),
        "bytes_per_session": round(per_session),
        f"fits_under_{LIMIT_MB}mb": rss_full / 2**20 < LIMIT_MB,
        "create_seconds": round(elapsed, 2),
        "create_us_per_session_first_batch": round(batch_us[0], 1),
        "create_us_per_session_last_batch": round(batch_us[-1], 1),
        "batch": BATCH,
        "token_chars": {
            "access_token": len(sample.access_token or ""),
            "authentication_token": len(sample.authentication_token or ""),
            "id_token": len(sample.id_token or ""),
            "refresh_token": len(sample.refresh_token or ""),
        },
        "store": "gateway.store.memory.MemorySessionStore via SessionManager.create",
    }


def main(argv: list[str]) -> int:
    count = int(argv[1]) if len(argv) > 1 else 100_000
    budget = float(argv[2]) if len(argv) > 2 else 60.0
    print(json.dumps(asyncio.run(probe(count, budget))))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
