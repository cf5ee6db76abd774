"""What the recorder worker reads besides video (``_record_video``): MatrixBuffer rows and bead
ROI changes.

Each source only reads shared memory and never blocks a writer: rows are consumed with
``MatrixBuffer.read()`` (the recorder is the one consumer), ROIs are read lock-free.
Rows lost to overflow are counted from ``overwritten_rows`` deltas, never dropped silently.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..buffers import BeadRoiBuffer, MatrixBuffer
from ..recording import RecordingWriter


@dataclass
class RowSource:
    """One MatrixBuffer the recorder consumes. ``kind``: "frames", "tracks",
    "drift" or "motor"."""

    kind: str
    buffer: MatrixBuffer
    motor: str | None = None
    rows_read: int = 0
    lost: int = 0
    max_fill: float = 0.0
    #: "frames" only: drop the rows of frames up to this counter (video modes: before the video).
    after_frame: int | None = None
    _overwritten: int = field(default=0, repr=False)

    @property
    def label(self) -> str:
        return self.buffer.name

    def discard_old(self) -> int:
        """Drop what was written before the recording started; returns the rows dropped."""
        dropped = len(self.buffer.read())
        self._overwritten = self.buffer.overwritten_rows
        return dropped

    def take(self) -> tuple[np.ndarray, int]:
        """(new rows, rows newly lost to overflow since the last call)."""
        rows = self.buffer.read()
        overwritten = self.buffer.overwritten_rows
        new_lost, self._overwritten = overwritten - self._overwritten, overwritten
        self.lost += new_lost
        self.max_fill = max(self.max_fill, len(rows) / self.buffer.rows)
        if self.after_frame is not None:
            rows = rows[rows[:, 1] > self.after_frame]
        self.rows_read += len(rows)
        return rows, new_lost

    def append(self, writer: RecordingWriter, rows: np.ndarray) -> None:
        if not len(rows):
            return
        if self.kind == "frames":
            writer.append_frames(rows)
        elif self.kind == "tracks":
            writer.append_tracks(rows)
        elif self.kind == "drift":
            writer.append_drift(rows)
        else:
            assert self.motor is not None
            writer.append_motor(self.motor, rows)


class RoiWatcher:
    """Turns the BeadRoiBuffer's state into ROI change-log entries (only when it changed)."""

    def __init__(self, buffer: BeadRoiBuffer) -> None:
        self.buffer = buffer
        self._version = -1
        self.current: dict[int, tuple[int, int, int, int]] = {}

    def snapshot(self) -> dict[int, tuple[int, int, int, int]]:
        """The ROIs now (and remember them as written)."""
        self._version = self.buffer.version
        ids, rois = self.buffer.get_beads()
        self.current = {int(i): tuple(int(v) for v in r) for i, r in zip(ids, rois, strict=True)}
        return dict(self.current)

    def changes(self) -> tuple[dict[int, tuple[int, int, int, int]], list[int]]:
        """(set or moved ROIs, removed bead ids) since the last call."""
        if self.buffer.version == self._version:
            return {}, []
        before = self.current
        now = self.snapshot()
        changed = {b: r for b, r in now.items() if before.get(b) != r}
        removed = [b for b in before if b not in now]
        return changed, removed


def describe_sources(sources: list[RowSource]) -> dict[str, Any]:
    """Per-buffer counters for stats: rows read, rows lost, highest fill seen."""
    return {
        s.label: {"rows": s.rows_read, "lost": s.lost, "max_fill": round(s.max_fill, 4)}
        for s in sources
    }
