"""The simulated microscope: one physical world shared by the simulated camera and motors.

* :mod:`.world_control` - the shared-memory block through which the motors (in their own
  processes) tell the camera where the magnets and the focus are.
* :mod:`.physics` and :mod:`.world` - beads on DNA tethers: magnet force, worm-like chain,
  twist, Brownian motion, drift.
* :mod:`.optics` - the ring image of one bead; :mod:`._render` - fast frame rendering with noise.
* :mod:`.camera` - :class:`SimulatedCamera`; :mod:`.motors` - the simulated motors.
"""

from .camera import FrameTruth, SimulatedCamera
from .motors import SimulatedFocus, SimulatedMagnetHeight, SimulatedMagnetRotation
from .optics import OpticsParams, expected_roi, relative_intensity
from .world import World, WorldParams, WorldSample, simulation_params
from .world_control import AXES, AxisMotion, LocalWorldControl, WorldControl, segment_name

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
    "World",
    "WorldControl",
    "WorldParams",
    "WorldSample",
    "expected_roi",
    "relative_intensity",
    "segment_name",
    "simulation_params",
]
