"""Declared, validated control commands.

Each command names its parameters with types and ranges; :meth:`CommandTable.validate` checks a
request's ``args`` against them before the handler runs, so a bad command changes nothing.
"""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from .protocol import CommandError

_JSON_TYPES: dict[str, tuple[type, ...]] = {
    "int": (int,),
    "float": (int, float),
    "bool": (bool,),
    "str": (str,),
    "list": (list,),
    "dict": (dict,),
    "any": (object,),
}


@dataclass(frozen=True)
class Param:
    """One command parameter; ``kind`` is a JSON type: int, float, bool, str, list, dict, any.

    ``unit`` (e.g. "nm", "mm", "s", "px") is the unit of a number and of ``minimum``/``maximum``.
    """

    name: str
    kind: str
    required: bool = True
    default: Any = None
    minimum: float | None = None
    maximum: float | None = None
    choices: tuple[Any, ...] | None = None
    help: str = ""
    unit: str = ""

    def check(self, command: str, value: Any) -> Any:
        expected = _JSON_TYPES[self.kind]
        if (isinstance(value, bool) and self.kind not in ("bool", "any")) or not isinstance(
            value, expected
        ):
            raise CommandError(
                "invalid_argument",
                f"{command}: argument {self.name!r} must be of type {self.kind}, got {value!r}",
            )
        if self.kind == "float":
            try:
                value = float(value)
            except OverflowError:  # an integer beyond the float range
                value = math.inf
            if not math.isfinite(value):
                raise CommandError(
                    "invalid_argument", f"{command}: argument {self.name!r} must be finite"
                )
        if self.choices is not None and value not in self.choices:
            raise CommandError(
                "invalid_argument",
                f"{command}: argument {self.name!r} must be one of {list(self.choices)}, "
                f"got {value!r}",
            )
        if self.minimum is not None and value < self.minimum:
            raise CommandError(
                "invalid_argument",
                f"{command}: argument {self.name!r} = {value} is below the minimum {self.minimum}",
            )
        if self.maximum is not None and value > self.maximum:
            raise CommandError(
                "invalid_argument",
                f"{command}: argument {self.name!r} = {value} is above the maximum {self.maximum}",
            )
        return value


Handler = Callable[..., Awaitable[Any]]


@dataclass(frozen=True)
class Command:
    name: str
    handler: Handler
    params: tuple[Param, ...]
    help: str


class CommandTable:
    """The commands a daemon accepts, with their parameters."""

    def __init__(self) -> None:
        self._commands: dict[str, Command] = {}

    def add(self, name: str, handler: Handler, *params: Param, help: str = "") -> None:
        self._commands[name] = Command(name, handler, params, help)

    def names(self) -> list[str]:
        return sorted(self._commands)

    def commands(self) -> list[Command]:
        """Every command, sorted by name."""
        return [self._commands[name] for name in self.names()]

    def describe(self) -> list[dict[str, Any]]:
        """JSON-ready list of commands and parameters (the ``help`` command)."""
        return [
            {
                "name": c.name,
                "help": c.help,
                "params": [
                    {
                        "name": p.name,
                        "kind": p.kind,
                        "required": p.required,
                        "default": p.default,
                        "minimum": p.minimum,
                        "maximum": p.maximum,
                        "choices": None if p.choices is None else list(p.choices),
                        "unit": p.unit,
                        "help": p.help,
                    }
                    for p in c.params
                ],
            }
            for c in sorted(self._commands.values(), key=lambda c: c.name)
        ]

    def validate(self, name: Any, args: Any) -> tuple[Command, dict[str, Any]]:
        """Return the command and its checked arguments, or raise :class:`CommandError`."""
        if not isinstance(name, str) or name not in self._commands:
            raise CommandError(
                "unknown_command",
                f"unknown command {name!r}; known commands: {', '.join(self.names())}",
            )
        command = self._commands[name]
        if args is None:
            args = {}
        if not isinstance(args, dict):
            raise CommandError("bad_request", f"{name}: 'args' must be a JSON object")
        known = {p.name for p in command.params}
        unknown = sorted(set(args) - known)
        if unknown:
            raise CommandError(
                "invalid_argument",
                f"{name}: unknown argument(s) {unknown}; accepted: {sorted(known) or 'none'}",
            )
        checked: dict[str, Any] = {}
        for param in command.params:
            if param.name in args:
                checked[param.name] = param.check(name, args[param.name])
            elif param.required:
                raise CommandError("invalid_argument", f"{name}: missing argument {param.name!r}")
            else:
                checked[param.name] = param.default
        return command, checked
