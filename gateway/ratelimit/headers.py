"""The IETF RateLimit header fields (draft-ietf-httpapi-ratelimit-headers-10, structured
fields): `RateLimit-Policy: "ip";q=600;w=60` and `RateLimit: "ip";r=599;t=1`."""

from __future__ import annotations

from collections.abc import Sequence

from gateway.ratelimit.gcra import Decision, seconds
from gateway.ratelimit.policies import Policy


def policy_field(policies: Sequence[Policy]) -> str:
    return ", ".join(f'"{p.name}";q={p.rate.limit};w={seconds(p.rate.window)}' for p in policies)


def limit_field(results: Sequence[tuple[Policy, Decision]]) -> str:
    return ", ".join(f'"{p.name}";r={d.remaining};t={seconds(d.reset_after)}' for p, d in results)


def rate_limit_headers(results: Sequence[tuple[Policy, Decision]]) -> dict[str, str]:
    if not results:
        return {}
    return {
        "RateLimit-Policy": policy_field([p for p, _ in results]),
        "RateLimit": limit_field(results),
    }
