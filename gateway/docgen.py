"""The operator docs, generated from the code: `python -m gateway.docgen` (`make docs`).

Writes docs/operators/:

- configuration.md: every key declared in the configuration's dataclasses (gateway/config.py,
  `key(...)`, read through `SETTINGS`) (TOML key, environment variable,
  default with secrets masked, accepted values as the parser words them, meaning), the
  tables checked elsewhere (TABLE_KEYS) and the variables read outside the settings;
- metrics.md: every metric of gateway/metrics.py, from a `Metrics` on a fresh registry
  (series as exposed, type, labels, help);
- errors.md: every error code the gateway answers with, collected from the source of
  gateway/ and middleware/ (GatewayError subclasses' default codes and statuses, `code=`
  literals given to them, literal `error_response(...)` calls and the error stage's own
  codes), with the descriptions in ERRORS below;
- runbooks.md: every rule of grafana/alerts.yml with its runbook from grafana/README.md.

Anything new without a description (an error code, a table key, an environment variable
read outside the settings) stops the generator with a DocError naming it: describe it
here. tests/packaging/test_docs.py regenerates the files and fails when the committed
ones differ. A development tool: it reads the repository, and needs PyYAML (dev extra).
"""

from __future__ import annotations

import argparse
import ast
import json
import re
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.metrics import MetricWrapperBase
from prometheus_client.parser import text_string_to_metric_families

from gateway.config import SETTINGS
from gateway.metrics import Metrics
from gateway.secret import mask
from gateway.secret_files import FILE_SUFFIX
from gateway.settings import TABLE_KEYS, Setting

ROOT = Path(__file__).resolve().parents[1]
OUT = Path("docs") / "operators"
COMMAND = "make docs"  # what regenerates the files (python -m gateway.docgen)
ENV_NAME = re.compile(r"^(?:GATEWAY|PUNCHH|PROMETHEUS|OTEL)_[A-Z0-9_]+$")


class DocError(Exception):
    """Something in the code has no description here, or cannot be read."""


# ------------------------------------------------------------------------------ texts

# Environment variables the code reads that are not a setting's override.
EXTRA_ENV: dict[str, str] = {
    "GATEWAY_CONFIG": (
        "Path of the TOML configuration file (optional: without it, defaults and the "
        "environment only). The container image sets `/etc/loyalty-gateway/gateway.toml`."
    ),
    # A business's secrets ([[businesses]]): the variable's name ends with the business's
    # name, upper-cased, '-' as '_' (brand-b: PUNCHH_CLIENT_SECRET__BRAND_B).
    "PUNCHH_CLIENT_SECRET__": (
        "**secret**. `punchh.client_secret` of the `[[businesses]]` table named `<NAME>` "
        "(its name upper-cased, `-` as `_`): `PUNCHH_CLIENT_SECRET__BRAND_B` for `brand-b`."
    ),
    "PUNCHH_BUSINESS_KEY__": (
        "**secret**. `pos.business_key` of the `[[businesses]]` table named `<NAME>` "
        "(as above): `PUNCHH_BUSINESS_KEY__BRAND_B` for `brand-b`."
    ),
    "PROMETHEUS_MULTIPROC_DIR": (
        "Set by the gateway itself for its worker processes when `server.workers` > 1 (a "
        "fresh temporary directory where they write their metrics). Do not set it: with one "
        "worker it would make /metrics read that directory instead of the process."
    ),
    # Tracing (gateway/tracing.py, docs/operators/tracing.md): OpenTelemetry's own variables.
    "OTEL_EXPORTER_OTLP_ENDPOINT": (
        "Tracing: the OTLP/HTTP collector's base URL (`/v1/traces` is added), e.g. "
        "`http://otel-collector:4318`. Unset or empty: tracing is off and costs nothing. "
        "See [tracing.md](tracing.md)."
    ),
    "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": (
        "Tracing: the full traces URL, used as is; wins over `OTEL_EXPORTER_OTLP_ENDPOINT`."
    ),
    "OTEL_SDK_DISABLED": "Tracing: `true` turns it off whatever the endpoint.",
    "OTEL_TRACES_EXPORTER": "Tracing: `none` turns it off; otherwise OTLP/HTTP is used.",
    "OTEL_SERVICE_NAME": "Tracing: the `service.name` of the spans (default `loyalty-gateway`).",
    "OTEL_TRACES_SAMPLER": (
        "Tracing: `parentbased_always_on` (default), `parentbased_traceidratio`, "
        "`parentbased_always_off`, `always_on`, `always_off` or `traceidratio`."
    ),
    "OTEL_TRACES_SAMPLER_ARG": (
        "Tracing: the ratio of new traces sampled by the `*traceidratio` samplers, 0 to 1 "
        "(default 1), e.g. `0.01`."
    ),
}

