"""deploy/: the Kubernetes and compose examples parse and reference only real things.

- Variables: every one set for the gateway (or named anywhere under deploy/) is a
  setting's environment variable (gateway/settings.py), a secret's `_FILE` variant
  (gateway.config.file_variables) or one the docs describe (gateway/described.py EXTRA_ENV);
  the configuration they make (the image's ENV, then the file's, then the mounted TOML)
  loads with `load_config`, as `check-config` would, reading dummy secret files through
  the `_FILE` variables.
- Secrets (issue 19): every secret setting is given as its `_FILE` only, a path in the
  Secret volume mounted read-only in the gateway container (a key the command at the top
  of the manifest creates; readable by the image's group, fsGroup, and nobody else) or a
  compose secret the service lists (declared with a file under the git-ignored
  deploy/compose/secrets/). In compose a Redis URL without a password may stay a literal.
- Ports: probes, container ports, published ports, scrape targets and Prometheus
  annotations are the configured ports (server.port, admin.port).
- Shutdown: the termination periods cover server.shutdown_grace + server.drain_timeout
  and a margin (values from the files, else the settings' defaults).
- Metrics: every `loyalty_gateway_*` name under deploy/ and in the alert rules the
  compose Prometheus loads is a series the gateway exposes (gateway.metrics on a fresh
  registry: gateway/docgen.py exposed_names; test_image.py checks those against a real
  /metrics).
- Prometheus and Grafana for compose: `promtool check config` passes on the compose
  Prometheus configuration with the rules mounted beside it; the job name is the one the
  alerts expect; Grafana's mounts match grafana/provisioning.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from gateway.config import SETTINGS, GatewayConfig, file_variables, load_config
from gateway.described import EXTRA_ENV
from gateway.docgen import exposed_names
from gateway.secret_files import FILE_SUFFIX
from gateway.settings import Setting
from tests.packaging.dockerfile import ROOT, stages

DEPLOY = ROOT / "deploy"
K8S = DEPLOY / "kubernetes" / "loyalty-gateway.yaml"
COMPOSE_DIR = DEPLOY / "compose"
COMPOSE = COMPOSE_DIR / "compose.yaml"
ENV_EXAMPLE = COMPOSE_DIR / ".env.example"
COMPOSE_GITIGNORE = COMPOSE_DIR / ".gitignore"
K8S_SECRET = "loyalty-gateway"
GRAFANA = ROOT / "grafana"
ENSURE_APT = ROOT / "scripts" / "ensure-apt.sh"

# Seconds between the end of the drain and the kill, for the process to exit.
SHUTDOWN_MARGIN = 5.0
GATEWAY_ENV = re.compile(r"\b(?:GATEWAY|PUNCHH)_[A-Z0-9_]+\b")
METRIC = re.compile(r"\bloyalty_gateway_[a-z0-9_]+\b")
INTERPOLATION = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])([^}]*))?\}")
SECRET_KEY_CREATED = re.compile(r"--from-literal=([^=\s]+)=")
# Secret settings (a Redis URL too: it may carry a password) and their `_FILE` variants.
SECRET_ENV = {s.env for s in SETTINGS if s.secret and s.env}
URL_ENV = {s.env for s in SETTINGS if s.secret and s.env and s.key.endswith(".url")}
FILE_ENV = file_variables()
KNOWN_ENV = {s.env for s in SETTINGS if s.env} | set(EXTRA_ENV) | FILE_ENV


# ------------------------------------------------------------------------------ helpers


def _setting(key: str) -> Setting:
    found = [s for s in SETTINGS if s.key == key]
    assert found, f"the configuration declares no {key} (graceful shutdown, issue 9)"
    return found[0]


def _image_env() -> dict[str, str]:
    env = stages()[-1].env()
    env.pop("PATH", None)
    return env


def _dummy(name: str) -> str:
    """A valid value for a variable whose real value is a secret kept elsewhere."""
    return "redis://redis.invalid:6379/0" if name in URL_ENV else "d" * 48


def _with_secret_files(
    env: Mapping[str, str], mounted: Mapping[str, str], tmp_path: Path
) -> dict[str, str]:
    """`env` with each `<VARIABLE>_FILE` path, which must be one of `mounted` (the paths of
    the mounted secrets in the container), replaced by a dummy file at that path under
    tmp_path (one trailing newline, as `openssl rand` writes): load_config then reads the
    secret through the `_FILE` variable, as the gateway does."""
    out = dict(env)
    for name, path in env.items():
        if name not in FILE_ENV:
            continue
        assert path in mounted, f"{name} = {path!r}: no secret is mounted there {sorted(mounted)}"
        local = tmp_path / "container" / path.lstrip("/")
        local.parent.mkdir(parents=True, exist_ok=True)
        local.write_text(_dummy(name.removesuffix(FILE_SUFFIX)) + "\n")
        out[name] = str(local)
    return out


def _ignored_dirs() -> list[Path]:
    """The folders deploy/compose/.gitignore keeps out of git (`name/` lines)."""
    lines = [line.strip() for line in COMPOSE_GITIGNORE.read_text().splitlines()]
    found = [
        (COMPOSE_DIR / line.strip("/")).resolve()
        for line in lines
        if line.endswith("/") and not line.startswith(("#", "!"))
    ]
    assert found, f"{COMPOSE_GITIGNORE.relative_to(ROOT)} ignores no folder"
    return found


def _load(toml_text: str, env: Mapping[str, str], tmp_path: Path) -> GatewayConfig:
    path = tmp_path / "gateway.toml"
    path.write_text(toml_text)
    return load_config(str(path), dict(env))


def _effective(key: str, env: Mapping[str, str], toml_text: str) -> Any:
    """A setting's value: its variable, else the TOML file's value, else the default."""
    s = _setting(key)
    if s.env and s.env in env:
        return s.parse(env[s.env], True)
    flat: Any = tomllib.loads(toml_text)
    for part in key.split("."):
        if not isinstance(flat, dict) or part not in flat:
            return s.parse(s.default, False)
        flat = flat[part]
    return s.parse(flat, False)


def _shutdown_budget(env: Mapping[str, str], toml_text: str) -> float:
    grace = float(_effective("server.shutdown_grace", env, toml_text))
    drain = float(_effective("server.drain_timeout", env, toml_text))
    return grace + drain + SHUTDOWN_MARGIN


def _duration(text: str) -> float:
    total = 0.0
    for number, unit in re.findall(r"(\d+(?:\.\d+)?)(ms|h|m|s)", text):
        total += float(number) * {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}[unit]
    assert total or text.strip("0smh") == "", f"not a duration: {text!r}"
    return total


def _deploy_files() -> list[Path]:
    """Every file under deploy/ but the git-ignored secret files someone made locally."""
    ignored = _ignored_dirs()
    files = [
        p
        for p in DEPLOY.rglob("*")
        if p.is_file() and not any(p.resolve().is_relative_to(d) for d in ignored)
    ]
    assert files
    return sorted(files)


# ---------------------------------------------------------------------------- kubernetes


@pytest.fixture(scope="module")
def k8s() -> dict[str, dict[str, Any]]:
    docs = [d for d in yaml.safe_load_all(K8S.read_text()) if d]
    by_kind = {d["kind"]: d for d in docs}
    assert set(by_kind) == {"ConfigMap", "Deployment", "Service"}, list(by_kind)
    for d in docs:
        assert {"apiVersion", "kind", "metadata"} <= set(d), d.get("kind")
    return by_kind


def _pod(k8s: dict[str, dict[str, Any]]) -> dict[str, Any]:
    spec: dict[str, Any] = k8s["Deployment"]["spec"]["template"]["spec"]
    return spec


def _container(k8s: dict[str, dict[str, Any]], name: str) -> dict[str, Any]:
    found = [c for c in _pod(k8s)["containers"] if c["name"] == name]
    assert len(found) == 1, f"one container named {name}"
    container: dict[str, Any] = found[0]
    return container


def _gateway_toml(k8s: dict[str, dict[str, Any]]) -> str:
    """The TOML file the gateway container reads: the ConfigMap item mounted at the
    image's GATEWAY_CONFIG."""
    gateway = _container(k8s, "loyalty-gateway")
    config_path = _pod_values(k8s).get("GATEWAY_CONFIG") or _image_env()["GATEWAY_CONFIG"]
    volumes = {v["name"]: v for v in _pod(k8s)["volumes"]}
    for mount in gateway["volumeMounts"]:
        volume = volumes[mount["name"]]
        if "configMap" not in volume:
            continue
        assert volume["configMap"]["name"] == k8s["ConfigMap"]["metadata"]["name"]
        for item in volume["configMap"].get("items", []):
            if f"{mount['mountPath'].rstrip('/')}/{item['path']}" == config_path:
                text: str = k8s["ConfigMap"]["data"][item["key"]]
                return text
    raise AssertionError(f"no ConfigMap item is mounted at GATEWAY_CONFIG ({config_path})")


