"""Fault knobs: injected latency, status answers and dropped connections, per route.

Off until a rule is added (``POST /__sandbox/faults``). A rule matches the method and the
exact path (either omitted = any); the first live rule that matches applies, in order:
``latency_ms`` first, then one of
  - ``reset: "before"``: drop the connection; the request is never applied;
  - ``status``: answer that status (``Retry-After`` when ``retry_after`` is given), unapplied;
  - ``reset: "after"``: apply the request, then drop the connection without an answer;
  - ``echo`` (``"json"`` or ``"text"``): apply the request, then answer with the guest's
    tokens echoed in odd shapes (``sandbox.echo``), with ``status`` if given.
(``reset`` wins over ``echo``, and ``echo`` over a bare ``status``, when a rule has both.)
``times`` is how many requests the rule applies to (None = until cleared).
``/__sandbox/`` routes are never faulted. One book for the whole sandbox, whatever the
business; an echo reads the tokens of the request's business.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import asdict, dataclass
from typing import Any

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware

from sandbox.calls import SANDBOX_PREFIX
from sandbox.echo import ECHOES, echo_tokens
from sandbox.state import SandboxState

RESETS = ("before", "after")
_FIELDS = frozenset(
    {"method", "path", "latency_ms", "status", "retry_after", "reset", "echo", "times"}
)
Sleep = Callable[[float], Awaitable[None]]


@dataclass
class FaultRule:
    id: int
    method: str | None = None
    path: str | None = None
    latency_ms: int = 0
    status: int | None = None
    retry_after: int | None = None
    reset: str | None = None
    echo: str | None = None
    times: int | None = None  # requests left; None = until cleared

    def matches(self, method: str, path: str) -> bool:
        return (self.method in (None, method)) and (self.path in (None, path))

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


def parse_rule(data: Mapping[str, Any], rule_id: int) -> FaultRule:
    """Build a rule from the knob's JSON; ``ValueError`` names the bad field."""
    unknown = set(data) - _FIELDS
    if unknown:
        raise ValueError(f"unknown fault fields: {', '.join(sorted(unknown))}")
    method = _opt_str(data, "method")
    path = _opt_str(data, "path")
    if path is not None and not path.startswith("/"):
        raise ValueError(f"path={path!r}: expected an absolute path without query")
    reset = data.get("reset")
    if reset is not None and reset not in RESETS:
        raise ValueError(f"reset={reset!r}: expected 'before', 'after' or null")
    echo = data.get("echo")
    if echo is not None and echo not in ECHOES:
        raise ValueError(f"echo={echo!r}: expected 'json', 'text' or null")
    rule = FaultRule(
        id=rule_id,
        method=method.upper() if method else None,
        path=path,
        latency_ms=_opt_int(data, "latency_ms", 0, 60_000) or 0,
        status=_opt_int(data, "status", 100, 599),
        retry_after=_opt_int(data, "retry_after", 0, 86_400),
        reset=reset,
        echo=echo,
        times=_opt_int(data, "times", 1, 1_000_000),
    )
    if not (rule.latency_ms or rule.status or rule.reset or rule.echo):
        raise ValueError("a fault needs latency_ms, status, reset or echo")
    return rule


def _opt_str(data: Mapping[str, Any], name: str) -> str | None:
    value = data.get(name)
    if value is not None and not isinstance(value, str):
        raise ValueError(f"{name}={value!r}: expected a string or null")
    return value or None


def _opt_int(data: Mapping[str, Any], name: str, low: int, high: int) -> int | None:
    value = data.get(name)
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise ValueError(f"{name}={value!r}: expected an integer in {low}..{high} or null")
    return value


class FaultBook:
    """The live rules of one app."""

    def __init__(self) -> None:
        self._rules: list[FaultRule] = []
        self._last_id = 0

    def add(self, data: Mapping[str, Any]) -> FaultRule:
        rule = parse_rule(data, self._last_id + 1)
        self._last_id = rule.id
        self._rules.append(rule)
        return rule

    def clear(self) -> int:
        count = len(self._rules)
        self._rules.clear()
        return count

    def rules(self) -> list[FaultRule]:
        return list(self._rules)

    def take(self, method: str, path: str) -> FaultRule | None:
        """The first matching rule, spending one of its ``times``; None when none match."""
        for rule in self._rules:
            if rule.matches(method, path):
                if rule.times is not None:
                    rule.times -= 1
                    if rule.times == 0:
                        self._rules.remove(rule)
                return rule
        return None


def _drop_connection(request: web.Request) -> web.Response:
    # Closing the transport makes aiohttp's write of the returned response fail with a
    # ConnectionError, which it treats as a client disconnect: nothing reaches the client.
    if request.transport is not None:
        request.transport.close()
    return web.Response(status=499)


def make_faults_middleware(
    book: FaultBook,
    state_of: Callable[[web.Request], SandboxState],
    *,
    sleep: Sleep = asyncio.sleep,
) -> Middleware:
    @web.middleware
    async def faults(request: web.Request, handler: Handler) -> web.StreamResponse:
        rule = None
        if not request.path.startswith(SANDBOX_PREFIX):
            rule = book.take(request.method, request.path)
        if rule is None:
            return await handler(request)
        if rule.latency_ms:
            await sleep(rule.latency_ms / 1000)
        if rule.reset == "before":
            return _drop_connection(request)
        if rule.echo is not None and rule.reset is None:
            return await echo_tokens(
                state_of(request), request, await handler(request), rule.echo, rule.status
            )
        if rule.status is not None and rule.reset is None:
            headers = {} if rule.retry_after is None else {"Retry-After": str(rule.retry_after)}
            body = {"error": f"Sandbox fault: status {rule.status}"}
            return web.json_response(body, status=rule.status, headers=headers)
        response = await handler(request)
        if rule.reset == "after":
            return _drop_connection(request)
        return response

    return faults
