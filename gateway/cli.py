"""`loyalty-gateway serve | check-config | reload | sandbox`.

serve         start the gateway (configuration: GATEWAY_CONFIG file + environment)
check-config  print the problems in the configuration, or a summary; non-zero on problems
reload        check the configuration, then have the running gateway reload it (SIGHUP)
sandbox       start the Punchh sandbox alone, for frontends and manual testing
"""

from __future__ import annotations

import argparse
import logging
import os
import secrets
import signal
import sys
from collections.abc import Sequence
from dataclasses import replace

from gateway.config import DEFAULT_BUSINESS, Business, ConfigError, GatewayConfig, load_config
from gateway.logs import configure_logging
from gateway.pidfile import NotRunning, holding_pid_file, running_pid
from gateway.sandbox_link import sandbox_config_for
from gateway.secret_files import FILE_SUFFIX, from_file
from gateway.store import urls as redis_urls
from gateway.workers import hold_reloads, serve_one, serve_workers

EXIT_CONFIG = 2


def _load(env: dict[str, str]) -> GatewayConfig:
    return load_config(env.get("GATEWAY_CONFIG") or None, env)


def _report(exc: ConfigError) -> int:
    print(f"invalid configuration ({len(exc.problems)} problem(s)):", file=sys.stderr)
    for problem in exc.problems:
        print(f"  {problem}", file=sys.stderr)
    return EXIT_CONFIG


def _serve(env: dict[str, str]) -> int:
    hold_reloads()  # until the loop handles SIGHUP; workers inherit it
    try:
        cfg = _load(env)
    except ConfigError as exc:
        return _report(exc)
    configure_logging(cfg.server.log_level)
    logging.getLogger("gateway").info(
        "starting", extra={"host": cfg.server.host, "port": cfg.server.port, "config": cfg.source}
    )
    logging.getLogger("gateway").info(admin_where(cfg))
    with holding_pid_file(cfg):
        if cfg.server.workers > 1:
            return serve_workers(cfg, env)
        serve_one(cfg)
    return 0


def _reload(env: dict[str, str]) -> int:
    """The configuration checked here first (a refused reload is said at once, and no
    signal sent), then SIGHUP to the process in the pid file; it logs the outcome and
    counts it in gateway_config_reloads_total."""
    try:
        cfg = _load(env)
    except ConfigError as exc:
        print("not reloaded: the gateway would refuse this configuration", file=sys.stderr)
        return _report(exc)
    try:
        pid = running_pid(cfg)
    except NotRunning as exc:
        print(f"not reloaded: {exc}", file=sys.stderr)
        return 1
    os.kill(pid, signal.SIGHUP)
    print(
        f"reload asked of the gateway (pid {pid}); its log says `configuration reloaded`, "
        "or why it refused (a key that needs a restart), and "
        "gateway_config_reloads_total{result} counts it"
    )
    return 0


def admin_where(cfg: GatewayConfig) -> str:
    """Where /metrics and the status page are, said once at start (never the token)."""
    if cfg.admin.port:
        base = f"http://{cfg.admin.host}:{cfg.admin.port}"
        return f"metrics and status page on the admin port: {base}/metrics, {base}/gateway/status"
    if cfg.admin.token:
        return (
            "metrics and status page on the main port, with Authorization: Bearer "
            "<GATEWAY_ADMIN_TOKEN>: /metrics, /gateway/status"
        )
    return (
        "metrics and status page not served: set GATEWAY_ADMIN_PORT (a separate listener) "
        "or GATEWAY_ADMIN_TOKEN (the main port, with that bearer token)"
    )


def _stores(cfg: GatewayConfig) -> str:
    """memory, or which Redis deployment (never the URL: it may hold a password)."""
    if cfg.store.backend == "memory":
        return "memory"
    address = redis_urls.parse(cfg.store.url.reveal())
    where = {"single": "one server", "sentinel": "Sentinel", "cluster": "Cluster"}[address.kind]
    hosts = f"{len(address.hosts)} {'sentinel' if address.kind == 'sentinel' else 'host'}(s)"
    service = f", service {address.service!r}" if address.service else ""
    tls = ", TLS" if address.tls else ""
    wait = cfg.store.replicas_to_wait
    return f"redis ({where}, {hosts}{service}{tls}; session writes wait for {wait} replica(s))"


def _upstream(cfg: GatewayConfig) -> str:
    return "embedded sandbox" if cfg.sandbox.enabled else cfg.punchh.base_url


def _pos(cfg: GatewayConfig) -> str:
    return f"on, {len(cfg.pos.devices)} device(s)" if cfg.pos.enabled else "off"