def _pod_values(k8s: dict[str, dict[str, Any]]) -> dict[str, str]:
    """The gateway container's environment over the image's, as written (paths of the
    secret files as mounted in the container)."""
    env = _image_env()
    for entry in _container(k8s, "loyalty-gateway").get("env", []):
        assert "valueFrom" not in entry, (
            f"{entry['name']}: from {entry['valueFrom']}: a secret is read from its file "
            "(the `_FILE` variable), never put in the environment"
        )
        env[entry["name"]] = str(entry["value"])
    return env


def _pod_env(k8s: dict[str, dict[str, Any]], tmp_path: Path) -> dict[str, str]:
    """The gateway container's environment, each secret a dummy file at its mounted path
    (under tmp_path) that the `_FILE` variable names."""
    return _with_secret_files(_pod_values(k8s), _k8s_secret_files(k8s), tmp_path)


def _k8s_secret_keys() -> set[str]:
    """The keys the `kubectl create secret` command at the top of the manifest creates."""
    header = K8S.read_text().split("\napiVersion:", 1)[0]
    assert f"kubectl create secret generic {K8S_SECRET} " in header, "the Secret's command"
    keys = set(SECRET_KEY_CREATED.findall(header))
    assert keys, "the command creates no key"
    return keys


def _k8s_secret_files(k8s: dict[str, dict[str, Any]]) -> dict[str, str]:
    """Container path -> Secret key of each file of the Secret volumes mounted (read-only)
    in the gateway container: the volume's items, else every key the command creates."""
    volumes = {v["name"]: v for v in _pod(k8s)["volumes"]}
    files: dict[str, str] = {}
    for mount in _container(k8s, "loyalty-gateway")["volumeMounts"]:
        secret = volumes[mount["name"]].get("secret")
        if secret is None:
            continue
        assert secret["secretName"] == K8S_SECRET, secret
        assert mount.get("readOnly") is True, f"{mount['name']}: the secrets mounted writable"
        assert "subPath" not in mount, f"{mount['name']}: a subPath mount is never updated"
        items = secret.get("items") or [{"key": k, "path": k} for k in _k8s_secret_keys()]
        for item in items:
            files[f"{mount['mountPath'].rstrip('/')}/{item['path']}"] = item["key"]
    return files


