"""Motor contracts: magnet height, magnet rotation, focus, XY stage axes.

Every motor has soft limits from the config; a move outside them raises :class:`LimitError`
before anything is sent to the device.
"""

from __future__ import annotations

import math
import time
from abc import abstractmethod
from dataclasses import dataclass
from typing import Any

from .device import Device
from .errors import DeviceTimeout, LimitError
from .settings import Setting


@dataclass(frozen=True)
class MotorState:
    """A snapshot of a motor: time (s since the epoch), position and target (motor unit), moving."""

    time: float
    position: float
    target: float
    moving: bool


class Motor(Device):
    """A single-axis positioner in ``unit`` with soft limits ``(lower, upper)`` (inclusive)."""

    unit: str = ""

    def __init__(self, name: str, *, limits: tuple[float, float]) -> None:
        super().__init__(name)
        lower, upper = (float(v) for v in limits)
        if not (math.isfinite(lower) and math.isfinite(upper) and lower < upper):
            raise ValueError(
                f"{name}: limits must be two finite numbers, lower < upper; got {limits}"
            )
        self.limits = (lower, upper)

    # -- the contract --------------------------------------------------------------------------
    @abstractmethod
    def _move_to(self, target: float) -> None:
        """Start a move to ``target`` (already checked against the limits); do not wait."""

    @abstractmethod
    def stop(self) -> None:
        """Stop any motion now."""

    @abstractmethod
    def home(self) -> None:
        """Start the homing (reference) move; do not wait."""

    @abstractmethod
    def position(self) -> float:
        """Current position in ``unit``."""

    @abstractmethod
    def target(self) -> float:
        """Target of the last move in ``unit``."""

    @abstractmethod
    def is_moving(self) -> bool:
        """True while the motor moves (or, for a closed-loop stage, is not yet on target)."""

    # -- shared behaviour ----------------------------------------------------------------------
    def check_target(self, target: float) -> float:
        """Return ``target`` as a float if it is a finite number inside the limits, else raise."""
        if isinstance(target, bool) or not isinstance(target, (int, float)):
            raise LimitError(f"{self.name}: target must be a number, got {target!r}")
        target = float(target)
        lower, upper = self.limits
        if not math.isfinite(target):
            raise LimitError(f"{self.name}: target {target} is not a finite number")
        if target < lower:
            raise LimitError(
                f"{self.name}: target {target:g} {self.unit} is below the lower limit "
                f"{lower:g} {self.unit}"
            )
        if target > upper:
            raise LimitError(
                f"{self.name}: target {target:g} {self.unit} is above the upper limit "
                f"{upper:g} {self.unit}"
            )
        return target

    def move_to(self, target: float) -> None:
        """Start an absolute move; refused with :class:`LimitError` outside the limits."""
        self._move_to(self.check_target(target))

    def move_by(self, delta: float) -> None:
        """Start a move by ``delta`` from the current target; refused outside the limits."""
        self.move_to(self.target() + float(delta))

    def state(self) -> MotorState:
        """A consistent snapshot for telemetry."""
        return MotorState(time.time(), self.position(), self.target(), self.is_moving())

    def wait_until_stopped(self, timeout: float, poll_interval: float = 0.01) -> None:
        """Block until :meth:`is_moving` is False; :class:`DeviceTimeout` after ``timeout`` s."""
        deadline = time.monotonic() + timeout
        while self.is_moving():
            if time.monotonic() > deadline:
                raise DeviceTimeout(f"{self.name}: still moving after {timeout:g} s")
            time.sleep(poll_interval)

    def settings(self) -> list[Setting]:
        return [
            Setting("lower_limit", "float", self.unit, read_only=True, description="soft limit"),
            Setting("upper_limit", "float", self.unit, read_only=True, description="soft limit"),
        ]

    def _read_setting(self, name: str) -> Any:
        if name == "lower_limit":
            return self.limits[0]
        if name == "upper_limit":
            return self.limits[1]
        raise KeyError(name)


class LinearMotor(Motor):
    """Magnet height above the sample, in mm (larger = magnets further away = less force)."""

    kind = "linear_motor"
    unit = "mm"


class RotaryMotor(Motor):
    """Magnet rotation, in turns."""

    kind = "rotary_motor"
    unit = "turns"


class FocusStage(Motor):
    """Objective or piezo focus position, in nm."""

    kind = "focus_stage"
    unit = "nm"


class LateralStage(Motor):
    """One axis of an XY stage moving the sample sideways, in µm: the motor ``stage_x`` moves
    the image along x (columns), ``stage_y`` along y (rows); +1 µm moves every bead +1 µm."""

    kind = "lateral_stage"
    unit = "µm"
