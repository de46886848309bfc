"""The many-business gateway of `make bench` (issue 18): `gateway_checkin_40_businesses`.

`business_tables` writes the [[businesses]] tables that, with the top-level business
`default`, make BUSINESSES businesses in one gateway: each its own name, client and host
(`brand-07.bench.test`), and every tenth from the fifth a `*.` wildcard too, so that the
host map holds both kinds. The requests name ADDRESSED_HOST, a brand far down the list,
so that a per-request search through the businesses would show in the numbers.
"""

from __future__ import annotations

import json

BUSINESSES = 40  # `default` (the top-level punchh.*) and BUSINESSES - 1 tables
ADDRESSED = 30  # the 30th table: not the first claim a search would find


def brand_name(n: int) -> str:
    return f"brand-{n:02d}"


def brand_hosts(n: int) -> list[str]:
    exact = f"{brand_name(n)}.bench.test"
    return [exact, f"*.{exact}"] if n % 10 == 5 else [exact]


ADDRESSED_HOST = brand_hosts(ADDRESSED)[0]


def business_tables(count: int = BUSINESSES) -> list[str]:
    """TOML lines: count - 1 [[businesses]] tables (the upstream nginx takes any
    credentials, as the Punchh stand-in of every brand)."""
    lines: list[str] = []
    for n in range(1, count):
        name = brand_name(n)
        lines += [
            "",
            "[[businesses]]",
            f'name = "{name}"',
            f"hosts = {json.dumps(brand_hosts(n))}",
            f'punchh.client_id = "bench-{name}"',
            f'punchh.client_secret = "bench-{name}-client-secret-value"',
        ]
    return lines


def wildcards(count: int = BUSINESSES) -> int:
    """How many `*.` host patterns business_tables(count) configures."""
    return sum(1 for n in range(1, count) for h in brand_hosts(n) if h.startswith("*."))