def _container_port(container: dict[str, Any], port: int | str) -> int:
    if isinstance(port, int):
        return port
    (number,) = [p["containerPort"] for p in container["ports"] if p["name"] == port]
    return int(number)


def test_k8s_gateway_variables_are_real_and_secrets_are_files_of_the_secret(
    k8s: dict[str, dict[str, Any]],
) -> None:
    entries = _container(k8s, "loyalty-gateway")["env"]
    names = [e["name"] for e in entries]
    assert len(names) == len(set(names)), "a variable set twice"
    assert set(names) <= KNOWN_ENV, f"not gateway variables: {set(names) - KNOWN_ENV}"
    # Secret settings (a Redis URL too: it may carry a password) are read from the files
    # of the Secret, whose keys the command at the top of the file creates; none is in the
    # environment, neither written here nor from a secretKeyRef.
    inline = set(names) & SECRET_ENV
    assert not inline, f"secrets in the environment, not read from files: {inline}"
    values = _pod_values(k8s)  # no valueFrom at all
    files, keys = _k8s_secret_files(k8s), _k8s_secret_keys()
    read: dict[str, str] = {}
    for name in set(names) & FILE_ENV:
        path = values[name]
        assert path in files, f"{name} = {path}: not a file of the mounted Secret {sorted(files)}"
        assert files[path] in keys, f"the Secret's {files[path]}: the command does not create it"
        read[name] = files[path]
    assert sorted(read.values()) == sorted(keys), (
        f"each key the command creates is read by one variable: {read} against {sorted(keys)}"
    )


