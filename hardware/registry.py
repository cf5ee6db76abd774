"""Driver registry: driver names in the hardware config → device classes.

Built-in drivers are referenced as ``"module:Class"`` strings and imported only when a config
uses them, so a driver whose module (or dependency) is missing fails only when chosen.
Third-party packages add drivers through the entry point group ``magscope_app.hardware``::

    [project.entry-points."magscope_app.hardware"]
    "acme.camera" = "acme_magscope.camera:AcmeCamera"

A driver class is constructed as ``cls(name, **params)``; motors also get ``limits=(lo, hi)``.
A class with the attribute ``simulated_world = True`` also gets ``instance=<daemon instance>``
(and a camera ``simulation=<[simulation] mapping>``).
"""

from __future__ import annotations

import importlib
from importlib.metadata import entry_points

ENTRY_POINT_GROUP = "magscope_app.hardware"

BUILTIN_DRIVERS: dict[str, str] = {
    "simulated.camera": "magscope_app.hardware.simulated.camera:SimulatedCamera",
    "simulated.magnet_height": "magscope_app.hardware.simulated.motors:SimulatedMagnetHeight",
    "simulated.magnet_rotation": "magscope_app.hardware.simulated.motors:SimulatedMagnetRotation",
    "simulated.focus": "magscope_app.hardware.simulated.motors:SimulatedFocus",
    "simulated.stage_x": "magscope_app.hardware.simulated.motors:SimulatedStageX",
    "simulated.stage_y": "magscope_app.hardware.simulated.motors:SimulatedStageY",
    "zaber.linear": "magscope_app.hardware.zaber:ZaberLinearStage",
    "zaber.rotary": "magscope_app.hardware.zaber:ZaberRotaryStage",
    "pi.focus": "magscope_app.hardware.pi:PIFocusStage",
    "simulated.test_pattern": "magscope_app.hardware.simulated.test_pattern:TestPatternCamera",
}


class DriverNotFound(LookupError):
    """No built-in driver and no entry point has this name."""


class DriverLoadError(ImportError):
    """The driver exists but its module or class could not be imported."""


def _entry_point_targets() -> dict[str, str]:
    """Entry-point driver names → ``"module:Class"`` (built-in names take precedence)."""
    return {ep.name: ep.value for ep in entry_points(group=ENTRY_POINT_GROUP)}


def driver_names() -> list[str]:
    """Every driver name known now: built-in and from entry points, sorted."""
    return sorted(set(BUILTIN_DRIVERS) | set(_entry_point_targets()))


def driver_target(name: str) -> str:
    """The ``"module:Class"`` reference of driver ``name``; :class:`DriverNotFound` if unknown."""
    if name in BUILTIN_DRIVERS:
        return BUILTIN_DRIVERS[name]
    targets = _entry_point_targets()
    if name in targets:
        return targets[name]
    raise DriverNotFound(f"unknown driver {name!r} (known: {', '.join(driver_names())})")


def load_driver(name: str) -> type:
    """Import and return the class of driver ``name``.

    Raises :class:`DriverNotFound` for an unknown name and :class:`DriverLoadError` if the
    module or class cannot be imported.
    """
    target = driver_target(name)
    module_name, _, attribute = target.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise DriverLoadError(f"driver {name!r}: cannot import {module_name!r}: {exc}") from exc
    obj = module
    for part in attribute.split(".") if attribute else []:
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise DriverLoadError(
                f"driver {name!r}: module {module_name!r} has no {attribute!r}"
            ) from None
    if not isinstance(obj, type):
        raise DriverLoadError(f"driver {name!r}: {target!r} is not a class")
    return obj
