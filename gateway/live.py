"""The configuration the gateway serves on, as one object swapped whole by a live reload.

A generation is everything built from one configuration: every business's parts and
compiled plans, the business selector, the CORS of the gateway's own routes, when it was
loaded and its digest. The front reads the current one once per request (`Live.select`),
so a request runs on one generation from its first stage to its last: a reload in the
middle of it changes nothing for it (its plan, its upstream client's timeouts and retry
settings, its session manager are the old generation's), and new requests use the new.

A reload builds the new generation over the previous one's stores, Punchh connections
and refreshers (gateway/parts.py), so nothing is lost; a session secret it replaces is
kept as a previous secret for as long as a token it signed may live (session.ttl), so no
guest is signed out.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from aiohttp import web

from gateway.config import GatewayConfig
from gateway.config_diff import digest
from gateway.local import LocalHandlers
from gateway.parts import Parts, Shared, build_parts, compile_plans, make_stages
from gateway.plan import Plan, Wrap, compile_plan
from gateway.readiness import Readiness
from middleware.cors import Cors, make_cors
from middleware.select import make_selector


@dataclass(frozen=True)
class Generation:
    cfg: GatewayConfig
    businesses: Mapping[str, Parts]  # by name, the first business first
    select: Callable[[web.Request], Parts]
    cors: Cors | None  # the gateway's own routes: every business's origins
    loaded_at: float  # wall time
    digest: str  # gateway/config_diff.py: the non-secret settings' SHA-256
    # Session secrets reloads replaced, with the wall time until which tokens they signed
    # may still be presented (replaced at + session.ttl).
    retired: tuple[tuple[bytes, float], ...] = ()

    def activate(self) -> None:
        """Every business's parts activated, once this generation is the one served."""
        for p in self.businesses.values():
            p.activate()

    @property
    def first(self) -> Parts:
        """The first business (`default` when there is one)."""
        return next(iter(self.businesses.values()))


class Live:
    """The current generation; `select` and `cors` are what the front calls per request."""

    __slots__ = ("now",)

    def __init__(self, now: Generation) -> None:
        self.now = now

    def select(self, request: web.Request) -> Parts:
        return self.now.select(request)

    def cors(self) -> Cors | None:
        return self.now.cors


@dataclass(frozen=True)
class Builder:
    """What every generation of one app is built with."""

    shared: Shared
    readiness: Readiness
    clock: Callable[[], float]
    monotonic: Callable[[], float]
    wrap: Wrap | None = None

    def build(self, cfg: GatewayConfig, previous: Generation | None = None) -> Generation:
        """Every business's parts and plans (over `previous`'s stores, when given)."""
        retired = _retire(previous, cfg, self.clock())
        secrets = tuple(secret for secret, _ in retired)
        businesses: dict[str, Parts] = {}
        for business in cfg.businesses:
            old = previous.businesses.get(business.name) if previous else None
            businesses[business.name] = self._business(business.config, business.name, old, secrets)
        return Generation(
            cfg=cfg,
            businesses=businesses,
            select=make_selector(  # Host or X-Loyalty-Business → the business: 404
                [(b.name, b.hosts, businesses[b.name]) for b in cfg.businesses],
                trusted=cfg.server.trusted_proxies,
            ),
            cors=make_cors(_origins(businesses.values())),
            loaded_at=time.time(),
            digest=digest(cfg),
            retired=retired,
        )

    def _business(
        self, own: GatewayConfig, name: str, old: Parts | None, retired: tuple[bytes, ...]
    ) -> Parts:
        p = build_parts(
            own,
            self.clock,
            self.shared.metrics.registry,
            self.monotonic,
            shared=self.shared,
            name=name,
            previous=old,
            retired=retired,
        )
        stages = make_stages(own, self.clock, p)
        p.plans.update(compile_plans(own, p, stages, self.wrap))
        local = LocalHandlers(own, p.sessions, p.upstream, p.cache, self.readiness)
        for method, path, handler, needs in local.routes():
            if needs == "guest":  # a business's own: /gateway/logout, /gateway/logout/all
                label = f"{method} {path}"
                plan = Plan(label, method, access=needs, business=name)
                p.plans[label] = compile_plan(plan, stages, handler)
        return p


def _retire(
    previous: Generation | None, cfg: GatewayConfig, now: float
) -> tuple[tuple[bytes, float], ...]:
    """The secrets earlier reloads replaced that a token may still carry, and the one this
    reload replaces; none the new configuration signs with or lists itself."""
    if previous is None:
        return ()
    kept = {secret: until for secret, until in previous.retired if until > now}
    old = previous.cfg.session.secret.encode()
    listed = {cfg.session.secret.encode(), *(s.encode() for s in cfg.session.previous_secrets)}
    if old not in listed:  # valid while the longest-lived token it signed may be
        kept[old] = now + max(b.config.session.ttl for b in previous.cfg.businesses)
    return tuple((s, until) for s, until in kept.items() if s not in listed)


def _origins(businesses: Iterable[Parts]) -> tuple[str, ...]:
    """Every business's allowed origins: CORS on the gateway's own routes (/healthz...),
    which hold no guest's data; a business's routes answer its own origins only."""
    return tuple(dict.fromkeys(o for p in businesses for o in p.cfg.session.cookie.allowed_origins))
