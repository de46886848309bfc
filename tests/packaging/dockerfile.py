"""A small Dockerfile reader: stages of instructions, continuation lines joined, comments
dropped; ENV, COPY, JSON (exec-form) arguments and HEALTHCHECK parsed. Enough for the
repository's own Dockerfile, which the tests replay without a Docker engine."""

from __future__ import annotations

import json
import shlex
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "Dockerfile"


@dataclass(frozen=True)
class Instruction:
    keyword: str  # upper case
    args: str
    line: int


@dataclass
class Stage:
    base: str
    name: str | None
    instructions: list[Instruction] = field(default_factory=list)

    def all(self, keyword: str) -> list[Instruction]:
        return [i for i in self.instructions if i.keyword == keyword]

    def one(self, keyword: str) -> Instruction:
        found = self.all(keyword)
        assert len(found) == 1, f"expected one {keyword} in the stage FROM {self.base}: {found}"
        return found[0]

    def env(self) -> dict[str, str]:
        """The stage's ENV, in order (`$NAME` of earlier ones is not expanded here)."""
        values: dict[str, str] = {}
        for i in self.all("ENV"):
            values.update(parse_env(i.args))
        return values


@dataclass(frozen=True)
class Copy:
    sources: list[str]
    dest: str
    from_stage: str | None


def instructions(text: str) -> list[Instruction]:
    result: list[Instruction] = []
    pending: list[str] = []
    start = 0
    for number, raw in enumerate(text.splitlines(), 1):
        stripped = raw.strip()
        if not pending and (not stripped or stripped.startswith("#")):
            continue
        if pending and stripped.startswith("#"):
            continue  # a comment inside a continued instruction
        if not pending:
            start = number
        if stripped.endswith("\\"):
            pending.append(stripped[:-1].strip())
            continue
        pending.append(stripped)
        keyword, _, args = " ".join(p for p in pending if p).partition(" ")
        result.append(Instruction(keyword.upper(), args.strip(), start))
        pending = []
    assert not pending, "the Dockerfile ends inside a continued instruction"
    return result


def stages(path: Path = DOCKERFILE) -> list[Stage]:
    found: list[Stage] = []
    for ins in instructions(path.read_text()):
        if ins.keyword == "FROM":
            words = ins.args.split()
            name = words[2] if len(words) == 3 and words[1].upper() == "AS" else None
            found.append(Stage(words[0], name))
        else:
            assert found, f"line {ins.line}: {ins.keyword} before FROM"
            found[-1].instructions.append(ins)
    return found


def parse_env(args: str) -> dict[str, str]:
    words = shlex.split(args)
    assert all("=" in w for w in words), f"ENV in the legacy `ENV key value` form: {args}"
    return dict(w.split("=", 1) for w in words)


def parse_copy(args: str) -> Copy:
    words = args.split()
    flags = [w for w in words if w.startswith("--")]
    paths = [w for w in words if not w.startswith("--")]
    from_stage = next((f.split("=", 1)[1] for f in flags if f.startswith("--from=")), None)
    return Copy(paths[:-1], paths[-1], from_stage)


def exec_form(args: str) -> list[str]:
    value = json.loads(args)
    assert isinstance(value, list), f"not the exec (JSON) form: {args}"
    assert all(isinstance(v, str) for v in value), f"not the exec (JSON) form: {args}"
    return [str(v) for v in value]


def healthcheck(stage: Stage) -> tuple[dict[str, str], list[str]]:
    """HEALTHCHECK's options and its CMD (exec form)."""
    args = stage.one("HEALTHCHECK").args
    options: dict[str, str] = {}
    rest = args
    while rest.startswith("--"):
        option, _, rest = rest.partition(" ")
        key, _, value = option[2:].partition("=")
        options[key] = value
        rest = rest.strip()
    keyword, _, command = rest.partition(" ")
    assert keyword.upper() == "CMD", f"HEALTHCHECK without CMD: {args}"
    return options, exec_form(command.strip())


def duration_seconds(text: str) -> float:
    units = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}
    for unit in sorted(units, key=len, reverse=True):
        if text.endswith(unit):
            return float(text[: -len(unit)]) * units[unit]
    raise AssertionError(f"not a duration: {text!r}")
