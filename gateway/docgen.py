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
  codes), with the descriptions in gateway/described.py ERRORS;
- runbooks.md: every rule of grafana/alerts.yml with its runbook from grafana/README.md;

and docs/openapi.json: the gateway's OpenAPI document (gateway/openapi.py), the one it
serves at GET /gateway/openapi.json, with the error codes described here.

Anything new without a description (an error code, a table key, an environment variable
read outside the settings) stops the generator with a DocError naming it: describe it
here. tests/packaging/test_docs.py regenerates the files and fails when the committed
ones differ (`--check` does the same without writing). A development tool: it reads the
repository, and needs PyYAML (dev extra).
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

from gateway import openapi
from gateway.config import SETTINGS
from gateway.described import ERRORS, EXTRA_ENV
from gateway.metrics import Metrics
from gateway.secret import mask
from gateway.secret_files import FILE_SUFFIX
from gateway.settings import TABLE_KEYS, Setting

ROOT = Path(__file__).resolve().parents[1]
OUT = Path("docs") / "operators"
OPENAPI_OUT = Path("docs") / "openapi.json"
COMMAND = "make docs"  # what regenerates the files (python -m gateway.docgen)
ENV_NAME = re.compile(r"^(?:GATEWAY|PUNCHH|PROMETHEUS|OTEL)_[A-Z0-9_]+$")


class DocError(Exception):
    """Something in the code has no description here, or cannot be read."""


# ------------------------------------------------------------------------------ texts


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
        "from `PUNCHH_CLIENT_SECRET__<NAME>` and `PUNCHH_BUSINESS_KEY__<NAME>`. docs/guide.md, "
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
        elif name == "GATEWAY_URL":
            rows.append(["", f"`{name}`", "", "a URL (yours, for the scripts)", meaning])
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
            f"gateway/described.py EXTRA_ENV: {unknown}"
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
        "set (no token: reaching the port is the privilege), else on the main port with "
        "`Authorization: Bearer <GATEWAY_ADMIN_TOKEN>` (with neither an admin port nor a "
        "token it is not served: 403 `admin_only`). With several "
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


# What every error answer holds: an example of the whole shape (middleware/errors.py).
_ERRORS_INTRO = [
    "Every error the gateway makes itself is one JSON answer with the status below, e.g. a 504:",
    "",
    "```json",
    '{"error": {"code": "upstream_timeout", "message": "Punchh did not answer in time", '
    '"request_id": "5f1c9e0a7b3d2c4e000000000000002a", "outcome": "unknown"}}',
    "```",
    "",
    "- `code`: one of the table below; `message`: safe to show and to log; `request_id`: "
    "the answer's `X-Request-ID`, also sent to Punchh and in the logs.",
    "- `outcome`: what became of the request at Punchh. `not_applied`: Punchh never got it, "
    "or it was refused before it was sent: safe to send again. `unknown`: it was sent and "
    "the answer was lost: send it again only with the same `external_uid` or "
    "`Idempotency-Key`. `applied`: Punchh applied it, the gateway failed afterwards.",
    "- `trace_id`: only while tracing is on ([tracing.md](tracing.md)), the request's trace "
    "(the access log line has it too).",
    "",
    'Each is also one `"msg": "gateway error"` log line with the same `code`, `status`, '
    '`route`, `request_id` and `outcome`, and is counted with `source="gateway"` in '
    '`loyalty_gateway_requests_total`. Punchh\'s own errors (`["Invalid Signature"]`, '
    '`{"errors": {...}}`, ...) pass through unchanged, counted with `source="upstream"`; they '
    "have no `outcome`: treat a 5xx of Punchh's as `unknown`. The gateway's OpenAPI document, "
    "[docs/openapi.json](../openapi.json) (served at `GET /gateway/openapi.json`), has this "
    "shape as its `GatewayError` schema, with these codes.",
    "",
]


def render_errors(root: Path = ROOT) -> str:
    codes = error_codes(root)
    undescribed = sorted(set(codes) - set(ERRORS))
    stale = sorted(set(ERRORS) - set(codes))
    if undescribed or stale:
        raise DocError(
            f"error codes without a description in gateway/described.py ERRORS: {undescribed}; "
            f"descriptions of codes the code no longer uses: {stale}"
        )
    lines = _header(
        "Errors the gateway makes",
        "the codes raised in gateway/ and middleware/, described in gateway/described.py",
    )
    lines += _ERRORS_INTRO

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


def render_openapi() -> str:
    """docs/openapi.json: the document the gateway serves at GET /gateway/openapi.json."""
    # Late: the own routes bring the request path with them.
    from gateway.local import OWN_ROUTES

    return openapi.render(OWN_ROUTES, ERRORS)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m gateway.docgen", description=__doc__)
    parser.add_argument("--out", type=Path, help=f"where the operator docs go ({OUT}/)")
    parser.add_argument(
        "--openapi",
        type=Path,
        help=f"where the OpenAPI document goes ({OPENAPI_OUT}; with --out, only when given)",
    )
    parser.add_argument(
        "--check", action="store_true", help="write nothing; exit 1 when a file differs"
    )
    args = parser.parse_args(argv)
    try:
        files = {(args.out or ROOT / OUT) / n: text for n, text in render_all().items()}
        openapi_out = args.openapi or (None if args.out else ROOT / OPENAPI_OUT)
        if openapi_out is not None:
            files[openapi_out] = render_openapi()
    except DocError as exc:
        print(f"docgen: {exc}", file=sys.stderr)
        return 2
    stale = [path for path, text in files.items() if _read(path) != text]
    if args.check:
        for path in stale:
            print(f"{path} is out of date: run `{COMMAND}`", file=sys.stderr)
        return 1 if stale else 0
    for path in stale:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(files[path])
        print(f"wrote {path}")
    return 0


def _read(path: Path) -> str | None:
    return path.read_text() if path.exists() else None


if __name__ == "__main__":
    sys.exit(main())
