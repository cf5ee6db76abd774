"""Device contracts and drivers (imported as ``magscope_app.hardware``).

One contract per device kind: :class:`Camera`, :class:`LinearMotor` (magnet height, mm),
:class:`RotaryMotor` (magnet rotation, turns), :class:`FocusStage` (focus, nm),
:class:`LateralStage` (an optional XY stage axis, µm). Drivers live in
subpackages: ``simulated`` (the simulated microscope), ``zaber`` and ``pi`` (serial devices).
"""

from .camera import Camera, Frame
from .device import Device
from .errors import (
    DeviceNotConnected,
    DeviceRejected,
    DeviceTimeout,
    HardwareError,
    LimitError,
    ProtocolError,
    SettingError,
)
from .motors import FocusStage, LateralStage, LinearMotor, Motor, MotorState, RotaryMotor
from .settings import Setting

__all__ = [
    "Camera",
    "Device",
    "DeviceNotConnected",
    "DeviceRejected",
    "DeviceTimeout",
    "FocusStage",
    "Frame",
    "HardwareError",
    "LateralStage",
    "LimitError",
    "LinearMotor",
    "Motor",
    "MotorState",
    "ProtocolError",
    "RotaryMotor",
    "Setting",
    "SettingError",
]