def test_k8s_secret_files_are_for_the_gateway_alone(k8s: dict[str, dict[str, Any]]) -> None:
    """Read-only, readable by the image's group (fsGroup: the files belong to root and
    that group; the user is not root) and by nobody else; not mounted in the frontend."""
    _, _, gid = stages()[-1].one("USER").args.partition(":")
    assert _pod(k8s)["securityContext"].get("fsGroup") == int(gid), (
        "fsGroup: the image's group, or the gateway cannot read the Secret's files"
    )
    secret_volumes = {v["name"]: v["secret"] for v in _pod(k8s)["volumes"] if "secret" in v}
    assert secret_volumes, "no Secret volume"
    for name, secret in secret_volumes.items():
        modes = [secret.get("defaultMode", 0o644)]
        modes += [item["mode"] for item in secret.get("items", []) if "mode" in item]
        for mode in modes:
            assert mode & 0o040, f"{name}: mode {mode:o}: the group (fsGroup) cannot read"
            assert not mode & 0o007, f"{name}: mode {mode:o}: anyone may read the secrets"
    assert _k8s_secret_files(k8s), "no Secret mounted in the gateway container"
    frontend = _container(k8s, "frontend")
    assert not {m["name"] for m in frontend.get("volumeMounts", [])} & set(secret_volumes)


def test_k8s_configuration_loads(k8s: dict[str, dict[str, Any]], tmp_path: Path) -> None:
    cfg = _load(_gateway_toml(k8s), _pod_env(k8s, tmp_path), tmp_path)
    assert cfg.store.backend == "redis", "several replicas need Redis stores"
    assert cfg.server.host == "0.0.0.0", "the kubelet probes the pod IP"
    assert not cfg.sandbox.enabled


def test_k8s_probes_ports_and_annotations_are_the_configured_ports(
    k8s: dict[str, dict[str, Any]], tmp_path: Path
) -> None:
    cfg = _load(_gateway_toml(k8s), _pod_env(k8s, tmp_path), tmp_path)
    gateway = _container(k8s, "loyalty-gateway")
    declared = {int(p["containerPort"]) for p in gateway["ports"]}
    assert declared == {cfg.server.port, cfg.admin.port}, declared
    probes = {
        kind: gateway[kind]["httpGet"]
        for kind in ("startupProbe", "livenessProbe", "readinessProbe")
    }
    assert probes["readinessProbe"]["path"] == "/readyz"
    assert probes["livenessProbe"]["path"] == "/healthz"
    assert probes["startupProbe"]["path"] == "/healthz"
    for kind, probe in probes.items():
        assert _container_port(gateway, probe["port"]) == cfg.server.port, kind

    annotations = k8s["Deployment"]["spec"]["template"]["metadata"]["annotations"]
    assert annotations["prometheus.io/scrape"] == "true"
    assert int(annotations["prometheus.io/port"]) == cfg.admin.port
    assert annotations["prometheus.io/path"] == "/metrics"
    assert cfg.admin.host == "0.0.0.0", "Prometheus scrapes the pod IP"

    # The frontend calls the gateway on the pod's loopback, on its port.
    frontend = _container(k8s, "frontend")
    urls = [urlsplit(e["value"]) for e in frontend["env"] if "://" in str(e.get("value"))]
    assert urls, "the frontend's gateway URL"
    for url in urls:
        assert (url.hostname, url.port) == ("127.0.0.1", cfg.server.port), url.geturl()
    # The Service sends guests to the frontend, never straight to the gateway.
    for port in k8s["Service"]["spec"]["ports"]:
        assert _container_port(frontend, port["targetPort"]) not in declared
    selector = k8s["Service"]["spec"]["selector"]
    assert selector.items() <= k8s["Deployment"]["spec"]["template"]["metadata"]["labels"].items()


def test_k8s_termination_period_covers_grace_and_drain(k8s: dict[str, dict[str, Any]]) -> None:
    env, toml_text = _pod_values(k8s), _gateway_toml(k8s)
    needed = _shutdown_budget(env, toml_text)
    period = _pod(k8s)["terminationGracePeriodSeconds"]
    assert period >= needed, f"terminationGracePeriodSeconds {period} < grace + drain + margin"
    # The frontend's preStop wait ends while the gateway still listens.
    grace = float(_effective("server.shutdown_grace", env, toml_text))
    pre_stop = _container(k8s, "frontend")["lifecycle"]["preStop"]["exec"]["command"]
    assert pre_stop[0] == "sleep"
    assert float(pre_stop[1]) < grace, "the frontend outlives the gateway's listener"


