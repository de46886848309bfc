"""Token echoes (a fault with ``echo``): an answer that also carries the guest's tokens.

For tests of what a proxy lets through (the gateway's issue 15, finding 6). The request is
applied as usual; then the tokens of every grant of each guest one of whose tokens the
request or the answer holds (access, authentication, refresh, id_token; earlier grants too,
refreshed or not) are echoed, each as ``"Bearer <t>"``, in a link ``...?token=<t>``, five
lists deep, as a key, and under its own name in ``user.profile`` and in a list of objects.
  - ``"json"``: an answer that is a JSON object gets an ``echo`` key, a list of one such
    object per token; any other answer becomes ``{"answer": <it>, "echo": [...]}``;
  - ``"text"``: a ``text/plain`` answer, the original body then one line per token.
The fault's ``status``, if any, replaces the answer's.
"""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from sandbox.state import Grant, SandboxState

ECHOES = ("json", "text")


def grant_tokens(grant: Grant) -> list[tuple[str, str]]:
    """(name, token) of each token of a grant, under the name Punchh gives it."""
    named = (
        ("access_token", grant.access_token),
        ("authentication_token", grant.authentication_token),
        ("refresh_token", grant.refresh_token),
        ("id_token", grant.id_token),
    )
    return [(name, token) for name, token in named if token]


def guest_tokens(state: SandboxState, seen: bytes) -> list[tuple[str, str]]:
    """Every token of every grant of each guest one of whose tokens is in ``seen``."""
    guests = {
        g.user_id
        for g in state.grants.values()
        if any(token.encode() in seen for _, token in grant_tokens(g))
    }
    return [pair for g in state.grants.values() if g.user_id in guests for pair in grant_tokens(g)]


def shapes(name: str, token: str) -> dict[str, Any]:
    return {
        "bearer": f"Bearer {token}",
        "link": f"https://punchh.example/welcome?token={token}&src=email",
        "deep": [[[[[token]]]]],
        "keyed": {token: name},
        "user": {"profile": {name: token}},
        "grants": [{name: token, "kind": name}],
    }


async def echo_tokens(
    state: SandboxState,
    request: web.Request,
    response: web.StreamResponse,
    echo: str,
    status: int | None,
) -> web.Response:
    body = response.body if isinstance(response, web.Response) else b""
    raw = body if isinstance(body, bytes) else b""
    seen = b"\n".join(
        [*(v.encode() for v in request.headers.values()), request.query_string.encode()]
    )
    found = guest_tokens(state, b"\n".join([seen, await request.read(), raw]))
    status = status or response.status
    if echo == "text":
        lines = [f"{name}: Bearer {token} ({shapes(name, token)['link']})" for name, token in found]
        text = "\n".join([raw.decode("utf-8", "replace"), *lines])
        return web.Response(text=text, status=status, content_type="text/plain")
    try:
        answer = json.loads(raw) if raw else None
    except ValueError:
        answer = raw.decode("utf-8", "replace")
    echoed = [shapes(name, token) for name, token in found]
    doc = (
        {**answer, "echo": echoed}
        if isinstance(answer, dict)
        else {"answer": answer, "echo": echoed}
    )
    return web.json_response(doc, status=status)
