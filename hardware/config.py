"""The hardware config: a TOML file choosing and parameterising the camera and the motors.

Schema (every section optional except as noted)::

    [camera]                       # required if [motors] is present
    driver = "simulated.camera"    # a driver name (see hardware.registry)
    width = 1024                   # ... any keyword parameter of the driver's constructor

    [motors.magnet_height]         # one table per motor; the name is free, but the roles
    driver = "zaber.linear"        # magnet_height / magnet_rotation / focus must be a
    port = "/dev/ttyUSB0"          # LinearMotor / RotaryMotor / FocusStage (stage_x / stage_y:
                                   # LateralStage, the optional XY stage)
    limits = [0.5, 18.0]           # soft limits [lower, upper] in the motor unit; required
                                   # unless the driver has default limits

    [simulation]                   # the simulated world (WorldParams + OpticsParams fields)
    n_beads = 20
    seed = 1

Other top-level tables (``[tracking]``, ``[daemon]``, …) belong to the core and are returned
untouched in :attr:`HardwareConfig.other`. A file with neither ``[camera]`` nor ``[motors]`` gets
the default simulated microscope. Everything is validated when loaded; a :class:`ConfigError`
names the file, the key and the problem. Driver parameters are checked against the driver
constructor's signature and type hints (unknown key, missing key, wrong type).
"""

from __future__ import annotations

import inspect
import math
import tomllib
import types
import typing
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields
from os import PathLike
from pathlib import Path
from typing import Any

from .camera import Camera
from .device import Device
from .errors import HardwareError
from .motors import FocusStage, LateralStage, LinearMotor, Motor, RotaryMotor
from .registry import DriverLoadError, DriverNotFound, load_driver

#: Parameters the config machinery passes itself; never accepted from a driver section.
_INJECTED = ("name", "instance", "simulation", "control")
#: Motor roles with a required device kind.
ROLES: dict[str, type[Motor]] = {
    "magnet_height": LinearMotor,
    "magnet_rotation": RotaryMotor,
    "focus": FocusStage,
    "stage_x": LateralStage,
    "stage_y": LateralStage,
}

DEFAULT_CONFIG: dict[str, Any] = {
    "camera": {"driver": "simulated.camera"},
    "motors": {
        "magnet_height": {"driver": "simulated.magnet_height", "limits": [0.3, 20.0]},
        "magnet_rotation": {"driver": "simulated.magnet_rotation", "limits": [-100.0, 100.0]},
        "focus": {"driver": "simulated.focus", "limits": [-5000.0, 5000.0]},
    },
    "simulation": {},
}


class ConfigError(ValueError):
    """An invalid hardware config. ``str()`` reads ``"<file>: <key>: <problem>"``."""

    def __init__(self, source: str, key: str | None, problem: str) -> None:
        self.source, self.key, self.problem = source, key, problem
        super().__init__(f"{source}: {key}: {problem}" if key else f"{source}: {problem}")


@dataclass(frozen=True)
class DeviceSpec:
    """A validated device section.

    ``name``: "camera" or the motor name; ``driver``: driver name; ``params``: the other keys;
    ``limits``: motor soft limits (None for a camera or a driver with default limits);
    ``section``: the TOML table ("camera", "motors.focus"); ``source``: the file;
    ``simulation``: the ``[simulation]`` table, passed to simulated cameras.
    """

    name: str
    driver: str
    params: dict[str, Any]
    limits: tuple[float, float] | None = None
    section: str = ""
    source: str = "<default>"
    simulation: dict[str, Any] | None = None


@dataclass(frozen=True)
class HardwareConfig:
    """The validated hardware part of a config file, plus the core's sections untouched."""

    camera: DeviceSpec
    motors: dict[str, DeviceSpec]
    simulation: dict[str, Any] = field(default_factory=dict)
    other: dict[str, Any] = field(default_factory=dict)
    source: str = "<default>"


# -- type checks ---------------------------------------------------------------------------------
def _type_name(hint: Any) -> str:
    return getattr(hint, "__name__", None) or str(hint).replace("typing.", "")


