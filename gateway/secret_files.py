"""Secrets from files (issue 19): every secret setting's variable has a `_FILE` variant
holding a path, as Kubernetes and Docker mount secrets (`GATEWAY_SESSION_SECRET_FILE=
/run/secrets/session-secret`).

`from_file` reads one: the file's text, one trailing newline stripped. Setting both the
variable and its `_FILE` is a problem, as is a file that cannot be read (the line names
the path and the reason, never the content), one larger than 64 KiB or not UTF-8 text.
"""

from __future__ import annotations

from collections.abc import Mapping

FILE_SUFFIX = "_FILE"
MAX_BYTES = 64 * 1024  # a secret, not a file mounted by mistake (/dev/zero...)


def from_file(env: Mapping[str, str], name: str, problems: list[str], key: str = "") -> str | None:
    """The value of the variable `name` read from the file `<name>_FILE` names; None when
    that is not set, or on a problem (appended to `problems`, starting with `key`, the
    setting's, so that no later check reports the same fault again)."""
    variable = name + FILE_SUFFIX
    path = env.get(variable)
    if path is None:
        return None
    lead = f"{key} " if key else ""
    if name in env:
        problems.append(
            f"{lead}({name} and {variable}): both set: expected one of them (the value, or "
            "the path of a file holding it)"
        )
        return None
    where = f"{lead}({variable}) = {path!r}"
    try:
        with open(path, "rb") as fh:
            data = fh.read(MAX_BYTES + 1)
    except OSError as exc:
        problems.append(f"{where}: cannot read: {exc.strerror or 'error'}")
        return None
    if len(data) > MAX_BYTES:
        problems.append(f"{where}: larger than 64 KiB: expected a secret")
        return None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        problems.append(f"{where}: not UTF-8 text")
        return None
    if text.endswith("\n"):  # one trailing newline, as `echo` and editors leave it
        text = text[:-2] if text.endswith("\r\n") else text[:-1]
    return text
