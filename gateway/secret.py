"""A string that never shows itself: masked in repr, str, logs and error messages."""

from __future__ import annotations


class Secret:
    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def encode(self) -> bytes:
        return self._value.encode("utf-8")

    def __bool__(self) -> bool:
        return bool(self._value)

    def __len__(self) -> int:
        return len(self._value)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)

    def __repr__(self) -> str:
        return "Secret('********')" if self._value else "Secret('')"

    __str__ = __repr__


def mask(value: object) -> str:
    """How a secret value appears in a configuration error: its length, nothing else."""
    if isinstance(value, Secret):
        value = value.reveal()
    if not value:
        return "<empty>"
    return f"<secret, {len(str(value))} chars>"
