"""`loyalty-gateway serve | check-config | sandbox`.

serve         start the gateway (configuration: GATEWAY_CONFIG file + environment)
check-config  print the problems in the configuration, or a summary; non-zero on problems
sandbox       start the Punchh sandbox alone, for frontends and manual testing
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence

from gateway.config import ConfigError, GatewayConfig, load_config
from gateway.logs import configure_logging
from gateway.store import urls as redis_urls
from gateway.workers import serve_one, serve_workers

EXIT_CONFIG = 2


def _load(env: dict[str, str]) -> GatewayConfig:
    return load_config(env.get("GATEWAY_CONFIG") or None, env)


def _report(exc: ConfigError) -> int:
    print(f"invalid configuration ({len(exc.problems)} problem(s)):", file=sys.stderr)
    for problem in exc.problems:
        print(f"  {problem}", file=sys.stderr)
    return EXIT_CONFIG


def _serve(env: dict[str, str]) -> int:
    try:
        cfg = _load(env)
    except ConfigError as exc:
        return _report(exc)
    configure_logging(cfg.server.log_level)
    logging.getLogger("gateway").info(
        "starting", extra={"host": cfg.server.host, "port": cfg.server.port, "config": cfg.source}
    )
    logging.getLogger("gateway").info(admin_where(cfg))
    if cfg.server.workers > 1:
        return serve_workers(cfg, env)
    serve_one(cfg)
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


def _check_config(env: dict[str, str]) -> int:
    try:
        cfg = _load(env)
    except ConfigError as exc:
        return _report(exc)
    upstream = "embedded sandbox" if cfg.sandbox.enabled else cfg.punchh.base_url
    print(f"configuration ok ({cfg.source}): {cfg.server.host}:{cfg.server.port} -> {upstream}")
    pos = f"on, {len(cfg.pos.devices)} device(s)" if cfg.pos.enabled else "off"
    print(f"  pos routes: {pos}")
    print(f"  workers: {cfg.server.workers}, stores: {_stores(cfg)}")
    print(f"  {admin_where(cfg)}")
    return 0


def _sandbox(args: argparse.Namespace, env: dict[str, str]) -> int:
    from sandbox.config import SandboxConfig
    from sandbox.server import run_sandbox

    configure_logging(env.get("GATEWAY_LOG_LEVEL", "INFO"))
    client_id, secret = env.get("PUNCHH_CLIENT_ID", ""), env.get("PUNCHH_CLIENT_SECRET", "")
    if not client_id or not secret:
        print(
            "sandbox: set PUNCHH_CLIENT_ID and PUNCHH_CLIENT_SECRET (the credentials "
            "the gateway will use)",
            file=sys.stderr,
        )
        return EXIT_CONFIG
    locations = dict(item.split("=", 1) for item in args.location if "=" in item)
    run_sandbox(
        SandboxConfig(
            client_id=client_id,
            client_secret=secret,
            business_key=env.get("PUNCHH_BUSINESS_KEY", ""),
            location_keys=locations,
            host=args.host,
            port=args.port,
            allow_non_loopback=args.allow_non_loopback,
        )
    )
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
    return _sandbox(args, env)


if __name__ == "__main__":
    sys.exit(main())