def _check_config(env: dict[str, str]) -> int:
    try:
        cfg = _load(env)
    except ConfigError as exc:
        return _report(exc)
    first = cfg.business.config
    print(
        f"configuration ok ({cfg.source}): {cfg.server.host}:{cfg.server.port} -> "
        f"{_upstream(first)}"
    )
    print(f"  pos routes: {_pos(first)}")
    if len(cfg.businesses) > 1 or cfg.business.name != DEFAULT_BUSINESS:
        for b in cfg.businesses:
            hosts = ", ".join(b.hosts) or ("any other host" if b.name == DEFAULT_BUSINESS else "-")
            print(f"  business {b.name}: {hosts} -> {_upstream(b.config)}; pos {_pos(b.config)}")
    print(f"  workers: {cfg.server.workers}, stores: {_stores(cfg)}")
    print(f"  {admin_where(cfg)}")
    return 0


def _sandbox(args: argparse.Namespace, env: dict[str, str]) -> int:
    """The primary business from PUNCHH_CLIENT_ID / PUNCHH_CLIENT_SECRET /
    PUNCHH_BUSINESS_KEY and --location; with GATEWAY_CONFIG, also every business that
    configuration names (its own credentials and POS devices): one sandbox emulates them
    all, one business per client id."""
    from sandbox.config import SandboxConfig
    from sandbox.server import run_sandbox

    configure_logging(env.get("GATEWAY_LOG_LEVEL", "INFO"))
    configs: list[SandboxConfig] = []
    problems: list[str] = []
    given = {  # each from its variable, or the file its _FILE names
        name: from_file(env, name, problems, key) or env.get(name, "")
        for name, key in (
            ("PUNCHH_CLIENT_SECRET", "punchh.client_secret"),
            ("PUNCHH_BUSINESS_KEY", "pos.business_key"),
        )
    }
    if problems:
        return _report(ConfigError(problems))
    client_id, secret = env.get("PUNCHH_CLIENT_ID", ""), given["PUNCHH_CLIENT_SECRET"]
    if client_id and secret:
        locations = dict(item.split("=", 1) for item in args.location if "=" in item)
        configs.append(
            SandboxConfig(
                client_id=client_id,
                client_secret=secret,
                business_key=given["PUNCHH_BUSINESS_KEY"],
                location_keys=locations,
                host=args.host,
                port=args.port,
                allow_non_loopback=args.allow_non_loopback,
            )
        )
    if env.get("GATEWAY_CONFIG"):
        # The businesses as the gateway in front of this sandbox sees them (so not with an
        # embedded sandbox, which would make their credentials up).
        # What the sandbox does not need is filled in: the session secret, and the base
        # URL (this sandbox's own: the gateway in front of it points there).
        own_env = {**env, "GATEWAY_SANDBOX": "false"}
        own_env.setdefault("PUNCHH_BASE_URL", f"http://{args.host}:{args.port or 8090}")
        session = "GATEWAY_SESSION_SECRET"
        if not {session, session + FILE_SUFFIX} & set(env):
            own_env[session] = secrets.token_urlsafe(32)
        try:
            cfg = _load(own_env)
        except ConfigError as exc:
            if not configs:
                return _report(exc)
            # The image's GATEWAY_CONFIG (its example file) is no gateway to emulate: the
            # business of the variables is, as before.
            logging.getLogger("gateway").warning(
                "GATEWAY_CONFIG not emulated: it is not a gateway configuration that loads",
                extra={"problems": len(exc.problems)},
            )
            businesses: tuple[Business, ...] = ()
        else:
            businesses = cfg.businesses
        known = {c.client_id for c in configs}
        for b in businesses:
            own = sandbox_config_for(b.config)
            if own.client_id not in known:
                known.add(own.client_id)
                configs.append(
                    replace(
                        own,
                        host=args.host,
                        port=args.port,
                        allow_non_loopback=args.allow_non_loopback,
                    )
                )
    if not configs:
        print(
            "sandbox: set PUNCHH_CLIENT_ID and PUNCHH_CLIENT_SECRET (the credentials "
            "the gateway will use), or GATEWAY_CONFIG (every business it names)",
            file=sys.stderr,
        )
        return EXIT_CONFIG
    run_sandbox(configs)
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="loyalty-gateway",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("serve", help="start the gateway")
    sub.add_parser("check-config", help="validate the configuration and exit")
    sub.add_parser("reload", help="check the configuration, then have the gateway reload it")
    sb = sub.add_parser("sandbox", help="start the Punchh sandbox alone")
    sb.add_argument("--host", default="127.0.0.1")
    sb.add_argument("--port", type=int, default=8090)
    sb.add_argument(
        "--location", action="append", default=[], help="POS LOCATION_KEY=STORE_NUMBER (repeatable)"
    )
    sb.add_argument(
        "--allow-non-loopback", action="store_true", help="allow binding to a non-loopback address"
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    env = dict(os.environ)
    if args.command == "serve":
        return _serve(env)
    if args.command == "check-config":
        return _check_config(env)
    if args.command == "reload":
        return _reload(env)
    return _sandbox(args, env)


if __name__ == "__main__":
    sys.exit(main())