# The keys that are tables of tables (TABLE_KEYS), checked where they are read.
TABLE_DOCS: dict[str, tuple[str, str, str]] = {
    # key: (default, accepts, meaning)
    "pos.devices": (
        "`[]`",
        "`[[pos.devices]]` tables: `name`, `key` (16+ characters), `location_key`",
        "POS devices allowed on the /api/pos routes: each sends its own `key`; the gateway "
        "signs for Punchh with that device's `location_key` and `pos.business_key`. "
        "File only.",
    ),
    "businesses": (
        "`[]`",
        "`[[businesses]]` tables: `name` (a slug: a-z, 0-9, `-`), `hosts` (names or "
        "`*.example.com` wildcards, no port), `punchh.*`, `pos.*` with its "
        "`[[businesses.pos.devices]]`, and overrides of `session.*`, `cache.*` and "
        "`rate_limit.*` (not `cache.url`, `rate_limit.url`, `rate_limit.max_concurrent_upstream`, "
        "`rate_limit.queue`, `rate_limit.queue_timeout`, `session.secret`, "
        "`session.previous_secrets`)",
        "More Punchh businesses served by this gateway, chosen by the request's `Host` or, "
        "from loopback and `server.trusted_proxies`, `X-Loyalty-Business: <name>`. A business "
        "inherits every top-level setting it does not set but `punchh.client_id`, "
        "`punchh.client_secret`, `pos.*` and `session.allowed_origins`. The top-level "
        "`punchh.*` and `pos.*` are the business `default` (hosts no business claims), "
        "present unless `[[businesses]]` are set and `punchh.client_id` is not. Secrets "
        "from `PUNCHH_CLIENT_SECRET__<NAME>` and `PUNCHH_BUSINESS_KEY__<NAME>`. README, "
        '"Many businesses in one gateway". File only.',
    ),
    "rate_limit.policies": (
        "the built-in policies",
        "`[rate_limit.policies.<name>]` tables: `key`, `routes`, `limit`, `window`, "
        "`counts`, `fail`, `enabled`",
        "Changes a built-in rate-limit policy (or turns it off with `enabled = false`), or "
        "adds one; see config/gateway.example.toml. File only.",
    ),
}

