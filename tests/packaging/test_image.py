"""The container image's Python environment, built the way the Dockerfile builds it, without
a Docker engine: the build stage's COPY lines copy the same files into a scratch root, its
RUN lines run as written (a fresh venv, the same pip command) with the container paths
(/opt/venv, /src, /etc/loyalty-gateway) moved under that root, and the final stage's
COPY, ENV, ENTRYPOINT, CMD and HEALTHCHECK start and probe the gateway from the result.

Only the listening address (127.0.0.1 and a free port), the embedded sandbox (no Punchh)
and a session secret are added to the image's environment. What is not replayed: the
base image itself (this machine's Python of the same minor version stands in for it,
checked in test_dockerfile.py) and the user switch (the tests run as root; the files'
modes are checked instead).
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import stat
import subprocess
import sys
import time
import tomllib
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from prometheus_client.parser import text_string_to_metric_families

from gateway.docgen import metric_docs
from tests.conftest import ADMIN, ADMIN_TOKEN
from tests.packaging.dockerfile import (
    ROOT,
    Stage,
    exec_form,
    healthcheck,
    parse_copy,
    parse_env,
    stages,
)
from tests.support.process import free_port

SESSION_SECRET = "image-test-session-secret-" + "s" * 24
# The PATH of the python images (what `$PATH` is in the final stage's ENV).
IMAGE_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
# The shutdown takes server.shutdown_grace + server.drain_timeout at most (28 s by default);
# with nothing in flight it is the grace alone.
STOP_TIMEOUT = 40.0


def _normal(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


@dataclass
class Image:
    root: Path  # the scratch root: container path /x is root/x
    prefixes: list[str]  # the container paths moved under root
    final: Stage

    def path(self, container_path: str) -> Path:
        return self.root / container_path.lstrip("/")

    def remap(self, text: str) -> str:
        """A container path (and only a whole one) in `text` moved under the root."""
        for prefix in self.prefixes:
            pattern = rf"(?<![\w./-]){re.escape(prefix)}(?![\w.-])"
            text = re.sub(pattern, str(self.path(prefix)), text)
        return text

    @property
    def venv(self) -> Path:
        (venv,) = (
            parse_copy(c.args).dest
            for c in self.final.all("COPY")
            if parse_copy(c.args).from_stage is not None
        )
        return self.path(venv)


def _copy(src: Path, dest: Path) -> None:
    if src.is_dir():
        shutil.copytree(src, dest, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    else:
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(src, dest)


def _replay_copy(args: str, workdir: str, image: Image) -> None:
    copy = parse_copy(args)
    assert copy.from_stage is None, f"a COPY --from in the build stage: {args}"
    dest = copy.dest if copy.dest.startswith("/") else f"{workdir}/{copy.dest}"
    for source in copy.sources:
        src = ROOT / source
        assert src.exists(), f"COPY {source}: not in the repository"
        if copy.dest.endswith("/") or copy.dest == ".":
            _copy(src, image.path(dest.rstrip("/") + "/" + src.name))
        else:
            _copy(src, image.path(dest))


def _build_env() -> dict[str, str]:
    """This machine's environment as a build stage's RUN sees it: `python` is the base
    interpreter (as in the python image), never the project's .venv."""
    base_bin = Path(sys.base_prefix) / "bin"
    assert (base_bin / "python").exists(), f"no `python` in {base_bin}"
    dev_bin = str(Path(sys.prefix) / "bin")
    path = [p for p in os.environ.get("PATH", "").split(os.pathsep) if p and p != dev_bin]
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP")
        and not k.startswith(("GATEWAY_", "PUNCHH_"))
    }
    env["PATH"] = os.pathsep.join([str(base_bin), *path])
    return env


