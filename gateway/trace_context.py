"""W3C Trace Context as plain values, and the sampling decision, without OpenTelemetry.

`parse_traceparent` reads a frontend's `traceparent` (https://www.w3.org/TR/trace-context/
section 3.2): an invalid one is ignored, and the gateway starts a trace of its own, as the
spec says. `Sampling` is the standard samplers of `OTEL_TRACES_SAMPLER` (the OpenTelemetry
SDK configuration spec), decided on the ids alone: with 1% sampling, 99 requests in 100
never reach the SDK (gateway/tracing.py, where the measured cost is).
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass

log = logging.getLogger("gateway.tracing")

_TRACEPARENT = re.compile(r"([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?")
_ZERO_TRACE, _ZERO_SPAN = "0" * 32, "0" * 16
MAX_TRACESTATE = 512  # characters: the spec's 32 members of any sensible length
MAX_MEMBERS = 32
# A list member (W3C Trace Context, 3.3.1.3): a key (simple, or tenant@system) and a value
# of printable ASCII without ',' and '=', not ending in a space.
_MEMBER = re.compile(
    r"(?:[a-z][a-z0-9_\-*/]{0,255}|[a-z0-9][a-z0-9_\-*/]{0,240}@[a-z][a-z0-9_\-*/]{0,13})"
    r"=[\x20-\x2b\x2d-\x3c\x3e-\x7e]{0,255}[\x21-\x2b\x2d-\x3c\x3e-\x7e]"
)
LOW_64 = (1 << 64) - 1
DEFAULT_SAMPLER = "parentbased_always_on"  # the SDK's default


@dataclass(frozen=True, slots=True)
class Parent:
    """The frontend's span, from its `traceparent`."""

    trace_id: str  # 32 lowercase hex digits
    span_id: str  # 16
    sampled: bool  # its trace-flags' sampled bit


def parse_traceparent(value: str | None) -> Parent | None:
    """The parent in a `traceparent` header, or None when absent or not valid: version
    `ff`, a version 00 with more fields, all-zero ids, upper-case hex (section 3.2.2)."""
    if not value:
        return None
    found = _TRACEPARENT.fullmatch(value.strip(" \t"))
    if found is None:
        return None
    version, trace_id, span_id, flags, more = found.groups()
    if version == "ff" or (version == "00" and more is not None):
        return None
    if trace_id == _ZERO_TRACE or span_id == _ZERO_SPAN:
        return None
    return Parent(trace_id, span_id, bool(int(flags, 16) & 1))


def traceparent(trace_id: str, span_id: str, sampled: bool) -> str:
    return f"00-{trace_id}-{span_id}-{'01' if sampled else '00'}"


def clean_tracestate(values: list[str]) -> str | None:
    """The `tracestate` to pass on with a valid parent: its members joined, or None when
    empty, longer than MAX_TRACESTATE, over 32 members or with a member that is not
    `key=value` as section 3.3.1 spells them (dropped whole: a frontend's bytes reach
    Punchh only in the shape the spec allows)."""
    members = [m.strip(" \t") for v in values for m in v.split(",")]
    members = [m for m in members if m]
    joined = ",".join(members)
    if not joined or len(joined) > MAX_TRACESTATE or len(members) > MAX_MEMBERS:
        return None
    if not all(_MEMBER.fullmatch(m) for m in members):
        return None
    return joined


@dataclass(frozen=True, slots=True)
class Sampling:
    """One of the standard samplers: follow a frontend's sampled flag (`parent_based`)
    or not; a new trace is sampled when its id's low 64 bits are below `bound`, as the
    SDK's TraceIdRatioBased decides (2**64: always, 0: never)."""

    name: str
    parent_based: bool
    bound: int

    def sampled(self, trace_id: str, parent: Parent | None) -> bool:
        if parent is not None and self.parent_based:
            return parent.sampled
        return self.bound > 0 and int(trace_id[16:], 16) < self.bound

    def root(self, bits: int) -> bool:
        """A new trace whose id is `bits`."""
        return (bits & LOW_64) < self.bound


def _ratio(arg: str | None) -> float:
    try:
        rate = float(arg) if arg not in (None, "") else 1.0
    except ValueError:
        rate = -1.0
    if not 0.0 <= rate <= 1.0:
        log.warning("OTEL_TRACES_SAMPLER_ARG not a ratio from 0 to 1: sampling all")
        return 1.0
    return rate


def sampling_from(name: str | None, arg: str | None) -> Sampling:
    """`OTEL_TRACES_SAMPLER` and `OTEL_TRACES_SAMPLER_ARG`; an unknown sampler (or one of
    the remote ones, jaeger_remote, xray) is warned about and the default used."""
    chosen = (name or DEFAULT_SAMPLER).strip().lower()
    parent_based = chosen.startswith("parentbased_")
    root = chosen.removeprefix("parentbased_")
    if root == "always_on":
        bound = 1 << 64
    elif root == "always_off":
        bound = 0
    elif root == "traceidratio":
        bound = round(_ratio(arg) * (1 << 64))
    else:
        log.warning("unknown OTEL_TRACES_SAMPLER: using %s", DEFAULT_SAMPLER)
        return sampling_from(DEFAULT_SAMPLER, None)
    return Sampling(chosen, parent_based, bound)
