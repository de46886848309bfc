"""The IETF RateLimit header fields (draft-ietf-httpapi-ratelimit-headers-10, structured
fields): `RateLimit-Policy: "ip";q=600;w=60` and `RateLimit: "ip";r=599;t=1`.

A policy's `RateLimit-Policy` item never changes: `policy_item` is computed once per
policy, when the stage is built; only `RateLimit` depends on the request."""

from __future__ import annotations

from collections.abc import Sequence

from gateway.ratelimit.gcra import Decision, seconds
from gateway.ratelimit.policies import Policy


def policy_item(p: Policy) -> str:
    return f'"{p.name}";q={p.rate.limit};w={seconds(p.rate.window)}'


def policy_field(policies: Sequence[Policy]) -> str:
    return ", ".join(policy_item(p) for p in policies)


def limit_field(results: Sequence[tuple[Policy, Decision]]) -> str:
    return ", ".join(f'"{p.name}";r={d.remaining};t={seconds(d.reset_after)}' for p, d in results)


def rate_limit_headers(
    results: Sequence[tuple[Policy, Decision]], items: dict[str, str] | None = None
) -> dict[str, str]:
    """`items` maps policy names to their precomputed `policy_item`."""
    if not results:
        return {}
    policy = (
        ", ".join(items[p.name] for p, _ in results)
        if items
        else policy_field([p for p, _ in results])
    )
    return {"RateLimit-Policy": policy, "RateLimit": limit_field(results)}