# Every error code the gateway answers with: when it happens.
ERRORS: dict[str, str] = {
    "bad_request": "A malformed request that no more precise code describes.",
    "invalid_json": "The body is not valid JSON.",
    "invalid_body": "The body is JSON but not an object.",
    "query_not_allowed": (
        "A sign-in, sign-up, OTP or password-reset call with query parameters: the "
        "identifiers its abuse budgets are keyed by are read from the body only, so none "
        "may travel beside it. Punchh is not called."
    ),
    "invalid_identifier": (
        "An OTP send or a sign-in whose email or phone is not a string (a phone may be a "
        "number), or whose `user` is not an object: refused before any budget or call."
    ),
    "invalid_path": (
        "An unsafe path: encoded slashes, backslashes, control characters, double "
        "encoding. Punchh is not called."
    ),
    "malformed_request": (
        "A request aiohttp's parser refused (request line, header, Content-Length, chunked "
        "framing), answered by the connection with a fresh request id; the input is never "
        "echoed. The connection closes."
    ),
    "headers_too_large": (
        "A request line or header field longer than 8190 bytes. The connection closes."
    ),
    "not_refreshable": "A refresh was asked for a session that has no refresh token.",
    "unauthorized": "Authentication failed in a way no more precise code describes.",
    "session_required": "A guest route without a gateway session token.",
    "invalid_session": (
        "A forged, expired, idle or ended gateway session token, or one of another business."
    ),
    "session_expired": "Punchh refused to refresh the session's tokens: sign in again.",
    "invalid_device_key": "A POS route without a known device key.",
    "unknown_business": (
        "No business is served on the request's host (`hosts` of `[[businesses]]`, and no "
        "`default` business), or `X-Loyalty-Business` names none. Punchh is not called."
    ),
    "admin_token_required": (
        "/metrics or the status page on the main port without the admin token "
        "(`GATEWAY_ADMIN_TOKEN`)."
    ),
    "forbidden": "Refused in a way no more precise code describes.",
    "admin_only": (
        "/metrics or the status page on the main port when no admin token is configured: "
        "they are served on the admin port (`GATEWAY_ADMIN_PORT`), or here with "
        "`GATEWAY_ADMIN_TOKEN`."
    ),
    "browser_forbidden": (
        "A POS route called by a browser (`Origin`, `Sec-Fetch-*` or `Cookie` present)."
    ),
    "origin_forbidden": (
        "Cookie mode: an unsafe method without an allowed `Origin`; or a CORS preflight "
        "from an origin not in `GATEWAY_ALLOWED_ORIGINS`."
    ),
    "not_found": "No such resource (aiohttp's own 404).",
    "route_not_found": "The path and method are not in the route table. Punchh is not called.",
    "method_not_allowed": "The path exists with other methods (listed in `Allow`).",
    "body_timeout": (
        "The body did not arrive within `server.body_timeout` seconds of the headers; the "
        "connection closes."
    ),
    "payload_too_large": "The body is larger than `server.max_body_bytes`.",
    "unsupported_media_type": "A body that is not JSON.",
    "conflict": "The request conflicts with another one (no more precise code).",
    "upstream_retry_refused": (
        "Punchh answered a 4xx to a retry of a write whose earlier attempt was sent and "
        "may have applied (outcome `unknown`): repeat it later with the same "
        "`external_uid` or `Idempotency-Key` (`Retry-After` is Punchh's)."
    ),
    "idempotency_key_in_flight": (
        "A request with the same `Idempotency-Key` is still being handled (here or on "
        "another replica) and did not finish in time: retry with the same key later."
    ),
    "unprocessable": "The request cannot be processed as sent (no more precise code).",
    "invalid_idempotency_key": (
        "An `Idempotency-Key` header that is not 1 to 255 visible ASCII characters."
    ),
    "idempotency_key_reused": (
        "An `Idempotency-Key` already used for a different request: a new request needs a new key."
    ),
    "rate_limited": "A rate-limit policy is exhausted (`Retry-After` says for how long).",
    "http_error": "Any other HTTP error aiohttp raised itself (its own status).",
    "internal_error": "A bug in the gateway, logged with its traceback.",
    "upstream_unavailable": (
        "Punchh unreachable, a connection reset, an unreadable answer, a refresh that could "
        "not be made; or (503) the upstream family's circuit breaker is open."
    ),
    "not_ready": "`/readyz` before start-up completes.",
    "draining": (
        "`/readyz` from SIGTERM on, while the gateway shuts down: load balancers stop "
        "sending it requests."
    ),
    "session_store_unavailable": "Redis did not answer within `store.timeout`.",
    "rate_limiter_unavailable": "A fail-closed (abuse) policy's store cannot answer.",
    "upstream_busy": (
        "Punchh asked for a pause on this route (a 429 or 503 with `Retry-After`); the "
        "gateway answers the route itself until the time has passed."
    ),
    "upstream_overloaded": (
        "Too many calls to Punchh in flight (`rate_limit.max_concurrent_upstream`) and the "
        "queue is full or waited too long; `Retry-After: 1`."
    ),
    "overloaded": (
        "The connection was opened beyond `server.max_connections` in this process: it is "
        "served /healthz and /readyz only, and closes after its answer; `Retry-After: 1`."
    ),
    "upstream_timeout": "Punchh slower than the timeouts (`PUNCHH_*_TIMEOUT`).",
}


