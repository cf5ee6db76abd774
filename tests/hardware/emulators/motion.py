"""Simulated motion for the emulators: a position that moves toward a target at a fixed speed."""

from __future__ import annotations

import time


class Axis:
    """Position (any unit) moving linearly toward a target at ``speed`` units/s.

    The position is computed from the clock when asked, so no thread has to tick it.
    """

    def __init__(self, position: float = 0.0, speed: float = 1000.0) -> None:
        self.speed = speed
        self._start = position
        self._target = position
        self._t0 = time.monotonic()

    def position(self) -> float:
        elapsed = time.monotonic() - self._t0
        distance = self._target - self._start
        travelled = self.speed * elapsed
        if travelled >= abs(distance):
            return self._target
        return self._start + (travelled if distance >= 0 else -travelled)

    @property
    def target(self) -> float:
        return self._target

    def moving(self) -> bool:
        return self.position() != self._target

    def move_to(self, target: float) -> None:
        self._start = self.position()
        self._target = target
        self._t0 = time.monotonic()

    def stop(self) -> None:
        self.move_to(self.position())
        self._target = self._start
