"""The headers Punchh requires on every family request (pure); a problem answers 400.

Seeds 001, 002 and 004 mark ``Content-Type`` ("Set this header to application/json"),
``Accept`` and ``User-Agent`` required; docs/punchh.md ("Required headers") asks the same of
every family, POS included (``IntegratorName/POS/Version``). Checked, in this order:
- ``User-Agent``: present, in Punchh's ``Name/Type/Version`` form: at least three
  ``/``-separated parts, the first three non-empty and without spaces
  (``Punchh/OnlineOrder/1.0/Web/BrowserVersion/OS_Type``, ``NCRSilverPro/POS/3.5.6b``);
  what follows the third part (browser version, OS) is free. Which word is the type is not
  checked: the documented forms put it second (POS, the example) or third (the OO template).
- ``Accept``: present and non-empty. The docs give no value ("Advertises which content
  types the client is able to understand"), so any value passes.
- ``Content-Type``: ``application/json`` (parameters such as charset allowed) when the
  request has a body. The seeds document only requests with a body; a GET or DELETE
  without one is not refused for lacking it (lenient: the docs are not explicit there).
``/__sandbox/`` routes and paths outside every family are not checked (``pipeline``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from sandbox.signing import Family

_USER_AGENT_RE = re.compile(r"[^/\s]+/[^/\s]+/[^/\s]+(/.*)?", re.ASCII | re.DOTALL)
Problem = tuple[str, str]  # (header, what is wrong)


def user_agent_ok(value: str) -> bool:
    return _USER_AGENT_RE.fullmatch(value.strip()) is not None


def header_problem(headers: Mapping[str, str], *, has_body: bool) -> Problem | None:
    """The first required header missing or malformed, or None when all are fine."""
    agent = headers.get("User-Agent", "").strip()
    if not agent:
        return ("User-Agent", "is required")
    if not user_agent_ok(agent):
        return ("User-Agent", "must be in the form Name/Type/Version")
    if not headers.get("Accept", "").strip():
        return ("Accept", "is required")
    if has_body:
        content_type = headers.get("Content-Type", "").split(";")[0].strip().lower()
        if not content_type:
            return ("Content-Type", "is required")
        if content_type != "application/json":
            return ("Content-Type", "must be application/json")
    return None


def bad_header_body(family: Family, header: str, problem: str) -> Any:
    """The family's 400 body: ``{"error"}`` for Online Ordering, OAuth and POS, the api2
    ``{"errors": {field: [...]}}`` object for Mobile and Advanced Authentication (as the
    412 bodies differ, docs/punchh.md, "Errors")."""
    message = f"{header} header {problem}"
    if family in ("mobile", "password_less"):
        return {"errors": {header.lower().replace("-", "_"): [message]}}
    return {"error": message}