# ------------------------------------------------------------------------------ markdown


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _table(head: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in rows]
    return lines


def _header(title: str, sources: str) -> list[str]:
    return [
        f"<!-- Generated by `{COMMAND}` (python -m gateway.docgen) from {sources}. "
        "Do not edit: change the code and regenerate. -->",
        "",
        f"# {title}",
        "",
    ]


def _doc(lines: list[str]) -> str:
    return "\n".join(lines).rstrip("\n") + "\n"


# ------------------------------------------------------------------------- configuration


def toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    return repr(value)


def default_shown(setting: Setting) -> str:
    if setting.secret and setting.default:
        return mask(setting.default)
    return f"`{toml_value(setting.default)}`"


class _Probe:
    """A value no parser accepts: its error message says what the parser expects."""


def accepts(setting: Setting) -> str:
    """What the parser accepts, in its own words ("an integer from 0 to 65535")."""
    said: list[str] = []
    for probe in (_Probe(), "\x00"):
        try:
            setting.parse(probe, False)
        except ValueError as exc:
            said.append(str(exc).removeprefix("expected "))
    precise = [s for s in said if s != "a string"]
    if precise:
        return precise[0]
    if said:
        return "a string"
    raise DocError(f"{setting.key}: its parser accepts anything; cannot say what it expects")


def render_configuration() -> str:
    lines = _header("Configuration", "the key(...) declarations in gateway/config.py")
    lines += [
        "Every setting of loyalty-gateway, in one table. Each is read from, strongest first:",
        "its **environment variable**, the **TOML file** named by `GATEWAY_CONFIG` (the key "
        "is the dotted path: `server.port` is `port` under `[server]`), then the **default**.",
        "`loyalty-gateway check-config` checks a configuration without starting (one line "
        "per problem naming the key, the value with secrets masked, and what was expected; "
        "exit code 2); `loyalty-gateway serve` refuses to start with the same lines.",
        "",
        "In the environment, lists are comma-separated, booleans are `1`/`true`/`yes`/`on` "
        "or `0`/`false`/`no`/`off` (empty: false), and seconds may have decimals. Secrets "
        "(**secret** below) are better given by environment than in the file, or as files: "
        "each secret's variable has a `_FILE` variant holding the path of a file with the "
        "value (as Kubernetes and Docker mount secrets; one trailing newline is stripped; "
        "`GATEWAY_SESSION_PREVIOUS_SECRETS_FILE` holds one secret a line). Setting both is "
        "a configuration error; an unreadable file is named with the reason, never its "
        "content. Secrets are never logged. A key without an environment "
        "variable can only be set in the file. `config/gateway.example.toml` lists every key "
        "with a comment.",
        "",
    ]
    rows: list[list[str]] = [
        ["", "`GATEWAY_CONFIG`", "", "a file path", EXTRA_ENV["GATEWAY_CONFIG"]]
    ]
    for s in SETTINGS:
        env = f"`{s.env}`" if s.env else ""
        if s.secret and s.env:  # or the path of a file holding it (gateway/secret_files.py)
            env += f", `{s.env}{FILE_SUFFIX}`"
        meaning = ("**secret**. " if s.secret else "") + s.doc
        rows.append([f"`{s.key}`", env, default_shown(s), accepts(s), meaning])
    missing = TABLE_KEYS ^ set(TABLE_DOCS)
    if missing:
        raise DocError(f"TABLE_KEYS and gateway/docgen.py TABLE_DOCS differ: {sorted(missing)}")
    for key in sorted(TABLE_KEYS):
        default, accepted, meaning = TABLE_DOCS[key]
        rows.append([f"`{key}`", "", default, accepted, meaning])
    for name, meaning in EXTRA_ENV.items():
        if name.endswith("__"):  # a business's secret: the business's name follows
            shown = f"`{name}<NAME>`, `{name}<NAME>{FILE_SUFFIX}`"
            rows.append(["", shown, "", "a string", meaning])
        elif name.startswith("OTEL_"):
            rows.append(["", f"`{name}`", "", "OpenTelemetry's", meaning])
        elif name != "GATEWAY_CONFIG":
            rows.append(["", f"`{name}`", "", "(set by the gateway)", meaning])
    lines += _table(["key", "environment", "default", "accepts", "meaning"], rows)
    return _doc(lines)


