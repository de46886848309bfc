"""A configuration key is declared once, as the dataclass field it fills (config.py, and
the retry and circuit settings beside their code): `key(...)` gives the TOML key, its
parser, default, environment override, description and whether it is a secret.

The loader, `check-config`, the example-file check and the operator docs all read the
same declarations, through `settings_of`. Typed dataclasses with field metadata were
chosen over pydantic-settings (docs/configuration.md): the parsers and their error lines
stay ours, nothing is added to the runtime, and mypy sees every field's type.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import MISSING, dataclass, field, fields, is_dataclass
from typing import Any, get_type_hints

from gateway import parsers as p

SETTING = "loyalty_gateway.setting"  # the field metadata entry that holds the Setting

# Tables of tables, checked where they are read: pos.devices and businesses in config.py,
# rate_limit.policies in ratelimit/policies.py.
TABLE_KEYS = {"pos.devices", "rate_limit.policies", "businesses"}
# Keys whose value is a table (read whole by the key's parser, not as more keys).
TABLE_VALUED = {"cache.ttls"}


@dataclass(frozen=True)
class Setting:
    key: str
    parse: p.Parser
    default: Any
    doc: str
    env: str | None = None
    secret: bool = False
    to: Callable[[Any], Any] | None = None  # the parsed value as the field holds it


def key(
    name: str,
    parse: p.Parser,
    default: Any,
    doc: str,
    env: str | None = None,
    *,
    secret: bool = False,
    to: Callable[[Any], Any] | None = None,
) -> Any:
    """A dataclass field that is a configuration key (its value comes from the loader)."""
    setting = Setting(name, parse, default, doc, env, secret, to)
    return field(default=MISSING, metadata={SETTING: setting})


def settings_of(cls: type) -> tuple[Setting, ...]:
    """Every key declared in `cls` and the dataclasses it holds, in field order."""
    found: list[Setting] = []
    hints = get_type_hints(cls)
    for f in fields(cls):
        setting = f.metadata.get(SETTING)
        if setting is not None:
            found.append(setting)
        elif is_dataclass(hints[f.name]):
            found.extend(settings_of(hints[f.name]))
    return tuple(found)


def build(cls: type, values: dict[str, Any], given: dict[str, Any]) -> Any:
    """`cls` filled from the parsed values by key, its dataclass fields built the same way;
    fields that are not keys come from `given` ("Class.field") or their defaults."""
    hints = get_type_hints(cls)
    kwargs: dict[str, Any] = {}
    for f in fields(cls):
        setting = f.metadata.get(SETTING)
        if setting is not None:
            value = values[setting.key]
            kwargs[f.name] = setting.to(value) if setting.to else value
        elif f"{cls.__name__}.{f.name}" in given:
            kwargs[f.name] = given[f"{cls.__name__}.{f.name}"]
        elif is_dataclass(hints[f.name]):
            kwargs[f.name] = build(hints[f.name], values, given)
    return cls(**kwargs)
