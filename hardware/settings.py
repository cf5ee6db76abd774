"""Introspectable device settings, listed and edited by the GUI and CLI without knowing a device."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .errors import SettingError

_TYPES: dict[str, type | tuple[type, ...]] = {
    "float": (int, float),
    "int": int,
    "bool": bool,
    "str": str,
}


@dataclass(frozen=True)
class Setting:
    """Description of one setting.

    ``kind`` is one of ``float``, ``int``, ``bool``, ``str``. ``minimum``/``maximum`` bound numeric
    values (inclusive, in ``unit``); ``choices`` restricts a value to a fixed set.
    """

    name: str
    kind: str
    unit: str = ""
    minimum: float | None = None
    maximum: float | None = None
    choices: tuple[Any, ...] | None = None
    read_only: bool = False
    description: str = ""

    def validate(self, value: Any, *, device: str = "device") -> Any:
        """Return ``value`` converted to the setting's type, or raise :class:`SettingError`."""
        if self.read_only:
            raise SettingError(f"{device}: setting {self.name!r} is read-only")
        expected = _TYPES[self.kind]
        if (isinstance(value, bool) and self.kind != "bool") or not isinstance(value, expected):
            raise SettingError(
                f"{device}: setting {self.name!r} takes a {self.kind}, got {value!r}"
            )
        if self.kind == "float":
            value = float(value)
        if self.choices is not None and value not in self.choices:
            raise SettingError(
                f"{device}: setting {self.name!r} must be one of {list(self.choices)}, "
                f"got {value!r}"
            )
        if self.minimum is not None and value < self.minimum:
            raise SettingError(
                f"{device}: setting {self.name!r} = {value} {self.unit} is below its minimum "
                f"{self.minimum} {self.unit}"
            )
        if self.maximum is not None and value > self.maximum:
            raise SettingError(
                f"{device}: setting {self.name!r} = {value} {self.unit} is above its maximum "
                f"{self.maximum} {self.unit}"
            )
        return value

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready description (for the control API)."""
        return {
            "name": self.name,
            "kind": self.kind,
            "unit": self.unit,
            "minimum": self.minimum,
            "maximum": self.maximum,
            "choices": list(self.choices) if self.choices is not None else None,
            "read_only": self.read_only,
            "description": self.description,
        }