def env_names_in_code(root: Path = ROOT) -> dict[str, list[str]]:
    """Every string literal that names an environment variable (GATEWAY_*, PUNCHH_*,
    PROMETHEUS_*, OTEL_*) in gateway/ and middleware/, with where it is ("path:line")."""
    found: dict[str, list[str]] = {}
    for path, tree in _modules(root):
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Constant)
                and isinstance(node.value, str)
                and ENV_NAME.match(node.value)
            ):
                found.setdefault(node.value, []).append(f"{path}:{node.lineno}")
    return found


def check_env_names(root: Path = ROOT) -> None:
    known = {s.env for s in SETTINGS if s.env} | set(EXTRA_ENV)
    unknown = {n: w for n, w in env_names_in_code(root).items() if n not in known}
    if unknown:
        raise DocError(
            "environment variables read in the code with no setting and no description in "
            f"gateway/docgen.py EXTRA_ENV: {unknown}"
        )


# ------------------------------------------------------------------------------- metrics


@dataclass(frozen=True)
class MetricDoc:
    family: str
    kind: str
    help: str
    labels: tuple[str, ...]
    series: tuple[str, ...]  # as exposed, `_created` aside


def _wrappers(metrics: Metrics) -> Iterator[MetricWrapperBase]:
    for value in vars(metrics).values():
        if isinstance(value, MetricWrapperBase):
            yield value


def _exposition() -> tuple[str, dict[str, tuple[str, ...]]]:
    """The text a fresh `Metrics` exposes with one child per labelled metric (so that every
    series name it can have shows), and each family's label names."""
    metrics = Metrics(CollectorRegistry())
    labels: dict[str, tuple[str, ...]] = {}
    for w in _wrappers(metrics):
        names = tuple(getattr(w, "_labelnames", ()))  # prometheus_client has no public getter
        (described,) = w.describe()
        labels[described.name] = names
        if names:
            w.labels(*["x"] * len(names))
    return generate_latest(metrics.registry).decode(), labels


def metric_docs() -> list[MetricDoc]:
    """Every metric of `Metrics`, in the order they are defined."""
    text, labels = _exposition()
    docs: list[MetricDoc] = []
    for fam in text_string_to_metric_families(text):
        if fam.name not in labels and fam.name.endswith("_created"):
            continue  # the text format shows a counter's or histogram's `_created` apart
        series = tuple(
            dict.fromkeys(s.name for s in fam.samples if not s.name.endswith("_created"))
        )
        docs.append(MetricDoc(fam.name, fam.type, fam.documentation, labels[fam.name], series))
    if {d.family for d in docs} != set(labels):
        raise DocError(f"metrics not exposed: {set(labels) - {d.family for d in docs}}")
    return docs


def exposed_names() -> set[str]:
    """Every series name the gateway can expose (`_created` included)."""
    text, _ = _exposition()
    return {s.name for fam in text_string_to_metric_families(text) for s in fam.samples}


