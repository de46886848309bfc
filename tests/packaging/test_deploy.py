"""deploy/: the Kubernetes and compose examples parse and reference only real things.

- Variables: every one set for the gateway (or named anywhere under deploy/) is a
  setting's environment variable (gateway/settings.py) or one the docs describe
  (gateway/docgen.py EXTRA_ENV); the configuration they make (the image's ENV, then the
  file's, then the mounted TOML) loads with `load_config`, as `check-config` would.
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

from gateway.config import SETTINGS, GatewayConfig, load_config
from gateway.docgen import EXTRA_ENV, exposed_names
from gateway.settings import Setting
from tests.packaging.dockerfile import ROOT, stages

DEPLOY = ROOT / "deploy"
K8S = DEPLOY / "kubernetes" / "loyalty-gateway.yaml"
COMPOSE_DIR = DEPLOY / "compose"
COMPOSE = COMPOSE_DIR / "compose.yaml"
ENV_EXAMPLE = COMPOSE_DIR / ".env.example"
GRAFANA = ROOT / "grafana"
ENSURE_APT = ROOT / "scripts" / "ensure-apt.sh"

# Seconds between the end of the drain and the kill, for the process to exit.
SHUTDOWN_MARGIN = 5.0
GATEWAY_ENV = re.compile(r"\b(?:GATEWAY|PUNCHH)_[A-Z0-9_]+\b")
METRIC = re.compile(r"\bloyalty_gateway_[a-z0-9_]+\b")
INTERPOLATION = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])([^}]*))?\}")
KNOWN_ENV = {s.env for s in SETTINGS if s.env} | set(EXTRA_ENV)


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
    urls = {"GATEWAY_STORE_URL", "GATEWAY_CACHE_URL", "GATEWAY_RATE_LIMIT_URL"}
    return "redis://redis.invalid:6379/0" if name in urls else "d" * 48


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
    files = [p for p in DEPLOY.rglob("*") if p.is_file()]
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
    config_path = _pod_env(k8s).get("GATEWAY_CONFIG") or _image_env()["GATEWAY_CONFIG"]
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


def _pod_env(k8s: dict[str, dict[str, Any]]) -> dict[str, str]:
    """The gateway container's environment over the image's, secrets as valid dummies."""
    env = _image_env()
    for entry in _container(k8s, "loyalty-gateway").get("env", []):
        if "value" in entry:
            env[entry["name"]] = str(entry["value"])
        else:
            assert "secretKeyRef" in entry["valueFrom"], entry
            env[entry["name"]] = _dummy(entry["name"])
    return env


def _container_port(container: dict[str, Any], port: int | str) -> int:
    if isinstance(port, int):
        return port
    (number,) = [p["containerPort"] for p in container["ports"] if p["name"] == port]
    return int(number)


def test_k8s_gateway_variables_are_real_and_secrets_come_from_the_secret(
    k8s: dict[str, dict[str, Any]],
) -> None:
    entries = _container(k8s, "loyalty-gateway")["env"]
    names = [e["name"] for e in entries]
    assert len(names) == len(set(names)), "a variable set twice"
    assert set(names) <= KNOWN_ENV, f"not gateway variables: {set(names) - KNOWN_ENV}"
    # Secret settings (a Redis URL too: it may carry a password) come from the Secret,
    # whose keys the command at the top of the file creates.
    secret_env = {s.env for s in SETTINGS if s.secret and s.env}
    header = K8S.read_text().split("\napiVersion:", 1)[0]
    for e in entries:
        if e["name"] in secret_env or "valueFrom" in e:
            assert "value" not in e, f"{e['name']}: a secret written in the manifest"
            ref = e["valueFrom"]["secretKeyRef"]
            assert ref["name"] == "loyalty-gateway", e
            assert f"--from-literal={ref['key']}=" in header, f"the Secret's {ref['key']}"


def test_k8s_configuration_loads(k8s: dict[str, dict[str, Any]], tmp_path: Path) -> None:
    cfg = _load(_gateway_toml(k8s), _pod_env(k8s), tmp_path)
    assert cfg.store.backend == "redis", "several replicas need Redis stores"
    assert cfg.server.host == "0.0.0.0", "the kubelet probes the pod IP"
    assert not cfg.sandbox.enabled


def test_k8s_probes_ports_and_annotations_are_the_configured_ports(
    k8s: dict[str, dict[str, Any]], tmp_path: Path
) -> None:
    cfg = _load(_gateway_toml(k8s), _pod_env(k8s), tmp_path)
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
    env, toml_text = _pod_env(k8s), _gateway_toml(k8s)
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


def _compose_env(compose: dict[str, Any]) -> dict[str, str]:
    env = _image_env()
    env.update(
        {k: _resolve(str(v)) for k, v in compose["services"]["gateway"]["environment"].items()}
    )
    return env


def _compose_toml(compose: dict[str, Any]) -> str:
    env = _compose_env(compose)
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


def test_compose_configuration_loads_and_ports_match(
    compose: dict[str, Any], tmp_path: Path
) -> None:
    env = _compose_env(compose)
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
    needed = _shutdown_budget(_compose_env(compose), _compose_toml(compose))
    period = _duration(compose["services"]["gateway"]["stop_grace_period"])
    assert period >= needed, f"stop_grace_period {period}s < grace + drain + margin ({needed}s)"


def test_compose_prometheus_scrapes_the_gateway_admin_port(
    compose: dict[str, Any], tmp_path: Path
) -> None:
    cfg = _load(_compose_toml(compose), _compose_env(compose), tmp_path)
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
    cfg = _load(_gateway_toml(k8s), _pod_env(k8s), tmp_path)
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


def _gateways(doc: dict[str, Any]) -> list[dict[str, Any]]:
    return [s for name, s in doc["services"].items() if name.startswith("gateway-")]


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
    for gateway in gateways:
        environment = gateway["environment"]
        assert set(environment) <= KNOWN_ENV, set(environment) - KNOWN_ENV
        env = {**_image_env(), **{k: _resolve(str(v)) for k, v in environment.items()}}
        toml_text = _mounts(gateway)[env["GATEWAY_CONFIG"]].read_text()
        cfg = _load(toml_text, env, tmp_path)
        address = redis_urls.parse(cfg.store.url.reveal())
        assert address.kind == "sentinel"
        assert address.service == service
        assert all(host in services for host, _ in address.hosts), address
        assert cfg.store.replicas_to_wait == 1
        period = _duration(gateway["stop_grace_period"])
        assert period >= _shutdown_budget(env, toml_text)
