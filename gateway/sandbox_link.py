"""The gateway's configuration turned into the sandbox's: the embedded sandbox, started
in-process, and the businesses `loyalty-gateway sandbox` emulates on its own.

The sandbox accepts exactly the credentials the gateway holds (client id and secret,
business key, and a location per configured POS device), for every business the gateway
serves, so `make run` needs no setup.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from gateway.config import ConfigError, GatewayConfig, load_config
from gateway.listen import bind_problem
from gateway.secret_files import FILE_SUFFIX, from_file

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
    """Yields the sandbox's URL, or None when the gateway talks to a real Punchh; a port
    it cannot bind is a ListenError naming GATEWAY_SANDBOX_PORT.

    The sandbox is imported only here: a gateway in front of real Punchh never loads it.
    """
    if not cfg.sandbox.enabled:
        yield None
        return
    from sandbox.server import start_sandbox

    host, port = cfg.sandbox.host, cfg.sandbox.port
    try:
        server = await start_sandbox(sandbox_configs_for(cfg))
    except OSError as exc:
        raise bind_problem(host, port, ("sandbox.host", "GATEWAY_SANDBOX_PORT"), exc) from None
    try:
        yield server.url
    finally:
        await server.close()


def standalone_configs(
    env: Mapping[str, str], locations: Mapping[str, str], where: Mapping[str, Any]
) -> list[SandboxConfig]:
    """`loyalty-gateway sandbox`'s businesses, each placed `where` (host, port,
    allow_non_loopback): the one of PUNCHH_CLIENT_ID / PUNCHH_CLIENT_SECRET (or its _FILE)
    / PUNCHH_BUSINESS_KEY with `locations` (POS location key -> store number), then every
    business GATEWAY_CONFIG names with another client id (its own credentials and POS
    devices): one sandbox emulates them all. A problem with either is a ConfigError."""
    from sandbox.config import SandboxConfig

    problems: list[str] = []
    given = {  # each from its variable, or the file its _FILE names
        name: from_file(env, name, problems, key) or env.get(name, "")
        for name, key in (
            ("PUNCHH_CLIENT_SECRET", "punchh.client_secret"),
            ("PUNCHH_BUSINESS_KEY", "pos.business_key"),
        )
    }
    if problems:
        raise ConfigError(problems)
    configs = []
    client_id, secret = env.get("PUNCHH_CLIENT_ID", ""), given["PUNCHH_CLIENT_SECRET"]
    if client_id and secret:
        own = SandboxConfig(client_id, secret, given["PUNCHH_BUSINESS_KEY"], dict(locations))
        configs.append(replace(own, **where))
    known = {c.client_id for c in configs}
    for b in _configured(env, where, fallback=bool(configs)):
        own = sandbox_config_for(b)
        if own.client_id not in known:
            known.add(own.client_id)
            configs.append(replace(own, **where))
    return configs


def _configured(
    env: Mapping[str, str], where: Mapping[str, Any], *, fallback: bool
) -> list[GatewayConfig]:
    """The businesses of GATEWAY_CONFIG as the gateway in front of this sandbox sees them
    (so not with an embedded sandbox, which would make their credentials up). What the
    sandbox does not need is filled in: the session secret, and the base URL (this
    sandbox's own: the gateway in front of it points there; never called). `fallback`:
    the variables name a business, so a file that does not load is only logged."""
    if not env.get("GATEWAY_CONFIG"):
        return []
    own_env = {**env, "GATEWAY_SANDBOX": "false", "PUNCHH_ALLOW_INSECURE_HTTP": "true"}
    own_env.setdefault("PUNCHH_BASE_URL", f"http://{where['host']}:{where['port'] or 8090}")
    session = "GATEWAY_SESSION_SECRET"
    if not {session, session + FILE_SUFFIX} & set(env):
        own_env[session] = secrets.token_urlsafe(32)
    try:
        return [b.config for b in load_config(env["GATEWAY_CONFIG"], own_env).businesses]
    except ConfigError as exc:
        if not fallback:
            raise
        # The image's GATEWAY_CONFIG (its example file) is no gateway to emulate: the
        # business of the variables is, as before.
        logging.getLogger("gateway").warning(
            "GATEWAY_CONFIG not emulated: it is not a gateway configuration that loads",
            extra={"problems": len(exc.problems)},
        )
        return []
