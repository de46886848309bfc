"""The Punchh businesses one sandbox emulates, and which of them a request names (pure).

Each business has its own config, state and call counts; the first config is the
primary. Built once from the configs: ``ValueError`` when there are none, or when two
share a client id, a non-empty business key or a location key (the keys are secrets: the
error names the configs by position, not the key).
A non-POS request names a business by its ``client`` parameter (client id), a POS request
by the ``btoken`` of its ``Token`` header (business key); ``None`` when nothing names one.
"""

from __future__ import annotations

import hmac
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

from sandbox.calls import CallCounter
from sandbox.config import SandboxConfig
from sandbox.state import SandboxState


@dataclass(frozen=True, eq=False)
class Business:
    """One emulated business: what it decides by, what it holds, what it was sent."""

    cfg: SandboxConfig
    state: SandboxState = field(default_factory=SandboxState)
    calls: CallCounter = field(default_factory=CallCounter)


def as_configs(cfg: SandboxConfig | Sequence[SandboxConfig]) -> tuple[SandboxConfig, ...]:
    """One config or several as a tuple, the primary first; ``ValueError`` when empty."""
    configs = (cfg,) if isinstance(cfg, SandboxConfig) else tuple(cfg)
    if not configs:
        raise ValueError("the sandbox needs at least one SandboxConfig")
    for index, item in enumerate(configs):
        if not isinstance(item, SandboxConfig):
            raise TypeError(f"configs[{index}]: expected a SandboxConfig, got {type(item)!r}")
    return configs


def check_distinct(configs: Sequence[SandboxConfig]) -> None:
    """``ValueError`` unless client ids, non-empty business keys and location keys differ."""
    seen: dict[str, dict[str, int]] = {"client_id": {}, "business_key": {}, "location key": {}}
    for index, cfg in enumerate(configs):
        named = [("client_id", cfg.client_id)]
        named += [("business_key", cfg.business_key)] if cfg.business_key else []
        named += [("location key", key) for key in cfg.location_keys]
        for name, value in named:
            first = seen[name].setdefault(value, index)
            if first != index:
                shown = f"client_id={value!r}" if name == "client_id" else f"a {name}"
                raise ValueError(
                    f"configs[{first}] and configs[{index}] share {shown}: each business "
                    "needs its own"
                )


class Businesses:
    """The businesses of one sandbox app, looked up by client id or by business key."""

    def __init__(self, cfg: SandboxConfig | Sequence[SandboxConfig]) -> None:
        configs = as_configs(cfg)
        check_distinct(configs)
        self.all = tuple(Business(c) for c in configs)
        self.primary = self.all[0]
        self._by_client_id = {b.cfg.client_id: b for b in self.all}

    def by_client_id(self, client: object) -> Business | None:
        """The business whose client id is ``client`` (a str), else None."""
        return self._by_client_id.get(client) if isinstance(client, str) else None

    def by_business_key(self, btoken: str | None) -> Business | None:
        """The business whose non-empty business key is ``btoken``, else None."""
        if not btoken:
            return None
        for business in self.all:
            key = business.cfg.business_key
            if key and hmac.compare_digest(btoken.encode(), key.encode()):
                return business
        return None

    def total_calls(self) -> dict[str, int]:
        """The call counts summed over every business (``GET /__sandbox/calls``)."""
        total: Counter[str] = Counter()
        for business in self.all:
            total.update(business.calls.snapshot())
        return dict(total)
