"""Typed, read-only views of the daemon's replies (``status``, motor states, recording, sweep).

Each is a frozen dataclass built from the reply; ``raw`` keeps the whole reply dict, and
``status["camera"]`` (item access) reads the raw dict, as older code did.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


def _pick(cls: type, data: dict[str, Any], **extra: Any) -> Any:
    names = [n for n in cls.__dataclass_fields__ if n != "raw"]
    return cls(**{n: data.get(n) for n in names if n not in extra}, **extra, raw=data)


@dataclass(frozen=True)
class MotorState:
    """A motor's newest telemetry: ``position`` and ``target`` in ``unit``, ``time`` of the
    sample (s since the epoch), ``age_s`` (s), ``error`` (telemetry error text or None)."""

    position: float | None
    target: float | None
    moving: bool | None
    unit: str
    time: float | None = None
    age_s: float | None = None
    error: str | None = None
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> MotorState:
        return _pick(cls, data)


@dataclass(frozen=True)
class CameraStatus:
    """Acquisition counters: frames acquired and lost (totals), ``fps`` (frames/s),
    ``buffer_level`` (fraction of the VideoBuffer in use, 0…1), ``latest_frame`` (counter)."""

    frames_acquired: int
    frames_lost: int
    fps: float
    buffer_level: float
    latest_frame: int
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)


@dataclass(frozen=True)
class RecordingStatus:
    """The recording: ``running``, ``file`` (the current or last one), ``mode``, ``size_bytes``,
    ``elapsed_s`` (s), ``rows_lost``, ``stop_reason`` (None while running), ``last_error``."""

    running: bool
    file: str | None
    mode: str | None
    size_bytes: int
    elapsed_s: float
    rows_lost: int
    stop_reason: str | None
    last_error: str | None
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RecordingStatus:
        return _pick(cls, data)


@dataclass(frozen=True)
class SweepProgress:
    """A Z-LUT sweep: ``state`` (idle, running, complete, failed, cancelled), ``plane`` of
    ``planes`` (1-based), ``profiles`` captured, ``eta_s`` (s left), ``message``."""

    state: str
    plane: int
    planes: int
    profiles: int
    eta_s: float | None
    message: str | None
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SweepProgress:
        data = {"state": "idle", "plane": 0, "planes": 0, "profiles": 0, **data}
        return _pick(cls, data)

    @property
    def fraction(self) -> float:
        """Planes done / planes (0…1)."""
        return self.plane / self.planes if self.planes else 0.0


@dataclass(frozen=True)
class WorkerStatus:
    """A worker process: ``name``, ``state`` (starting, running, failed, …), ``pid``."""

    name: str
    state: str
    pid: int | None
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)


@dataclass(frozen=True)
class Status:
    """The daemon's ``status``: ``uptime_s`` (s), ``acquiring``, camera counters, each motor's
    state, the recording, workers, recent faults; ``raw`` is the whole reply."""

    instance: str
    version: str
    pid: int
    uptime_s: float
    acquiring: bool
    camera: CameraStatus | None
    motors: dict[str, MotorState]
    recording: RecordingStatus | None
    workers: tuple[WorkerStatus, ...]
    faults: tuple[dict[str, Any], ...]
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Status:
        camera = data.get("camera")
        recording = data.get("recording")
        return cls(
            instance=data["instance"],
            version=data.get("version", ""),
            pid=data.get("pid", 0),
            uptime_s=data.get("uptime_s", 0.0),
            acquiring=bool(data.get("acquiring")),
            camera=None if camera is None else _pick(CameraStatus, camera),
            motors={m: MotorState.from_dict(s) for m, s in (data.get("motors") or {}).items()},
            recording=None if recording is None else RecordingStatus.from_dict(recording),
            workers=tuple(_pick(WorkerStatus, w) for w in data.get("workers", [])),
            faults=tuple(data.get("faults", [])),
            raw=data,
        )

    def __getitem__(self, key: str) -> Any:
        """``status["tracking"]``: a part of the raw reply (for parts without a typed view)."""
        return self.raw[key]