def render_metrics() -> str:
    lines = _header("Metrics", "gateway/metrics.py")
    lines += [
        "Prometheus text at `GET /metrics`: on the admin port when `GATEWAY_ADMIN_PORT` is "
        "set (no token: reaching the port is the privilege), else on the main port (with "
        "`Authorization: Bearer <GATEWAY_ADMIN_TOKEN>` when a token is set). With several "
        "workers (`GATEWAY_WORKERS`) one scrape aggregates them all.",
        "",
        "Labels are route templates (`GET /api/auth/checkins/balance`; `unmatched` for paths "
        "outside the route table), methods, statuses, sources (`gateway`: the gateway made "
        "the answer; `upstream`: Punchh's answer passed through), kinds, results and policy "
        "names: never raw paths, user ids or tokens. Counters and histograms also expose "
        "`<name>_created` (when the series started). The Grafana dashboard and the alert "
        "rules over these metrics are in `grafana/` ([runbooks](runbooks.md)).",
        "",
    ]
    rows = [
        [
            "<br>".join(f"`{s}`" for s in d.series),
            d.kind,
            ", ".join(f"`{label}`" for label in d.labels),
            d.help,
        ]
        for d in metric_docs()
    ]
    lines += _table(["series", "type", "labels", "meaning"], rows)
    return _doc(lines)


# -------------------------------------------------------------------------------- errors


@dataclass
class ErrorCode:
    code: str
    statuses: set[str] = field(default_factory=set)
    where: set[str] = field(default_factory=set)


def _modules(root: Path) -> Iterator[tuple[str, ast.Module]]:
    for package in ("gateway", "middleware"):
        for path in sorted((root / package).rglob("*.py")):
            if path.name == "docgen.py" and path.parent.name == "gateway":
                continue  # this file names codes and variables only to describe them
            rel = path.relative_to(root).as_posix()
            yield rel, ast.parse(path.read_text(), rel)


def _name(node: ast.expr) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    return None


def _literal(node: ast.expr | None) -> Any:
    return node.value if isinstance(node, ast.Constant) else None


@dataclass
class _ErrorClass:
    bases: list[str]
    status: int | None
    code: str | None
    where: str


def _error_classes(modules: list[tuple[str, ast.Module]]) -> dict[str, tuple[int, str, str]]:
    """Every GatewayError subclass (by name): (status, default_code, where)."""
    classes: dict[str, _ErrorClass] = {}
    for rel, tree in modules:
        for node in ast.walk(tree):
            if not isinstance(node, ast.ClassDef):
                continue
            status = code = None
            for stmt in node.body:
                target: ast.expr | None = None
                value: ast.expr | None = None
                if isinstance(stmt, ast.Assign) and len(stmt.targets) == 1:
                    target, value = stmt.targets[0], stmt.value
                elif isinstance(stmt, ast.AnnAssign):
                    target, value = stmt.target, stmt.value
                if isinstance(target, ast.Name) and target.id == "status":
                    status = _literal(value)
                if isinstance(target, ast.Name) and target.id == "default_code":
                    code = _literal(value)
            bases = [b for b in (_name(x) for x in node.bases) if b]
            classes[node.name] = _ErrorClass(bases, status, code, f"{rel}:{node.lineno}")
    resolved: dict[str, tuple[int, str, str]] = {}
    root = classes.get("GatewayError")
    if root is None or root.status is None or root.code is None:
        raise DocError("gateway/errors.py: GatewayError with a literal status and default_code")
    resolved["GatewayError"] = (root.status, root.code, root.where)
    changed = True
    while changed:
        changed = False
        for name, c in classes.items():
            parent = next((resolved[b] for b in c.bases if b in resolved), None)
            if name in resolved or parent is None:
                continue
            resolved[name] = (
                c.status if c.status is not None else parent[0],
                c.code if c.code is not None else parent[1],
                c.where,
            )
            changed = True
    return resolved