def test_k8s_pod_runs_as_the_image_user_with_limits(k8s: dict[str, dict[str, Any]]) -> None:
    uid, _, gid = stages()[-1].one("USER").args.partition(":")
    security = _pod(k8s)["securityContext"]
    assert security["runAsNonRoot"] is True
    assert (security["runAsUser"], security["runAsGroup"]) == (int(uid), int(gid))
    gateway = _container(k8s, "loyalty-gateway")
    assert gateway["securityContext"]["readOnlyRootFilesystem"] is True
    assert gateway["securityContext"]["allowPrivilegeEscalation"] is False
    volumes = {v["name"]: v for v in _pod(k8s)["volumes"]}
    tmp = [m for m in gateway["volumeMounts"] if m["mountPath"] == "/tmp"]
    assert tmp, "a writable /tmp (workers' metrics) under a read-only root"
    assert "emptyDir" in volumes[tmp[0]["name"]]
    for container in _pod(k8s)["containers"]:
        resources = container["resources"]
        assert {"cpu", "memory"} <= set(resources["requests"]), container["name"]
        assert "memory" in resources["limits"], container["name"]
    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    assert gateway["image"].endswith(f"/loyalty-gateway:{version}"), gateway["image"]


# ------------------------------------------------------------------------------- compose


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    doc: dict[str, Any] = yaml.safe_load(COMPOSE.read_text())
    assert set(doc["services"]) == {"gateway", "redis", "prometheus", "grafana"}
    return doc


def _resolve(value: str) -> str:
    """Compose interpolation: `${X:-default}` is its default, `${X:?error}` and `${X}` a
    valid dummy (the value lives in .env)."""

    def one(m: re.Match[str]) -> str:
        name, op, arg = m.group(1), m.group(2) or "", m.group(3) or ""
        return arg if op in ("-", ":-") else _dummy(name)

    return INTERPOLATION.sub(one, value)


def _mounts(service: dict[str, Any]) -> dict[str, Path]:
    """Container path -> host path of a service's bind mounts (short syntax)."""
    mounts: dict[str, Path] = {}
    for volume in service.get("volumes", []):
        source, target, *_ = volume.split(":")
        assert source.startswith("."), f"a bind mount relative to the compose file: {volume}"
        mounts[target] = (COMPOSE_DIR / source).resolve()
    return mounts


def _compose_secret_files(doc: dict[str, Any], service: dict[str, Any]) -> dict[str, str]:
    """Container path -> name of each compose secret the service lists (short or long
    syntax; Docker mounts it at /run/secrets/<target>), each declared at the top level with
    a file in a folder deploy/compose/.gitignore ignores."""
    declared = doc.get("secrets", {})
    ignored = _ignored_dirs()
    files: dict[str, str] = {}
    for entry in service.get("secrets", []):
        source = entry if isinstance(entry, str) else entry["source"]
        target = source if isinstance(entry, str) else entry.get("target", source)
        assert source in declared, f"secret {source}: not declared under the top-level secrets"
        assert set(declared[source]) == {"file"}, f"secret {source}: not from a file"
        host = (COMPOSE_DIR / declared[source]["file"]).resolve()
        assert any(host.is_relative_to(d) for d in ignored), f"secret {source}: {host} not ignored"
        files[target if target.startswith("/") else f"/run/secrets/{target}"] = source
    return files


def _check_compose_secrets(doc: dict[str, Any], name: str) -> None:
    """A service's secret settings: each `_FILE` names a compose secret it lists, and each
    secret it lists is read; a secret setting itself only as a Redis URL written out with
    no password (no value from .env)."""
    service = doc["services"][name]
    files = _compose_secret_files(doc, service)
    read: list[str] = []
    for variable, value in service["environment"].items():
        text = str(value)
        if variable in FILE_ENV:
            assert text in files, f"{name}: {variable} = {text}: not a secret it lists {files}"
            read.append(files[text])
        elif variable in SECRET_ENV:
            # A Redis URL is a secret because it may carry a password; one without may stay.
            use = f"{name}: {variable} in the environment: use {variable}{FILE_SUFFIX}"
            assert variable in URL_ENV, use
            assert "$" not in text, f"{use} (not a value from .env)"
            assert "@" not in urlsplit(text).netloc, f"{use} (credentials in the URL)"
    assert sorted(read) == sorted(files.values()), f"{name}: secrets listed, not read: {files}"


