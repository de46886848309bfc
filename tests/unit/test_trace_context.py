"""W3C Trace Context parsing, the samplers decided on ids, and when tracing is on."""

from __future__ import annotations

import pytest

from gateway.trace_context import (
    MAX_TRACESTATE,
    Parent,
    clean_tracestate,
    parse_traceparent,
    sampling_from,
    traceparent,
)
from gateway.tracing import endpoint_from

TRACE, SPAN = "0af7651916cd43dd8448eb211c80319c", "b7ad6b7169203331"


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (f"00-{TRACE}-{SPAN}-01", Parent(TRACE, SPAN, True)),
        (f"00-{TRACE}-{SPAN}-00", Parent(TRACE, SPAN, False)),
        (f"00-{TRACE}-{SPAN}-03", Parent(TRACE, SPAN, True)),  # other flags ignored
        (f" 00-{TRACE}-{SPAN}-01\t", Parent(TRACE, SPAN, True)),
        (f"01-{TRACE}-{SPAN}-01-more", Parent(TRACE, SPAN, True)),  # a later version
        (f"00-{TRACE}-{SPAN}-01-more", None),  # version 00 has exactly four fields
        (f"ff-{TRACE}-{SPAN}-01", None),
        (f"00-{'0' * 32}-{SPAN}-01", None),
        (f"00-{TRACE}-{'0' * 16}-01", None),
        (f"00-{TRACE.upper()}-{SPAN}-01", None),
        (f"00-{TRACE[:-1]}-{SPAN}-01", None),
        ("00-not-hex-01", None),
        ("", None),
        (None, None),
    ],
)
def test_parse_traceparent(header: str | None, expected: Parent | None) -> None:
    assert parse_traceparent(header) == expected


def test_traceparent_out() -> None:
    assert traceparent(TRACE, SPAN, True) == f"00-{TRACE}-{SPAN}-01"
    assert traceparent(TRACE, SPAN, False) == f"00-{TRACE}-{SPAN}-00"


def test_tracestate_joined_or_dropped_whole() -> None:
    assert clean_tracestate(["a=1", " b=2 "]) == "a=1,b=2"
    assert clean_tracestate([]) is None
    assert clean_tracestate(["  "]) is None
    assert clean_tracestate(["x=" + "y" * MAX_TRACESTATE]) is None
    assert clean_tracestate(["congo=t61rcWkgMzE,rojo=00f067aa0ba902b7", "t@vendor=x y"]) == (
        "congo=t61rcWkgMzE,rojo=00f067aa0ba902b7,t@vendor=x y"
    )
    for hostile in (
        "a=1\r\nX-Injected: 1",  # a header of its own at Punchh
        "a=caf\u00e9",  # not ASCII: no bytes the gateway's client would choke on
        "a=\udcff",  # a surrogate (undecodable bytes as aiohttp hands them over)
        "A=1",  # keys are lower case
        "a==1",
        "novalue",
    ):
        assert clean_tracestate(["ok=1", hostile]) is None, hostile
    assert clean_tracestate([",".join(f"k{i}=v" for i in range(33))]) is None  # 32 at most


LOW = "0" * 16  # a trace id's high half: the ratio reads the low 64 bits, as the SDK does


@pytest.mark.parametrize(
    ("name", "arg", "low", "parent", "sampled"),
    [
        (None, None, "f" * 16, None, True),  # default: parentbased_always_on
        (None, None, "0" * 16, Parent(TRACE, SPAN, False), False),
        ("always_on", None, "f" * 16, Parent(TRACE, SPAN, False), True),
        ("always_off", None, "0" * 16, Parent(TRACE, SPAN, True), False),
        ("traceidratio", "0.5", "7" + "f" * 15, None, True),
        ("traceidratio", "0.5", "8" + "0" * 15, None, False),
        ("traceidratio", "0.5", "8" + "0" * 15, Parent(TRACE, SPAN, True), False),
        ("parentbased_traceidratio", "0.01", "8" + "0" * 15, Parent(TRACE, SPAN, True), True),
        ("parentbased_traceidratio", "0.01", "0" * 15 + "1", None, True),
        ("parentbased_traceidratio", "0.01", "0" + "5" * 15, None, False),
        ("parentbased_always_off", None, "0" * 16, None, False),
        ("parentbased_always_off", None, "0" * 16, Parent(TRACE, SPAN, True), True),
        ("traceidratio", "not-a-number", "f" * 16, None, True),  # warned; ratio 1
        ("jaeger_remote", None, "f" * 16, None, True),  # warned; the default
    ],
)
def test_sampling(
    name: str | None, arg: str | None, low: str, parent: Parent | None, sampled: bool
) -> None:
    sampling = sampling_from(name, arg)
    trace_id = LOW + low
    assert sampling.sampled(trace_id, parent) is sampled
    if parent is None:
        assert sampling.root(int(trace_id, 16)) is sampled


@pytest.mark.parametrize(
    ("env", "endpoint"),
    [
        ({}, None),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": ""}, None),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318"}, "http://c:4318/v1/traces"),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318/"}, "http://c:4318/v1/traces"),
        ({"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://c/x"}, "http://c/x"),
        (
            {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c", "OTEL_SDK_DISABLED": "TRUE"},
            None,
        ),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c", "OTEL_TRACES_EXPORTER": "none"}, None),
    ],
)
def test_tracing_is_on_only_with_an_endpoint(env: dict[str, str], endpoint: str | None) -> None:
    assert endpoint_from(env) == endpoint
