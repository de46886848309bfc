"""Request id: a sane client `X-Request-ID` is kept, anything else replaced by a new one.

The front puts it on the exchange and on every answer, and the upstream call carries
it on. A new id is this process's random prefix and a counter: unique across replicas
and restarts without a random draw per request (request ids are not secrets).
"""

from __future__ import annotations

import itertools
import os
import re
import secrets

_SANE = re.compile(r"[A-Za-z0-9._:\-]{8,128}")
_PREFIX = secrets.token_hex(8)
_COUNTER = itertools.count(1)


def _reseed() -> None:
    global _PREFIX  # a forked child must not repeat its parent's ids
    _PREFIX = secrets.token_hex(8)


os.register_at_fork(after_in_child=_reseed)


def request_id_for(header: str | None) -> str:
    if header and _SANE.fullmatch(header):
        return header
    return f"{_PREFIX}{next(_COUNTER):016x}"
