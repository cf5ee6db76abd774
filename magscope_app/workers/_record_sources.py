"""What the recorder worker reads: MatrixBuffer rows, bead ROI changes and peeked video frames.

Each source only reads shared memory and never blocks a writer: rows are consumed with
``MatrixBuffer.read()`` (the recorder is the one consumer), ROIs and frames are read lock-free.
Rows lost to overflow are counted from ``overwritten_rows`` deltas, never dropped silently.
"""

from __future__ import annotations

import collections
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..buffers import BeadRoiBuffer, BufferUnderflow, MatrixBuffer, VideoBuffer
from ..recording import RecordingWriter, VideoSpec

#: Crop slots of ROI video (beads beyond them are not cropped and are counted).
MAX_ROI_SLOTS = 64


@dataclass
class RowSource:
    """One MatrixBuffer the recorder consumes. ``kind``: "frames", "tracks" or "motor"."""

    kind: str
    buffer: MatrixBuffer
    motor: str | None = None
    rows_read: int = 0
    lost: int = 0
    max_fill: float = 0.0
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
        self.rows_read += len(rows)
        self.max_fill = max(self.max_fill, len(rows) / self.buffer.rows)
        return rows, new_lost

    def append(self, writer: RecordingWriter, rows: np.ndarray) -> None:
        if not len(rows):
            return
        if self.kind == "frames":
            writer.append_frames(rows)
        elif self.kind == "tracks":
            writer.append_tracks(rows)
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


class VideoCapture:
    """Video by peeking the newest frame (the recorder never consumes the VideoBuffer: tracking
    does). Frames that came and went between two peeks are counted in :attr:`missed`.

    mode "full": the whole frame. mode "roi": a fixed-size crop (the largest ROI at start) around
    each bead's ROI origin, in up to ``MAX_ROI_SLOTS`` slots by bead id order.
    """

    def __init__(self, video: VideoBuffer, mode: str, rois: RoiWatcher | None) -> None:
        self.video = video
        self.mode = mode
        self.rois = rois
        self.last_number: int | None = None
        self.captured = 0
        self.missed = 0
        self.beads_not_cropped = 0
        self._times: collections.OrderedDict[int, float] = collections.OrderedDict()
        if mode == "full":
            self.spec = VideoSpec("full", video.image_shape, dtype=str(video.dtype))
        else:
            current = rois.current if rois is not None else {}
            if not current:
                raise ValueError("ROI video needs at least one bead ROI (add beads first)")
            w = max(r[1] - r[0] for r in current.values())
            h = max(r[3] - r[2] for r in current.values())
            slots = max(1, min(rois.buffer.capacity, MAX_ROI_SLOTS)) if rois else 1
            self.crop = (h, w)
            self.spec = VideoSpec(
                "roi", (h, w), dtype=str(video.dtype), slots=slots, compression="lzf"
            )

    def note_frames(self, rows: np.ndarray) -> None:
        """Remember frame times (from Frames rows) to time-stamp peeked frames."""
        for t, number in rows[:, :2]:
            self._times[int(number)] = float(t)
        while len(self._times) > 4096:
            self._times.popitem(last=False)

    def capture(self, writer: RecordingWriter) -> None:
        """Write the newest frame if it is new."""
        try:
            number, image = self.video.peek_image()
        except BufferUnderflow:
            return
        if self.last_number is not None:
            if number <= self.last_number:
                return
            self.missed += number - self.last_number - 1
        self.last_number = number
        t = self._times.get(number, math.nan)
        if self.mode == "full":
            writer.append_video(image, [t], [number])
        else:
            crops, beads = self._crops(image)
            writer.append_video(crops, [t], [number], beads=beads)
        self.captured += 1

    def _crops(self, image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        slots = self.spec.slots
        h, w = self.crop
        crops = np.zeros((slots, h, w), dtype=image.dtype)
        beads = np.full((1, slots), np.nan)
        assert self.rois is not None
        items = sorted(self.rois.current.items())
        self.beads_not_cropped = max(0, len(items) - slots)
        for slot, (bead, (x0, _x1, y0, _y1)) in enumerate(items[:slots]):
            part = image[max(y0, 0) : y0 + h, max(x0, 0) : x0 + w]
            crops[slot, : part.shape[0], : part.shape[1]] = part
            beads[0, slot] = bead
        return crops, beads


def describe_sources(sources: list[RowSource]) -> dict[str, Any]:
    """Per-buffer counters for stats: rows read, rows lost, highest fill seen."""
    return {
        s.label: {"rows": s.rows_read, "lost": s.lost, "max_fill": round(s.max_fill, 4)}
        for s in sources
    }