def error_codes(root: Path = ROOT) -> dict[str, ErrorCode]:
    """Every code the gateway answers with, from the source (see the module doc)."""
    modules = list(_modules(root))
    classes = _error_classes(modules)
    codes: dict[str, ErrorCode] = {}

    def add(code: Any, status: Any, where: str) -> None:
        if not isinstance(code, str) or not code:
            raise DocError(f"{where}: an error code that is not a string literal")
        entry = codes.setdefault(code, ErrorCode(code))
        entry.statuses.add(str(status))
        entry.where.add(where.rsplit(":", 1)[0])

    for status, code, where in classes.values():
        add(code, status, where)
    for rel, tree in modules:
        for node in ast.walk(tree):
            where = f"{rel}:{getattr(node, 'lineno', 0)}"
            if isinstance(node, ast.Call):
                func = _name(node.func)
                if func in classes:
                    for kw in node.keywords:
                        if kw.arg == "code":
                            add(_literal(kw.value), classes[func][0], where)
                elif func == "error_response" and len(node.args) >= 2:
                    status, code = _literal(node.args[0]), _literal(node.args[1])
                    if status is not None or code is not None:
                        add(code, status, where)
                elif (
                    func == "get"
                    and isinstance(node.func, ast.Attribute)
                    and _name(node.func.value) == "_HTTP_CODES"
                    and len(node.args) == 2
                ):
                    add(_literal(node.args[1]), "4xx/5xx", where)
            elif isinstance(node, ast.Assign) and any(
                isinstance(t, ast.Name) and t.id == "_HTTP_CODES" for t in node.targets
            ):
                if not isinstance(node.value, ast.Dict):
                    raise DocError(f"{where}: _HTTP_CODES is not a literal dict")
                for k, v in zip(node.value.keys, node.value.values, strict=True):
                    add(_literal(v), _literal(k) if k is not None else None, where)
            elif isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Tuple):
                names = [_name(t) for t in node.targets[0].elts]
                if "code" in names and "status" in names and isinstance(node.value, ast.Tuple):
                    status = _literal(node.value.elts[names.index("status")])
                    code = _literal(node.value.elts[names.index("code")])
                    if code is not None:
                        add(code, status, where)
    return codes


def render_errors(root: Path = ROOT) -> str:
    codes = error_codes(root)
    undescribed = sorted(set(codes) - set(ERRORS))
    stale = sorted(set(ERRORS) - set(codes))
    if undescribed or stale:
        raise DocError(
            f"error codes without a description in gateway/docgen.py ERRORS: {undescribed}; "
            f"descriptions of codes the code no longer uses: {stale}"
        )
    lines = _header("Errors the gateway makes", "gateway/errors.py and the code raising them")
    lines += [
        "Every error the gateway makes itself is one JSON answer, "
        '`{"error": {"code": ..., "message": ..., "request_id": ...}}` (see '
        "`gateway/errors.py` for every field), with the status below, and one "
        '`"msg": "gateway error"` log line with the same `code`, `status`, `route` and '
        "`request_id`. While tracing is on (docs/operators/tracing.md), the error also "
        "holds `trace_id`, the request's trace (the access log line has it too). "
        'These answers are counted with `source="gateway"` in '
        '`loyalty_gateway_requests_total`. Punchh\'s own errors (`["Invalid Signature"]`, '
        '`{"errors": {...}}`, ...) pass through unchanged and are counted with '
        '`source="upstream"`.',
        "",
    ]

    def order(e: ErrorCode) -> tuple[str, str]:
        return (min(e.statuses), e.code)

    rows = [
        [" / ".join(sorted(e.statuses)), f"`{e.code}`", ERRORS[e.code]]
        for e in sorted(codes.values(), key=order)
    ]
    lines += _table(["status", "code", "when"], rows)
    return _doc(lines)


# ------------------------------------------------------------------------------ runbooks


@dataclass(frozen=True)
class Alert:
    name: str
    expr: str
    duration: str
    severity: str
    summary: str
    description: str
    runbook: str  # "grafana/README.md#runbook-..."


