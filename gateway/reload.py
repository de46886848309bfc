"""Live reload: SIGHUP (or `loyalty-gateway reload`) re-reads the configuration file and
the secret files, checks all of it, then swaps it in whole.

    read       GATEWAY_CONFIG and every *_FILE again, with the process's environment
    validate   every problem check-config would report: refused, one ERROR line each
    compare    a changed key that needs a restart (gateway/config_diff.py): refused, one
               ERROR line naming each key
    build      every business's parts over the stores, connections and refreshers of the
               ones served (gateway/live.py); the session secret replaced stays accepted
    swap       one assignment: requests in flight finish on the old generation, new
               requests use the new one; the log level is set

A refused reload changes nothing: the gateway keeps serving on what it had. Every reload
counts in gateway_config_reloads_total{result}; the status page shows when the served
configuration was loaded and its digest.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable

from gateway.config import ConfigError, GatewayConfig, load_config
from gateway.config_diff import changes, restart_keys
from gateway.live import Builder, Live
from gateway.metrics import Metrics

log = logging.getLogger("gateway.reload")
DEFAULTS = "<defaults>"  # GatewayConfig.source when no file was read


def load_again(cfg: GatewayConfig) -> Callable[[], GatewayConfig]:
    """How `cfg` was loaded, to be done again: the same file, the process's environment
    (whose *_FILE variables name the secret files to read again)."""
    path = None if cfg.source == DEFAULTS else cfg.source
    return lambda: load_config(path, os.environ)


class Reloader:
    def __init__(
        self,
        live: Live,
        builder: Builder,
        metrics: Metrics,
        load: Callable[[], GatewayConfig],
    ) -> None:
        self._live, self._builder, self._metrics, self._load = live, builder, metrics, load

    def reload(self) -> str:
        """Load, check, build and swap; the result as counted (a RELOAD_RESULTS value)."""
        pid = os.getpid()
        try:
            new = self._load()
        except ConfigError as exc:  # its lines show no secret: lengths at most
            for problem in exc.problems:
                log.error("reload refused: %s", problem, extra={"pid": pid})
            return self._count("invalid")
        old = self._live.now
        needs_restart = restart_keys(old.cfg, new)
        if needs_restart:
            for key in needs_restart:
                log.error(
                    "reload refused: %s changed, which needs a restart",
                    key,
                    extra={"key": key, "pid": pid},
                )
            return self._count("restart_required")
        try:
            generation = self._builder.build(new, old)
        except Exception:  # a bug, not the operator's: keep serving what was built
            log.exception("reload refused: the new configuration could not be built")
            return self._count("error")
        self._live.now = generation  # the swap: one assignment, between two requests' steps
        generation.activate()  # the shared refreshers take the new settings, only now
        logging.getLogger().setLevel(new.server.log_level)
        log.info(
            "configuration reloaded",
            extra={
                "pid": pid,
                "digest": generation.digest,
                "changed": sorted(set(changes(old.cfg, new))),  # key names, never values
            },
        )
        return self._count("ok")

    def _count(self, result: str) -> str:
        self._metrics.config_reloads.labels(result).inc()
        return result
