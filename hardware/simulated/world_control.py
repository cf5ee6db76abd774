"""The world control block: where the simulated motors tell the simulated camera what they do.

In the daemon the camera and every motor run in their own processes. Each simulated motor writes
its *motion* (start position, target, speed, start time) into a tiny shared-memory block; the
camera evaluates the position of every axis at the exposure time of each frame. The motors need
no threads: the position at any instant follows from the motion record.

Layout (float64 words): a header ``[magic, layout version]`` then one record per axis
``[sequence, start, target, speed, start_time]``. Each record is guarded by a sequence lock: the
single writer of an axis (its motor) makes the sequence odd, writes, makes it even; a reader
retries if the sequence was odd or changed while it read, so it never sees a torn record.
A sequence of 0 means the axis was never written (no motor attached yet).

Axes and units: ``magnet_height`` (mm), ``magnet_rotation`` (turns), ``focus`` (nm),
``stage_x`` and ``stage_y`` (µm, the XY stage that shifts the whole field).
Times are ``time.time()`` seconds.

Two classes share the interface: :class:`WorldControl` (the shared-memory block, segment
``msa-{instance}-simworld``) and :class:`LocalWorldControl` (a plain in-process array for tests and
benchmarks).
"""

from __future__ import annotations

import math
import multiprocessing
import time
from dataclasses import dataclass
from multiprocessing import shared_memory

import numpy as np

from ..errors import HardwareError

AXES: tuple[str, ...] = ("magnet_height", "magnet_rotation", "focus", "stage_x", "stage_y")
_MAGIC = float(0x4D53_4157)  # "MSAW"
_VERSION = 2.0
_HEADER = 2
_SLOTS = 5  # sequence, start, target, speed, start_time
_WORDS = _HEADER + _SLOTS * len(AXES)
_SEQ, _START, _TARGET, _SPEED, _T0 = range(_SLOTS)

#: Segments created by this process (attaching to one of them must not unregister it).
_created_here: set[str] = set()


def segment_name(instance: str) -> str:
    """The shared-memory segment name of ``instance``'s world control block."""
    return f"msa-{instance}-simworld"


@dataclass(frozen=True)
class AxisMotion:
    """A constant-speed move of one axis from ``start`` to ``target`` begun at ``start_time``.

    ``speed`` is in axis units per second (> 0); a motor at rest has ``start == target``.
    """

    start: float
    target: float
    speed: float
    start_time: float

    @property
    def duration(self) -> float:
        """Seconds the move takes."""
        if self.start == self.target:
            return 0.0
        return abs(self.target - self.start) / self.speed

    def position(self, t: float) -> float:
        """Position at time ``t`` (s since the epoch)."""
        elapsed = t - self.start_time
        if elapsed >= self.duration:
            return self.target
        if elapsed <= 0.0:
            return self.start
        return self.start + math.copysign(self.speed * elapsed, self.target - self.start)

    def is_moving(self, t: float) -> bool:
        """True while ``t`` lies before the end of the move."""
        return t < self.start_time + self.duration


class _ControlBase:
    """Motion records of every axis in a float64 array ``self._words`` of length ``_WORDS``."""

    _words: np.ndarray | None

    def _record(self, axis: str) -> np.ndarray:
        if self._words is None:
            raise HardwareError("world control block is closed")
        try:
            index = AXES.index(axis)
        except ValueError:
            raise KeyError(f"unknown axis {axis!r} (known: {', '.join(AXES)})") from None
        start = _HEADER + _SLOTS * index
        return self._words[start : start + _SLOTS]

    def write_motion(self, axis: str, motion: AxisMotion) -> None:
        """Publish ``motion`` for ``axis`` (one writer per axis)."""
        record = self._record(axis)
        seq = record[_SEQ]
        record[_SEQ] = seq + 1.0  # odd: writing
        record[_START] = motion.start
        record[_TARGET] = motion.target
        record[_SPEED] = motion.speed
        record[_T0] = motion.start_time
        record[_SEQ] = seq + 2.0  # even: consistent

    def set_position(self, axis: str, position: float) -> None:
        """Publish ``axis`` at rest at ``position``."""
        self.write_motion(axis, AxisMotion(position, position, 1.0, time.time()))

    def read_motion(self, axis: str) -> AxisMotion | None:
        """The motion last published for ``axis``, or None if no motor ever wrote it."""
        record = self._record(axis)
        for attempt in range(1000):
            seq = record[_SEQ]
            if seq == 0.0:
                return None
            if seq % 2.0 == 0.0:
                values = record[_START:].copy()
                if record[_SEQ] == seq:
                    return AxisMotion(*(float(v) for v in values))
            if attempt > 8:  # the writer was descheduled mid-write: give it the core
                time.sleep(0.0001)
        raise HardwareError(f"world control block: axis {axis!r} stays locked by its writer")

    def position(self, axis: str, t: float | None = None) -> float | None:
        """Position of ``axis`` at time ``t`` (default now), or None if never written."""
        motion = self.read_motion(axis)
        if motion is None:
            return None
        return motion.position(time.time() if t is None else t)

    def positions(self, t: float | None = None) -> dict[str, float | None]:
        """Positions of every axis at time ``t`` (default now); None for axes never written."""
        t = time.time() if t is None else t
        return {axis: self.position(axis, t) for axis in AXES}