@pytest.fixture(scope="module")
def image(tmp_path_factory: pytest.TempPathFactory) -> Image:
    build, final = stages()
    root = tmp_path_factory.mktemp("image-root")
    prefixes = {i.args for s in (build, final) for i in s.all("WORKDIR")}
    for stage in (build, final):
        for c in stage.all("COPY"):
            copy = parse_copy(c.args)
            if copy.from_stage:
                prefixes.update([*copy.sources, copy.dest])
            elif copy.dest.startswith("/"):
                one_file = len(copy.sources) == 1 and (ROOT / copy.sources[0]).is_file()
                prefixes.add(str(Path(copy.dest).parent) if one_file else copy.dest)
    prefixes.discard("/")
    img = Image(root, sorted(prefixes, key=len, reverse=True), final)

    workdir = "/"
    env = _build_env()
    started = time.monotonic()
    for ins in build.instructions:
        if ins.keyword == "WORKDIR":
            workdir = ins.args
            img.path(workdir).mkdir(parents=True, exist_ok=True)
        elif ins.keyword == "ENV":
            env.update({k: img.remap(v) for k, v in parse_env(ins.args).items()})
        elif ins.keyword == "COPY":
            _replay_copy(ins.args, workdir, img)
        elif ins.keyword == "RUN":
            command = img.remap(ins.args)
            done = subprocess.run(
                ["/bin/sh", "-c", command],
                cwd=img.path(workdir),
                env=env,
                capture_output=True,
                text=True,
                timeout=600,
                check=False,
            )
            assert done.returncode == 0, (
                f"Dockerfile line {ins.line}: RUN {ins.args}\n(as {command})\n"
                f"{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
            )
        else:
            raise AssertionError(f"line {ins.line}: {ins.keyword} in the build stage: replay it")
    print(f"image venv built in {time.monotonic() - started:.1f}s")

    for c in final.all("COPY"):
        copy = parse_copy(c.args)
        if copy.from_stage is None:
            for source in copy.sources:
                _copy(ROOT / source, img.path(copy.dest))
    return img


def _runtime_env(img: Image, port: int) -> dict[str, str]:
    env = {"LANG": "C.UTF-8", "PATH": IMAGE_PATH}
    for key, value in img.final.env().items():
        env[key] = img.remap(value).replace("$PATH", env.get("PATH", ""))
    env.update(
        GATEWAY_HOST="127.0.0.1",
        GATEWAY_PORT=str(port),
        GATEWAY_SANDBOX="1",
        GATEWAY_SESSION_SECRET=SESSION_SECRET,
        GATEWAY_ADMIN_TOKEN=ADMIN_TOKEN,
    )
    return env


def _get(url: str, headers: dict[str, str] | None = None) -> tuple[int, str]:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        request = urllib.request.Request(url, headers=headers or {})  # noqa: S310 (http only)
        with opener.open(request, timeout=5) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


@dataclass
class Running:
    proc: subprocess.Popen[bytes]
    url: str
    log: Path

    def logs(self) -> str:
        return self.log.read_text()