def _matches(value: Any, hint: Any) -> bool:
    """Whether a TOML ``value`` fits the type hint ``hint`` (lenient for what it cannot judge)."""
    if hint is Any or hint is object or hint is inspect.Parameter.empty:
        return True
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin is typing.Union or origin is types.UnionType:
        return any(_matches(value, arm) for arm in args)
    if origin is typing.Literal:
        return value in args
    if hint is type(None):
        return value is None
    if hint is bool:
        return isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if hint is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if hint is str:
        return isinstance(value, str)
    if hint in (Path, PathLike) or (isinstance(hint, type) and issubclass(hint, PathLike)):
        return isinstance(value, str)
    container = origin or hint
    if container in (tuple, list, Sequence) or (
        isinstance(container, type) and issubclass(container, (tuple, list))
    ):
        if not isinstance(value, (list, tuple)):
            return False
        if container is tuple and args and args[-1] is not Ellipsis:
            return len(value) == len(args) and all(map(_matches, value, args))
        return not args or all(_matches(v, args[0]) for v in value)
    if container in (dict, Mapping) or (
        isinstance(container, type) and issubclass(container, dict)
    ):
        return isinstance(value, dict)
    if isinstance(hint, type):
        return isinstance(value, hint)
    return True


def _hints(obj: Any) -> dict[str, Any]:
    try:
        return typing.get_type_hints(obj)
    except Exception:  # unresolvable annotations: check nothing rather than fail
        return {}


# -- sections ------------------------------------------------------------------------------------
def _check_limits(value: Any, source: str, key: str) -> tuple[float, float]:
    if (
        not isinstance(value, (list, tuple))
        or len(value) != 2
        or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value)
    ):
        raise ConfigError(source, key, f"must be two numbers [lower, upper], got {value!r}")
    lower, upper = float(value[0]), float(value[1])
    if not (math.isfinite(lower) and math.isfinite(upper)):
        raise ConfigError(source, key, f"limits must be finite, got {value!r}")
    if not lower < upper:
        raise ConfigError(source, key, f"lower limit {lower:g} must be below upper {upper:g}")
    return lower, upper


def _device_spec(
    name: str,
    section: str,
    table: Any,
    source: str,
    kind: type[Device],
    simulation: dict[str, Any],
) -> DeviceSpec:
    if not isinstance(table, dict):
        raise ConfigError(source, section, f"must be a table, got {table!r}")
    table = dict(table)
    driver = table.pop("driver", None)
    if driver is None:
        raise ConfigError(source, f"{section}.driver", "missing (which driver runs this device?)")
    if not isinstance(driver, str):
        raise ConfigError(source, f"{section}.driver", f"must be a string, got {driver!r}")
    try:
        cls = load_driver(driver)
    except (DriverNotFound, DriverLoadError) as exc:
        raise ConfigError(source, f"{section}.driver", str(exc)) from exc
    if not (isinstance(cls, type) and issubclass(cls, kind)):
        raise ConfigError(
            source,
            f"{section}.driver",
            f"driver {driver!r} ({cls.__name__}) is not a {kind.__name__}",
        )
    signature = inspect.signature(cls)
    parameters = signature.parameters
    hints = _hints(cls.__init__)
    open_ended = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values())
    limits: tuple[float, float] | None = None
    if issubclass(cls, Motor):
        if "limits" in table:
            limits = _check_limits(table.pop("limits"), source, f"{section}.limits")
        elif "limits" not in parameters or parameters["limits"].default is inspect.Parameter.empty:
            raise ConfigError(source, f"{section}.limits", "missing (soft limits [lower, upper])")
    for key in table:
        if key in _INJECTED or (key not in parameters and not open_ended) or key == "limits":
            accepted = sorted(
                k
                for k, p in parameters.items()
                if k not in _INJECTED
                and p.kind is not inspect.Parameter.VAR_KEYWORD
                and not (k == "limits" and issubclass(cls, Motor))
            )
            raise ConfigError(
                source,
                f"{section}.{key}",
                f"unknown key for driver {driver!r} (accepted: {', '.join(accepted) or 'none'})",
            )
        hint = hints.get(key, inspect.Parameter.empty)
        if not _matches(table[key], hint):
            raise ConfigError(
                source,
                f"{section}.{key}",
                f"must be {_type_name(hint)}, got {table[key]!r} ({type(table[key]).__name__})",
            )
    for key, parameter in parameters.items():
        if (
            key not in _INJECTED
            and key != "limits"
            and parameter.default is inspect.Parameter.empty
            and parameter.kind
            not in (inspect.Parameter.VAR_KEYWORD, inspect.Parameter.VAR_POSITIONAL)
            and key not in table
        ):
            raise ConfigError(source, f"{section}.{key}", f"missing (driver {driver!r} needs it)")
    return DeviceSpec(
        name=name,
        driver=driver,
        params=table,
        limits=limits,
        section=section,
        source=source,
        simulation=simulation if getattr(cls, "simulated_world", False) else None,
    )