class LocalWorldControl(_ControlBase):
    """An in-process world control block (tests, benchmarks, standalone simulated devices)."""

    name = "<local>"

    def __init__(self) -> None:
        self._words = np.zeros(_WORDS, dtype=np.float64)
        self._words[:_HEADER] = (_MAGIC, _VERSION)

    def close(self) -> None:
        """Nothing to release (kept for interface parity)."""

    def unlink(self) -> None:
        """Nothing to remove (kept for interface parity)."""


class WorldControl(_ControlBase):
    """The world control block in shared memory, segment ``msa-{instance}-simworld``.

    The daemon's manager calls :meth:`create` before it starts the workers and :meth:`unlink` at
    stop; each simulated device calls :meth:`attach` and :meth:`close`.
    """

    def __init__(self, shm: shared_memory.SharedMemory) -> None:
        self._shm: shared_memory.SharedMemory | None = shm
        self.name = shm.name
        self._words = np.ndarray((_WORDS,), dtype=np.float64, buffer=shm.buf)

    @classmethod
    def create(cls, instance: str) -> WorldControl:
        """Create the block of ``instance``, every axis unwritten; FileExistsError if it exists."""
        name = segment_name(instance)
        shm = shared_memory.SharedMemory(name=name, create=True, size=_WORDS * 8)
        _created_here.add(name)
        control = cls(shm)
        control._words[:] = 0.0
        control._words[:_HEADER] = (_MAGIC, _VERSION)
        return control

    @classmethod
    def attach(cls, instance: str) -> WorldControl:
        """Attach to the block of ``instance``; :class:`HardwareError` if it does not exist."""
        name = segment_name(instance)
        try:
            shm = shared_memory.SharedMemory(name=name, create=False)
        except FileNotFoundError:
            raise HardwareError(
                f"world control block {name!r} not found: the daemon creates it at start "
                f"(WorldControl.create({instance!r}))"
            ) from None
        if multiprocessing.parent_process() is None and name not in _created_here:
            # Python 3.11 registers attached segments with the resource tracker, which would
            # unlink the segment when this (non-multiprocessing) process exits.
            from multiprocessing import resource_tracker

            resource_tracker.unregister(shm._name, "shared_memory")  # type: ignore[attr-defined]
        if shm.size < _WORDS * 8:
            shm.close()
            raise HardwareError(f"world control block {name!r} is too small ({shm.size} bytes)")
        control = cls(shm)
        if control._words[0] != _MAGIC or control._words[1] != _VERSION:
            control.close()
            raise HardwareError(f"{name!r} is not a world control block of this version")
        return control

    def close(self) -> None:
        """Detach (drops the numpy view first, as Python 3.11 requires). Idempotent."""
        self._words = None
        if self._shm is not None:
            self._shm.close()
            self._shm = None

    def unlink(self) -> None:
        """Remove the segment (the creator does this at stop); closes first. Idempotent."""
        shm = self._shm
        self.close()
        try:
            if shm is not None:
                shm.unlink()
            else:
                shared_memory.SharedMemory(name=self.name, create=False).unlink()
        except FileNotFoundError:
            pass
        _created_here.discard(self.name)


WorldControlLike = WorldControl | LocalWorldControl
