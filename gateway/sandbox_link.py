"""The embedded sandbox: the gateway's configuration turned into the sandbox's, started in-process.

The sandbox accepts exactly the credentials the gateway holds (client id and secret,
business key, and a location per configured POS device), for every business the gateway
serves, so `make run` needs no setup.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

from gateway.config import GatewayConfig

if TYPE_CHECKING:
    from sandbox.config import SandboxConfig


def sandbox_config_for(cfg: GatewayConfig) -> SandboxConfig:
    """One business's configuration as the sandbox's."""
    from sandbox.config import SandboxConfig

    return SandboxConfig(
        client_id=cfg.punchh.client_id,
        client_secret=cfg.punchh.client_secret.reveal(),
        business_key=cfg.pos.business_key.reveal(),
        location_keys={d.location_key.reveal(): d.name for d in cfg.pos.devices},
        host=cfg.sandbox.host,
        port=cfg.sandbox.port,
        digest_auth=cfg.punchh.digest["auth"],
        digest_oauth=cfg.punchh.digest["oauth"],
        digest_mobile=cfg.punchh.digest["mobile"],
        digest_password_less=cfg.punchh.digest["password_less"],
    )


def sandbox_configs_for(cfg: GatewayConfig) -> list[SandboxConfig]:
    """Every business the gateway serves, as one sandbox emulates them: one business per
    client id, each with its own guests, points and keys."""
    return [sandbox_config_for(b.config) for b in cfg.businesses]


@asynccontextmanager
async def embedded_sandbox(cfg: GatewayConfig) -> AsyncIterator[str | None]:
    """Yields the sandbox's URL, or None when the gateway talks to a real Punchh.

    The sandbox is imported only here: a gateway in front of real Punchh never loads it.
    """
    if not cfg.sandbox.enabled:
        yield None
        return
    from sandbox.server import start_sandbox

    server = await start_sandbox(sandbox_configs_for(cfg))
    try:
        yield server.url
    finally:
        await server.close()
