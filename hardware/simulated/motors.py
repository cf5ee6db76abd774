"""Simulated motors: magnet height, magnet rotation, focus and an XY stage, moving the simulated
world.

A simulated motor moves at constant ``speed`` (unit/s). It keeps no thread: each move is
published to the world control block as a motion record (start, target, speed, start time), from
which anyone (this motor, the camera in another process) computes the position at any instant.
The block is the motor's only state, so a restarted motor worker finds its axis where it was.
"""

from __future__ import annotations

import time
from typing import Any

from ..errors import HardwareError
from ..motors import FocusStage, LateralStage, LinearMotor, Motor, RotaryMotor
from ..settings import Setting
from .world_control import AxisMotion, LocalWorldControl, WorldControl, WorldControlLike


class _SimulatedAxis(Motor):
    """Shared behaviour of the simulated motors. ``axis`` names the world-control record."""

    axis: str = ""
    simulated_world = True  # the registry passes the daemon instance
    default_limits: tuple[float, float] = (0.0, 1.0)
    default_speed: float = 1.0
    max_speed: float = 1e9

    @classmethod
    def daemon_resources(cls) -> dict[str, Any]:
        return {"simworld": WorldControl.create}

    def __init__(
        self,
        name: str | None = None,
        instance: str | None = None,
        *,
        limits: tuple[float, float] | None = None,
        speed: float | None = None,
        position: float | None = None,
        home_position: float | None = None,
        control: WorldControlLike | None = None,
    ) -> None:
        """``name`` defaults to the axis name; ``limits`` (soft, unit) to :attr:`default_limits`;
        ``speed`` (unit/s) to :attr:`default_speed`; ``position`` is where the axis starts if no
        motor wrote it before (default: ``home_position``, itself defaulting per motor kind).
        ``instance``/``control`` choose the world control block as for the camera.
        """
        super().__init__(name or self.axis, limits=limits or self.default_limits)
        speed = self.default_speed if speed is None else speed
        self._speed = self._setting("speed").validate(speed, device=name)
        home = self._default_home() if home_position is None else float(home_position)
        self.home_position = self.check_target(home)
        self.instance = instance
        self._owns_control = control is None
        if control is not None:
            self._control: WorldControlLike | None = control
        elif instance is not None:
            self._control = WorldControl.attach(instance)
        else:
            self._control = LocalWorldControl()
        if self._control.read_motion(self.axis) is None:  # first motor on this axis
            start = self.home_position if position is None else self.check_target(position)
            self._control.set_position(self.axis, start)

    def _default_home(self) -> float:
        lower, upper = self.limits
        return min(max(0.0, lower), upper)

    # -- world control -------------------------------------------------------------------------
    @property
    def control(self) -> WorldControlLike:
        if self._control is None:
            raise HardwareError(f"{self.name}: motor is closed")
        return self._control

    def open(self) -> None:
        if self._control is None:
            if self.instance is None:
                raise HardwareError(f"{self.name}: closed and has no instance to re-attach to")
            self._control = WorldControl.attach(self.instance)
            self._owns_control = True

    def close(self) -> None:
        if self._control is not None and self._owns_control:
            self._control.close()
        self._control = None

    def _motion(self) -> AxisMotion:
        motion = self.control.read_motion(self.axis)
        if motion is None:
            raise HardwareError(f"{self.name}: axis {self.axis!r} lost its state")
        return motion

    # -- the contract --------------------------------------------------------------------------
    def _move_to(self, target: float) -> None:
        now = time.time()
        start = self._motion().position(now)
        self.control.write_motion(self.axis, AxisMotion(start, target, self._speed, now))

    def stop(self) -> None:
        self.control.set_position(self.axis, self.position())

    def home(self) -> None:
        self._move_to(self.home_position)

    def position(self) -> float:
        return self._motion().position(time.time())

    def target(self) -> float:
        return self._motion().target

    def is_moving(self) -> bool:
        return self._motion().is_moving(time.time())

    def wait_until_stopped(self, timeout: float, poll_interval: float = 0.01) -> None:
        """Sleep until the known end of the move; :class:`DeviceTimeout` after ``timeout`` s."""
        motion = self._motion()
        remaining = motion.start_time + motion.duration - time.time()
        if remaining > 0:
            time.sleep(min(remaining, timeout))
        super().wait_until_stopped(max(timeout - max(remaining, 0.0), 0.0), poll_interval)

    # -- settings ------------------------------------------------------------------------------
    def settings(self) -> list[Setting]:
        return [
            *super().settings(),
            Setting("speed", "float", f"{self.unit}/s", 1e-9, self.max_speed, description="speed"),
            Setting("home_position", "float", self.unit, read_only=True, description="home"),
        ]

    def _read_setting(self, name: str) -> Any:
        if name == "speed":
            return self._speed
        if name == "home_position":
            return self.home_position
        return super()._read_setting(name)

    def _write_setting(self, name: str, value: Any) -> None:
        if name != "speed":
            super()._write_setting(name, value)
            return
        self._speed = value
        motion = self._motion()
        now = time.time()
        if motion.is_moving(now):  # continue the move from here at the new speed
            self.control.write_motion(
                self.axis, AxisMotion(motion.position(now), motion.target, value, now)
            )


class SimulatedMagnetHeight(_SimulatedAxis, LinearMotor):
    """Magnet height above the sample (mm); homes to the upper limit (magnets far: low force)."""

    axis = "magnet_height"
    default_limits = (0.3, 20.0)
    default_speed = 2.0
    max_speed = 100.0

    def _default_home(self) -> float:
        return self.limits[1]


class SimulatedMagnetRotation(_SimulatedAxis, RotaryMotor):
    """Magnet rotation (turns); homes to 0 turns (or the nearest limit)."""

    axis = "magnet_rotation"
    default_limits = (-100.0, 100.0)
    default_speed = 2.0
    max_speed = 100.0


class SimulatedFocus(_SimulatedAxis, FocusStage):
    """Focus position (nm) of a simulated piezo; homes to 0 nm (or the nearest limit)."""

    axis = "focus"
    default_limits = (-5000.0, 5000.0)
    default_speed = 100_000.0
    max_speed = 1e7


class SimulatedStageX(_SimulatedAxis, LateralStage):
    """XY stage, x axis (µm): shifts every bead of the simulated image along x (columns)."""

    axis = "stage_x"
    default_limits = (-1000.0, 1000.0)
    default_speed = 1000.0
    max_speed = 1e5


class SimulatedStageY(SimulatedStageX):
    """XY stage, y axis (µm): shifts every bead of the simulated image along y (rows)."""

    axis = "stage_y"
