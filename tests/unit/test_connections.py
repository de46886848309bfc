"""The connection policy's pure parts: what aiohttp's refusals become, and the cap's count.
The protocol itself is held to its contract against a real gateway process
(tests/security/test_slow_clients.py, test_disclosure.py)."""

from __future__ import annotations

import logging

import pytest
from aiohttp.http_exceptions import (
    BadHttpMessage,
    BadHttpMethod,
    InvalidHeader,
    InvalidURLError,
    LineTooLong,
    TransferEncodingError,
)

from gateway.connections import Connections, refusal
from tests.support.clock import ManualClock


@pytest.mark.parametrize(
    ("status", "exc", "code", "message"),
    [
        (400, BadHttpMethod("GET\x00secret"), "malformed_request", "not valid HTTP/1.1"),
        (400, InvalidURLError("/\x00<script>secret"), "malformed_request", "not valid HTTP/1.1"),
        (400, InvalidHeader(b"Bad secret"), "malformed_request", "not valid HTTP/1.1"),
        (400, BadHttpMessage("Content-Length: 1secret"), "malformed_request", "not valid"),
        (400, LineTooLong("secret" * 9, "8190"), "headers_too_large", "too long"),
        (400, TransferEncodingError("zz-secret"), "malformed_request", "framing is invalid"),
        (400, None, "malformed_request", "not valid HTTP/1.1"),
        (500, RuntimeError("secret"), "internal_error", "internal error"),
        (504, None, "internal_error", "internal error"),
    ],
)
def test_refusals_name_the_problem_never_the_input(
    status: int, exc: BaseException | None, code: str, message: str
) -> None:
    error = refusal(status, exc)
    assert error.code == code
    assert message in error.message
    assert "secret" not in error.message


def test_the_cap_counts_live_connections(caplog: pytest.LogCaptureFixture) -> None:
    clock = ManualClock()
    conns = Connections(header_timeout=1, body_timeout=1, max_connections=2, clock=clock)
    with caplog.at_level(logging.WARNING, logger="gateway"):
        assert [conns.admit() for _ in range(4)] == [True, True, False, False]
        clock.advance(9)
        assert not conns.admit()
        clock.advance(1)
        assert not conns.admit()  # ten seconds on: said again
    assert [r.message.startswith("connection limit reached") for r in caplog.records] == [
        True,
        True,
    ]
    for _ in range(4):
        conns.release()
    assert conns.live == 2
    assert not conns.admit()
    conns.release()
    conns.release()
    assert conns.admit()
