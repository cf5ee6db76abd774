"""The typed client of a magscope-app daemon: ``magscope_app.connect()``.

Synchronous (a blocking socket and one reader thread; no asyncio in the caller's thread), so it
works the same in scripts, notebooks and GUI worker threads::

    with magscope_app.connect(instance="default") as scope:
        scope.motors["magnet_height"].move_to(5.0, wait=True)      # mm
        with scope.record("/data/run1"):
            scope.wait(10)
        t = scope.tracks.latest(seconds=1.0)                      # numpy structured array
"""

from ..control.errors import (
    BadRequest,
    CommandFailed,
    DaemonNotRunning,
    InvalidArgument,
    LimitExceeded,
    ProtocolMismatch,
    Unauthorized,
    UnknownCommand,
)
from ..control.protocol import PROTOCOL_VERSION, TOPICS, CommandError
from ._beads import Beads
from ._devices import Camera, DeviceSettings
from ._events import Event, Subscription
from ._motors import Motor, Motors, MoveHandle
from ._recording import Recording
from ._scope import Scope, connect
from ._scripts import ScriptAborted, ScriptRun, Scripts, ScriptStatus
from ._status import CameraStatus, MotorState, RecordingStatus, Status, SweepProgress
from ._tracking import Tracking
from ._tracks import TRACK_DTYPE, Tracks
from ._zlut import ZLUT, SweepHandle

__all__ = [
    "PROTOCOL_VERSION",
    "TOPICS",
    "TRACK_DTYPE",
    "ZLUT",
    "BadRequest",
    "Beads",
    "Camera",
    "CameraStatus",
    "CommandError",
    "CommandFailed",
    "DaemonNotRunning",
    "DeviceSettings",
    "Event",
    "InvalidArgument",
    "LimitExceeded",
    "Motor",
    "MotorState",
    "Motors",
    "MoveHandle",
    "ProtocolMismatch",
    "Recording",
    "RecordingStatus",
    "Scope",
    "ScriptAborted",
    "ScriptRun",
    "ScriptStatus",
    "Scripts",
    "Status",
    "Subscription",
    "SweepHandle",
    "SweepProgress",
    "Tracking",
    "Tracks",
    "Unauthorized",
    "UnknownCommand",
    "connect",
]