def alerts(root: Path = ROOT) -> list[Alert]:
    import yaml  # a dev dependency: only this generator reads YAML

    doc = yaml.safe_load((root / "grafana" / "alerts.yml").read_text())
    found: list[Alert] = []
    for group in doc["groups"]:
        for rule in group["rules"]:
            if "alert" not in rule:
                continue
            notes = rule.get("annotations", {})
            found.append(
                Alert(
                    rule["alert"],
                    rule["expr"].strip(),
                    rule.get("for", "0s"),
                    rule.get("labels", {}).get("severity", ""),
                    notes.get("summary", ""),
                    " ".join(notes.get("description", "").split()),
                    notes.get("runbook", ""),
                )
            )
    return found


def runbook_sections(root: Path = ROOT) -> dict[str, str]:
    """grafana/README.md's runbooks by anchor: the text after the `### Name` line."""
    text = (root / "grafana" / "README.md").read_text()
    parts = re.split(r'^<a id="([^"]+)"></a>\n', text, flags=re.MULTILINE)
    sections: dict[str, str] = {}
    for anchor, body in zip(parts[1::2], parts[2::2], strict=True):
        body = re.split(r"^## ", body, maxsplit=1, flags=re.MULTILINE)[0]
        sections[anchor] = body.split("\n", 1)[1].strip() if body.startswith("### ") else body
    return sections


def render_runbooks(root: Path = ROOT) -> str:
    rules = alerts(root)
    sections = runbook_sections(root)
    lines = _header("Alert runbooks", "grafana/alerts.yml and the runbooks in grafana/README.md")
    lines += [
        "The Prometheus alert rules of `grafana/alerts.yml` (loaded by `grafana/prometheus.yml`"
        " and by `deploy/compose/prometheus.yml`), each with what to do. Severity `critical`: "
        "page someone; `warning`: look today. Sums run over every scraped replica. The "
        'dashboard, the question "is it us or Punchh?" and how to load all of it are in '
        "[grafana/README.md](../../grafana/README.md); the metrics in [metrics.md](metrics.md), "
        "the error codes in [errors.md](errors.md).",
        "",
    ]
    lines += _table(
        ["alert", "severity", "for", "summary"],
        [
            [f"[{a.name}](#{a.runbook.partition('#')[2]})", a.severity, a.duration, a.summary]
            for a in rules
        ],
    )
    for a in rules:
        anchor = a.runbook.partition("#")[2]
        if a.runbook.partition("#")[0] != "grafana/README.md" or anchor not in sections:
            raise DocError(f"{a.name}: its runbook {a.runbook!r} is not in grafana/README.md")
        lines += [
            "",
            f'<a id="{anchor}"></a>',
            f"## {a.name}",
            "",
            f"**Severity** {a.severity}, **for** {a.duration}. {a.description}",
            "",
            "```promql",
            a.expr,
            "```",
            "",
            sections[anchor],
        ]
    return _doc(lines)


# ---------------------------------------------------------------------------------- main


def render_all(root: Path = ROOT) -> dict[str, str]:
    """File name (in docs/operators/) -> content."""
    check_env_names(root)
    return {
        "configuration.md": render_configuration(),
        "metrics.md": render_metrics(),
        "errors.md": render_errors(root),
        "runbooks.md": render_runbooks(root),
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m gateway.docgen", description=__doc__)
    parser.add_argument("--out", type=Path, default=ROOT / OUT, help="where to write")
    parser.add_argument(
        "--check", action="store_true", help="write nothing; exit 1 when a file differs"
    )
    args = parser.parse_args(argv)
    try:
        files = render_all()
    except DocError as exc:
        print(f"docgen: {exc}", file=sys.stderr)
        return 2
    stale = [n for n, text in files.items() if _read(args.out / n) != text]
    if args.check:
        for name in stale:
            print(f"{args.out / name} is out of date: run `{COMMAND}`", file=sys.stderr)
        return 1 if stale else 0
    args.out.mkdir(parents=True, exist_ok=True)
    for name in stale:
        (args.out / name).write_text(files[name])
        print(f"wrote {args.out / name}")
    return 0


def _read(path: Path) -> str | None:
    return path.read_text() if path.exists() else None


if __name__ == "__main__":
    sys.exit(main())
