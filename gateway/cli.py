"""`loyalty-gateway serve | check-config | reload | sandbox` (`--help` on each).

Problems with the configuration, and a listener that cannot bind, are one line each on
stderr and exit code 2 (EXIT_CONFIG); warnings (a setting ignored, a variable the gateway
does not read) are printed by check-config and logged once by serve. Logs are JSON lines
on stdout (gateway/logs.py).
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import textwrap
from collections.abc import Sequence

from gateway.config import DEFAULT_BUSINESS, ConfigError, GatewayConfig, load_config
from gateway.listen import ListenError, bind_problem
from gateway.logs import configure_logging
from gateway.pidfile import NotRunning, holding_pid_file, running_pid
from gateway.sandbox_link import standalone_configs
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
    for warning in cfg.warnings:  # once, here: not again in each worker
        logging.getLogger("gateway").warning("configuration warning: %s", warning)
    try:
        with holding_pid_file(cfg):
            if cfg.server.workers > 1:
                return serve_workers(cfg, env)
            serve_one(cfg)
    except ListenError as exc:  # a port in use: one line, no traceback (issue 20)
        print(exc, file=sys.stderr)
        return EXIT_CONFIG
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
    if cfg.warnings:
        print(f"{len(cfg.warnings)} warning(s):", file=sys.stderr)
        for warning in cfg.warnings:
            print(f"  {warning}", file=sys.stderr)
    return 0


def _sandbox(args: argparse.Namespace, env: dict[str, str]) -> int:
    """The businesses of the variables and of GATEWAY_CONFIG (gateway/sandbox_link.py), on
    --host and --port."""
    from sandbox.server import is_loopback, run_sandbox

    configure_logging(env.get("GATEWAY_LOG_LEVEL", "INFO"))
    locations = dict(item.split("=", 1) for item in args.location if "=" in item)
    where = {"host": args.host, "port": args.port, "allow_non_loopback": args.allow_non_loopback}
    try:
        configs = standalone_configs(env, locations, where)
    except ConfigError as exc:
        return _report(exc)
    if not configs:
        print(
            "sandbox: set PUNCHH_CLIENT_ID and PUNCHH_CLIENT_SECRET (the credentials "
            "the gateway will use), or GATEWAY_CONFIG (every business it names)",
            file=sys.stderr,
        )
        return EXIT_CONFIG
    if not (args.allow_non_loopback or is_loopback(args.host)):
        print(
            f"sandbox: --host {args.host!r} is not a loopback address; the sandbox is for "
            "local development only (--allow-non-loopback binds it anyway)",
            file=sys.stderr,
        )
        return EXIT_CONFIG
    try:
        run_sandbox(configs)
    except OSError as exc:  # its port in use: one line, no traceback (issue 20)
        print(bind_problem(args.host, args.port, ("--host", "--port"), exc), file=sys.stderr)
        return EXIT_CONFIG
    return 0


CONFIGURATION = """\
configuration:
  GATEWAY_CONFIG           the TOML file (optional); every key, commented:
                           config/gateway.example.toml
  Environment variables override its keys. The main ones:
  GATEWAY_SESSION_SECRET   signs the gateway's session tokens (required, 32+ characters)
  PUNCHH_BASE_URL, PUNCHH_CLIENT_ID, PUNCHH_CLIENT_SECRET
                           the Punchh server (https://) and the business's credentials
  GATEWAY_SANDBOX=true     the embedded Punchh sandbox as the upstream (development)
  GATEWAY_HOST, GATEWAY_PORT
                           where the gateway listens (127.0.0.1:8080)
  GATEWAY_STORE_URL        sessions in Redis (redis://...) for several replicas
  GATEWAY_ADMIN_PORT       /metrics and the status page on a port of their own
  A secret's <VARIABLE>_FILE names a file holding it (PUNCHH_CLIENT_SECRET_FILE...).

docs: README.md, docs/configuration.md, docs/operations.md; every key and variable:
docs/operators/configuration.md; alerts and runbooks: docs/operators/runbooks.md
"""

SANDBOX = """\
configuration:
  PUNCHH_CLIENT_ID, PUNCHH_CLIENT_SECRET
                           the credentials the gateway in front of it will use
  PUNCHH_BUSINESS_KEY      the POS business key (with --location for each device)
  GATEWAY_CONFIG           a gateway's TOML file: every business it names is emulated
  GATEWAY_LOG_LEVEL        INFO (default), WARNING...

docs: docs/guide.md, "The sandbox"; every variable: docs/operators/configuration.md
"""

COMMANDS = (  # name, one line, what the command's own --help adds
    ("serve", "start the gateway (python -m gateway is the same)", ""),
    (
        "check-config",
        "validate the configuration and exit",
        "Prints a summary, and warnings (a setting ignored, a variable the gateway does not "
        "read); one line per problem and exit code 2 when serve would refuse it.",
    ),
    (
        "reload",
        "check the configuration, then have the running gateway reload it (SIGHUP)",
        "Signals the process in server.pid_file (GATEWAY_PID_FILE); keys that bind sockets "
        "or name stores need a restart.",
    ),
    ("sandbox", "start the Punchh sandbox alone, for frontends and manual testing", ""),
)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="loyalty-gateway",
        description="A reverse proxy in front of the Punchh loyalty API.",
        epilog=CONFIGURATION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND", title="commands")
    made = {
        name: sub.add_parser(
            name,
            help=line,
            description=textwrap.fill(f"{line[0].upper()}{line[1:]}. {more}".strip(), 88),
            epilog=SANDBOX if name == "sandbox" else CONFIGURATION,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        for name, line, more in COMMANDS
    }
    sb = made["sandbox"]
    sb.add_argument("--host", default="127.0.0.1", help="address to listen on (127.0.0.1)")
    sb.add_argument("--port", type=int, default=8090, help="port to listen on (8090; 0: any)")
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