@pytest.fixture
def running(image: Image, tmp_path: Path) -> Iterator[Running]:
    port = free_port()
    env = _runtime_env(image, port)
    argv = [image.remap(a) for a in exec_form(image.final.one("ENTRYPOINT").args)]
    argv += [image.remap(a) for a in exec_form(image.final.one("CMD").args)]
    cwd = tmp_path / "cwd"  # not the repository: nothing may be imported from the work tree
    cwd.mkdir()
    log = tmp_path / "gateway.log"
    with log.open("wb") as sink:
        proc = subprocess.Popen(argv, env=env, cwd=cwd, stdout=sink, stderr=subprocess.STDOUT)
    gw = Running(proc, f"http://127.0.0.1:{port}", log)
    try:
        deadline = time.monotonic() + 30
        while True:
            assert proc.poll() is None, f"the gateway exited {proc.returncode}:\n{gw.logs()}"
            try:
                if _get(gw.url + "/readyz")[0] == 200:
                    break
            except OSError:
                pass
            assert time.monotonic() < deadline, f"not ready in 30 s:\n{gw.logs()}"
            time.sleep(0.05)
        yield gw
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def _healthcheck(img: Image, port: int) -> subprocess.CompletedProcess[str]:
    _options, command = healthcheck(img.final)
    argv = [img.remap(a) for a in command]
    return subprocess.run(
        argv,
        env=_runtime_env(img, port),
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


def test_the_gateway_starts_from_the_image_serves_its_probes_and_stops_on_sigterm(
    image: Image, running: Running
) -> None:
    status, body = _get(running.url + "/healthz")
    assert status == 200, body
    status, body = _get(running.url + "/readyz")
    assert status == 200, body
    port = int(running.url.rsplit(":", 1)[1])
    check = _healthcheck(image, port)
    assert check.returncode == 0, f"HEALTHCHECK failed:\n{check.stdout}\n{check.stderr}"

    # uvloop runs the event loop, as the image's GATEWAY_EVENT_LOOP says.
    logs = running.logs()
    assert '"event_loop": "uvloop"' in logs, logs

    # Its /metrics shows exactly the metrics the operator docs list (docs/operators/metrics.md).
    status, text = _get(running.url + "/metrics", ADMIN)
    assert status == 200, text
    real = {f.name for f in text_string_to_metric_families(text) if not f.name.endswith("_created")}
    documented = {d.family for d in metric_docs()}
    assert real == documented, (
        f"only served: {real - documented}; only documented: {documented - real}"
    )

    started = time.monotonic()
    running.proc.send_signal(signal.SIGTERM)
    try:
        code = running.proc.wait(timeout=STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        raise AssertionError(
            f"still running {STOP_TIMEOUT}s after SIGTERM:\n{running.logs()}"
        ) from None
    assert code == 0, f"exit code {code} after SIGTERM:\n{running.logs()}"
    print(f"stopped {time.monotonic() - started:.1f}s after SIGTERM")

    # The HEALTHCHECK really checks: with the gateway gone it fails.
    assert _healthcheck(image, port).returncode != 0


def test_the_gateway_is_imported_from_the_image_venv(image: Image, tmp_path: Path) -> None:
    python = image.venv / "bin" / "python"
    done = subprocess.run(
        [str(python), "-c", "import gateway, sandbox, middleware; print(gateway.__file__)"],
        cwd=tmp_path,
        env={"PATH": IMAGE_PATH, "LANG": "C.UTF-8"},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert done.stdout.strip().startswith(str(image.venv)), done.stdout
    templates = list((image.venv / "lib").glob("python3.*/site-packages/gateway/templates/*.html"))
    assert templates, "the status page's templates are not in the installed package"


def test_the_image_venv_holds_the_runtime_dependencies_only(image: Image, tmp_path: Path) -> None:
    python = image.venv / "bin" / "python"
    done = subprocess.run(
        [
            str(python),
            "-c",
            "import importlib.metadata as m\nfor d in m.distributions(): print(d.metadata['Name'])",
        ],
        cwd=tmp_path,
        env={"PATH": IMAGE_PATH, "LANG": "C.UTF-8"},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    installed = {_normal(n) for n in done.stdout.split()}
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    runtime = {_normal(Requirement(r).name) for r in project["dependencies"]}
    extras = {
        _normal(Requirement(r).name)
        for reqs in project["optional-dependencies"].values()
        for r in reqs
    }
    assert runtime <= installed, f"runtime dependencies missing: {runtime - installed}"
    # The image installs the `tracing` extra too (off until configured), and what it brings.
    tracing = {_normal(Requirement(r).name) for r in project["optional-dependencies"]["tracing"]}
    assert tracing <= installed, f"tracing packages missing: {tracing - installed}"
    brought = {"opentelemetry-proto"}  # the exporter's; in the dev extra for the tests' receiver
    unwanted = (extras - runtime - tracing - brought) | {"pip", "setuptools", "wheel"}
    assert not installed & unwanted, f"not runtime dependencies: {installed & unwanted}"
    assert _normal(project["name"]) in installed


def test_the_unprivileged_user_can_read_and_run_everything_in_the_venv(image: Image) -> None:
    """The image copies the venv as root and runs as uid 10001: every file must be
    readable by others, every directory and script enterable/executable."""
    bad: list[str] = []
    for path in [image.venv, *image.venv.rglob("*")]:
        if path.is_symlink():
            continue
        mode = path.stat().st_mode
        runs = path.is_dir() or (path.parent.name == "bin" and path.read_bytes()[:2] == b"#!")
        need = stat.S_IROTH | (stat.S_IXOTH if runs else 0)
        if mode & need != need:
            bad.append(f"{path.relative_to(image.root)} {stat.filemode(mode)}")
    assert not bad, "not readable by the image's user:\n" + "\n".join(bad[:20])
    config = image.path(image.final.env()["GATEWAY_CONFIG"])
    assert config.stat().st_mode & stat.S_IROTH, f"{config} is not readable by others"