def _check_simulation(table: Any, source: str) -> dict[str, Any]:
    from .simulated.optics import OpticsParams
    from .simulated.world import WorldParams, simulation_params

    if not isinstance(table, dict):
        raise ConfigError(source, "simulation", f"must be a table, got {table!r}")
    hints = {**_hints(WorldParams), **_hints(OpticsParams)}
    known = {f.name for f in fields(WorldParams)} | {f.name for f in fields(OpticsParams)}
    for key, value in table.items():
        if key not in known:
            raise ConfigError(
                source,
                f"simulation.{key}",
                f"unknown simulation parameter (accepted: {', '.join(sorted(known))})",
            )
        if not _matches(value, hints.get(key, Any)):
            raise ConfigError(
                source,
                f"simulation.{key}",
                f"must be {_type_name(hints[key])}, got {value!r} ({type(value).__name__})",
            )
    try:
        simulation_params(table)
    except (TypeError, ValueError) as exc:
        raise ConfigError(source, "simulation", str(exc)) from exc
    return dict(table)


def parse_config(data: Mapping[str, Any], source: str = "<string>") -> HardwareConfig:
    """Validate an already parsed config mapping; ``source`` names it in error messages."""
    data = dict(data)
    other = {k: v for k, v in data.items() if k not in ("camera", "motors", "simulation")}
    if "camera" not in data and "motors" not in data:
        data = {
            **DEFAULT_CONFIG,
            **({"simulation": data["simulation"]} if "simulation" in data else {}),
        }
    simulation = _check_simulation(data.get("simulation", {}), source)
    if "camera" not in data:
        raise ConfigError(source, "camera", "missing [camera] section (every rig has a camera)")
    camera = _device_spec("camera", "camera", data["camera"], source, Camera, simulation)
    motors_table = data.get("motors", {})
    if not isinstance(motors_table, dict):
        raise ConfigError(
            source, "motors", f"must be a table of motor tables, got {motors_table!r}"
        )
    motors: dict[str, DeviceSpec] = {}
    for name, table in motors_table.items():
        kind = ROLES.get(name, Motor)
        motors[name] = _device_spec(name, f"motors.{name}", table, source, kind, simulation)
    return HardwareConfig(
        camera=camera, motors=motors, simulation=simulation, other=other, source=source
    )


def load_config(path: str | PathLike[str] | None = None) -> HardwareConfig:
    """Load and validate the TOML file ``path``; None gives :func:`default_config`."""
    if path is None:
        return default_config()
    source = str(path)
    try:
        with open(path, "rb") as stream:
            data = tomllib.load(stream)
    except FileNotFoundError:
        raise ConfigError(source, None, "file not found") from None
    except OSError as exc:
        raise ConfigError(source, None, f"cannot read: {exc}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(source, None, f"not valid TOML: {exc}") from exc
    return parse_config(data, source)


def default_config() -> HardwareConfig:
    """The simulated microscope: camera, magnet height, magnet rotation and focus."""
    return parse_config(DEFAULT_CONFIG, "<default simulated microscope>")


def create_device(spec: DeviceSpec, *, instance: str | None) -> Device:
    """Construct the device of ``spec``: ``cls(name, **params, limits=…)``.

    Simulated drivers (class attribute ``simulated_world``) also get ``instance`` (their world
    control block) and, if their constructor takes it, ``simulation``. A constructor's
    TypeError/ValueError becomes a :class:`ConfigError`; hardware errors pass unchanged.
    """
    try:
        cls = load_driver(spec.driver)
    except (DriverNotFound, DriverLoadError) as exc:
        raise ConfigError(spec.source, f"{spec.section}.driver", str(exc)) from exc
    kwargs = dict(spec.params)
    if spec.limits is not None:
        kwargs["limits"] = spec.limits
    if getattr(cls, "simulated_world", False):
        kwargs["instance"] = instance
        if spec.simulation is not None and "simulation" in inspect.signature(cls).parameters:
            kwargs["simulation"] = spec.simulation
    try:
        return cls(spec.name, **kwargs)
    except HardwareError:
        raise
    except (TypeError, ValueError) as exc:
        raise ConfigError(spec.source, spec.section or spec.name, str(exc)) from exc