def _service_values(service: dict[str, Any]) -> dict[str, str]:
    """A service's environment over the image's, interpolated, as written."""
    env = _image_env()
    env.update({k: _resolve(str(v)) for k, v in service["environment"].items()})
    return env


def _service_env(doc: dict[str, Any], service: dict[str, Any], tmp_path: Path) -> dict[str, str]:
    """A service's environment, each secret a dummy file at its mounted path (under
    tmp_path) that the `_FILE` variable names."""
    return _with_secret_files(
        _service_values(service), _compose_secret_files(doc, service), tmp_path
    )


def _compose_env(compose: dict[str, Any], tmp_path: Path) -> dict[str, str]:
    return _service_env(compose, compose["services"]["gateway"], tmp_path)


def _compose_toml(compose: dict[str, Any]) -> str:
    env = _service_values(compose["services"]["gateway"])
    host = _mounts(compose["services"]["gateway"]).get(env["GATEWAY_CONFIG"])
    assert host is not None, f"nothing mounted at GATEWAY_CONFIG ({env['GATEWAY_CONFIG']})"
    return host.read_text()


def test_compose_gateway_variables_are_real(compose: dict[str, Any]) -> None:
    environment = compose["services"]["gateway"]["environment"]
    assert isinstance(environment, dict), "environment as a mapping"
    assert set(environment) <= KNOWN_ENV, f"not gateway variables: {set(environment) - KNOWN_ENV}"
    text = COMPOSE.read_text()
    interpolated = {m.group(1) for m in INTERPOLATION.finditer(text)}
    assert interpolated <= KNOWN_ENV, interpolated - KNOWN_ENV
    required = {m.group(1) for m in INTERPOLATION.finditer(text) if m.group(2) == ":?"}
    example = ENV_EXAMPLE.read_text()
    listed = set(re.findall(r"^#?\s*([A-Z][A-Z0-9_]*)=", example, re.MULTILINE))
    assert listed <= interpolated, (
        f".env.example names what compose never reads: {listed - interpolated}"
    )
    set_in_example = set(re.findall(r"^([A-Z][A-Z0-9_]*)=", example, re.MULTILINE))
    assert required <= set_in_example, (
        f"required but not in .env.example: {required - set_in_example}"
    )
    secrets = listed & (SECRET_ENV | FILE_ENV)
    assert not secrets, f".env.example asks for secrets, which are files: {secrets}"


def test_compose_secrets_are_files(compose: dict[str, Any]) -> None:
    _check_compose_secrets(compose, "gateway")
    assert compose["services"]["gateway"]["secrets"], "the gateway reads no secret file"
    for name, service in compose["services"].items():
        if name != "gateway":
            assert not service.get("secrets"), f"{name}: given the gateway's secrets"


def test_compose_configuration_loads_and_ports_match(
    compose: dict[str, Any], tmp_path: Path
) -> None:
    env = _compose_env(compose, tmp_path)
    cfg = _load(_compose_toml(compose), env, tmp_path)
    assert cfg.store.backend == "redis"
    store = urlsplit(cfg.store.url.reveal())
    assert store.hostname in compose["services"], f"Redis at {store.hostname}: not a service"
    gateway = compose["services"]["gateway"]
    published = {int(str(p).rsplit(":", 1)[1]) for p in gateway["ports"]}
    assert published == {cfg.server.port, cfg.admin.port}, published
    for port in gateway["ports"]:
        assert str(port).startswith("127.0.0.1:"), f"published beyond the loopback: {port}"
    assert cfg.admin.host == "0.0.0.0", "Prometheus reaches the admin port over the network"
    assert (COMPOSE_DIR / gateway["build"]["context"]).resolve() == ROOT
    assert (ROOT / gateway["build"]["dockerfile"]).is_file()
    for service in compose["services"].values():
        for target, host in _mounts(service).items():
            assert host.exists(), f"{host} (mounted at {target}) does not exist"


def test_compose_stop_grace_period_covers_grace_and_drain(compose: dict[str, Any]) -> None:
    needed = _shutdown_budget(
        _service_values(compose["services"]["gateway"]), _compose_toml(compose)
    )
    period = _duration(compose["services"]["gateway"]["stop_grace_period"])
    assert period >= needed, f"stop_grace_period {period}s < grace + drain + margin ({needed}s)"


