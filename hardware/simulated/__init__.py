"""The simulated microscope: one physical world shared by the simulated camera and motors.

* :mod:`.world_control` - the shared-memory block through which the motors (in their own
  processes) tell the camera where the magnets and the focus are.
* :mod:`.physics` and :mod:`.world` - beads on DNA tethers: magnet force, worm-like chain,
  twist, Brownian motion, drift.
* :mod:`.optics` - the ring image of one bead; :mod:`._render` - fast frame rendering with noise.
* :mod:`.camera` - :class:`SimulatedCamera`; :mod:`.motors` - the simulated motors.
"""

import importlib
from typing import Any

# Exports are imported on first use: a simulated motor worker must not pay for the camera's
# numba kernels it never runs.
_EXPORTS = {
    "FrameTruth": ".camera",
    "SimulatedCamera": ".camera",
    "SimulatedFocus": ".motors",
    "SimulatedMagnetHeight": ".motors",
    "SimulatedMagnetRotation": ".motors",
    "SimulatedStageX": ".motors",
    "SimulatedStageY": ".motors",
    "OpticsParams": ".optics",
    "expected_roi": ".optics",
    "relative_intensity": ".optics",
    "World": ".world",
    "WorldParams": ".world",
    "WorldSample": ".world",
    "simulation_params": ".world",
    "AXES": ".world_control",
    "AxisMotion": ".world_control",
    "LocalWorldControl": ".world_control",
    "WorldControl": ".world_control",
    "segment_name": ".world_control",
}


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(_EXPORTS[name], __name__), name)


__all__ = [
    "AXES",
    "AxisMotion",
    "FrameTruth",
    "LocalWorldControl",
    "OpticsParams",
    "SimulatedCamera",
    "SimulatedFocus",
    "SimulatedMagnetHeight",
    "SimulatedMagnetRotation",
    "SimulatedStageX",
    "SimulatedStageY",
    "World",
    "WorldControl",
    "WorldParams",
    "WorldSample",
    "expected_roi",
    "relative_intensity",
    "segment_name",
    "simulation_params",
]