def test_compose_prometheus_scrapes_the_gateway_admin_port(
    compose: dict[str, Any], tmp_path: Path
) -> None:
    cfg = _load(_compose_toml(compose), _compose_env(compose, tmp_path), tmp_path)
    mounts = _mounts(compose["services"]["prometheus"])
    config_file = mounts["/etc/prometheus/prometheus.yml"]
    assert config_file == (COMPOSE_DIR / "prometheus.yml").resolve()
    config = yaml.safe_load(config_file.read_text())
    (job,) = config["scrape_configs"]
    alerts = (GRAFANA / "alerts.yml").read_text()
    assert f'job="{job["job_name"]}"' in alerts, "the alert rules' job name"
    assert job.get("metrics_path", "/metrics") == "/metrics"
    targets = [t for sc in job["static_configs"] for t in sc["targets"]]
    assert targets == [f"gateway:{cfg.admin.port}"], targets
    for rule_file in config["rule_files"]:
        target = str(Path("/etc/prometheus") / rule_file)
        assert target in mounts, f"rule file {rule_file} is not mounted"
        assert mounts[target] == (GRAFANA / "alerts.yml").resolve()
    # The shipped configuration and this one differ only in their targets.
    shipped = yaml.safe_load((GRAFANA / "prometheus.yml").read_text())
    assert shipped["global"] == config["global"]
    assert shipped["rule_files"] == config["rule_files"]

    # promtool (Debian's `prometheus`, as tests/observability installs it).
    done = subprocess.run(
        ["bash", str(ENSURE_APT), "prometheus:prometheus,promtool"],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    promtool = shutil.which("promtool")
    assert done.returncode == 0, done.stderr
    assert promtool is not None
    for target, host in mounts.items():
        (tmp_path / Path(target).name).write_bytes(host.read_bytes())
    check = subprocess.run(
        [promtool, "check", "config", str(tmp_path / "prometheus.yml")],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert check.returncode == 0, f"{check.stdout}\n{check.stderr}"


def test_compose_grafana_is_provisioned_from_grafana(compose: dict[str, Any]) -> None:
    mounts = _mounts(compose["services"]["grafana"])
    provisioning = Path("/etc/grafana/provisioning")
    assert mounts[str(provisioning / "dashboards")] == (GRAFANA / "provisioning/dashboards")
    provider_file = next((GRAFANA / "provisioning/dashboards").glob("*.yml"))
    (provider,) = yaml.safe_load(provider_file.read_text())["providers"]
    assert mounts[provider["options"]["path"]] == GRAFANA / "dashboards"

    datasources = [h for t, h in mounts.items() if t.startswith(str(provisioning / "datasources"))]
    (datasource_file,) = datasources
    (source,) = yaml.safe_load(datasource_file.read_text())["datasources"]
    (shipped,) = yaml.safe_load((GRAFANA / "provisioning/datasources/prometheus.yml").read_text())[
        "datasources"
    ]
    assert {k: v for k, v in source.items() if k != "url"} == {
        k: v for k, v in shipped.items() if k != "url"
    }, "the compose datasource is the shipped one but for its URL"
    url = urlsplit(source["url"])
    assert url.hostname == "prometheus"
    assert url.hostname in compose["services"]
    assert url.port == 9090
    dashboard = json.loads((GRAFANA / "dashboards" / "loyalty-gateway.json").read_text())
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    assert variables["DS_PROMETHEUS"]["current"]["value"] == source["uid"]
    scrape = yaml.safe_load((COMPOSE_DIR / "prometheus.yml").read_text())["global"]
    assert source["jsonData"]["timeInterval"] == scrape["scrape_interval"]


# ----------------------------------------------------------------------------- all files


def test_every_variable_named_under_deploy_is_real() -> None:
    for path in _deploy_files():
        names = set(GATEWAY_ENV.findall(path.read_text()))
        unknown = names - KNOWN_ENV
        assert not unknown, f"{path.relative_to(ROOT)} names unknown variables: {unknown}"


def test_every_metric_named_under_deploy_or_loaded_by_prometheus_is_exposed() -> None:
    exposed = exposed_names()
    files = [*_deploy_files(), GRAFANA / "alerts.yml"]
    seen: set[str] = set()
    for path in files:
        names = set(METRIC.findall(path.read_text()))
        seen |= names
        unknown = names - exposed
        assert not unknown, f"{path.relative_to(ROOT)} names metrics nobody exposes: {unknown}"
    assert seen, "no metric named at all: is the pattern right?"


def test_k8s_trusts_only_the_frontend_next_door(
    k8s: dict[str, dict[str, Any]], tmp_path: Path
) -> None:
    """Issue 15, finding 9: the frontend calls over 127.0.0.1; trusting the pod network
    (10.0.0.0/8) let anything in the cluster name any client IP and a fresh budget."""
    cfg = _load(_gateway_toml(k8s), _pod_env(k8s, tmp_path), tmp_path)
    trusted = list(cfg.server.trusted_proxies)
    assert trusted, "the frontend's X-Forwarded-For must be believed"
    assert all(n.is_loopback and n.num_addresses == 1 for n in trusted), trusted


# ---------------------------------------------------------------------- compose: Sentinel

COMPOSE_SENTINEL = COMPOSE_DIR / "compose.sentinel.yaml"
SENTINEL_CONF = COMPOSE_DIR / "sentinel.conf"


@pytest.fixture(scope="module")
def sentinel_compose() -> dict[str, Any]:
    doc: dict[str, Any] = yaml.safe_load(COMPOSE_SENTINEL.read_text())
    assert {"gateway-1", "gateway-2", "redis-master", "redis-replica", "sandbox"} <= set(
        doc["services"]
    )
    return doc


def _gateways(doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {name: s for name, s in doc["services"].items() if name.startswith("gateway-")}


def test_sentinel_compose_gateways_load_and_follow_the_sentinels(
    sentinel_compose: dict[str, Any], tmp_path: Path
) -> None:
    """Each gateway's configuration loads as `check-config` reads it; its store URL names
    the compose file's own sentinels and the service sentinel.conf monitors, whose master
    is a service too; session writes wait for the replica; the grace period covers the
    shutdown."""
    from gateway.store import urls as redis_urls

    services = sentinel_compose["services"]
    monitored = re.search(
        r"^sentinel monitor (\S+) (\S+) (\d+) (\d+)$", SENTINEL_CONF.read_text(), re.MULTILINE
    )
    assert monitored is not None, "sentinel.conf monitors no master"
    service, master = monitored.group(1), monitored.group(2)
    assert master in services, f"sentinel.conf monitors {master}: not a service"
    gateways = _gateways(sentinel_compose)
    assert len(gateways) >= 2
    for name, gateway in gateways.items():
        environment = gateway["environment"]
        assert set(environment) <= KNOWN_ENV, set(environment) - KNOWN_ENV
        _check_compose_secrets(sentinel_compose, name)
        env = _service_env(sentinel_compose, gateway, tmp_path)
        toml_text = _mounts(gateway)[env["GATEWAY_CONFIG"]].read_text()
        cfg = _load(toml_text, env, tmp_path)
        address = redis_urls.parse(cfg.store.url.reveal())
        assert address.kind == "sentinel"
        assert address.service == service
        assert all(host in services for host, _ in address.hosts), address
        assert cfg.store.replicas_to_wait == 1
        period = _duration(gateway["stop_grace_period"])
        assert period >= _shutdown_budget(env, toml_text)


def test_sentinel_compose_sandbox_serves_the_gateways_client(
    sentinel_compose: dict[str, Any],
) -> None:
    """The sandbox knows the gateways' default client: the same client id, the client
    secret from the same compose secret (no dummy secret written out); and it runs without
    the image's TOML file, with which `loyalty-gateway sandbox` would load the whole gateway
    configuration (and stop for want of a session secret)."""
    sandbox = sentinel_compose["services"]["sandbox"]
    assert set(sandbox["environment"]) <= KNOWN_ENV, set(sandbox["environment"]) - KNOWN_ENV
    _check_compose_secrets(sentinel_compose, "sandbox")
    own = _service_values(sandbox)
    assert not own.get("GATEWAY_CONFIG"), "the sandbox would need the gateway's secrets"
    own_files = _compose_secret_files(sentinel_compose, sandbox)
    for name, gateway in _gateways(sentinel_compose).items():
        env = _service_values(gateway)
        assert env["PUNCHH_CLIENT_ID"] == own["PUNCHH_CLIENT_ID"], name
        files = _compose_secret_files(sentinel_compose, gateway)
        variable = "PUNCHH_CLIENT_SECRET" + FILE_SUFFIX
        assert files[env[variable]] == own_files[own[variable]], f"{name}: another secret"
