"""Track history for the plots: the window's own copy of recent tracks rows, per bead.

Pure numpy (no Qt), so it is cheap to test. :meth:`TrackHistory.pull` copies only the rows
written since the previous pull from the daemon's Tracks buffer (a non-consuming, lock-free
``peek_last``), so a refresh costs ~the new rows, not the window.
"""

from __future__ import annotations

import math

import numpy as np

from magscope_app.buffers import MatrixBuffer
from magscope_app.buffers.layouts import TRACK_COLUMNS, TrackFlags, column

TIME = column(TRACK_COLUMNS, "time")
FRAME = column(TRACK_COLUMNS, "frame")
BEAD = column(TRACK_COLUMNS, "bead")
X_NM = column(TRACK_COLUMNS, "x_nm")
Y_NM = column(TRACK_COLUMNS, "y_nm")
Z_NM = column(TRACK_COLUMNS, "z_nm")
X_PX = column(TRACK_COLUMNS, "x_px")
Y_PX = column(TRACK_COLUMNS, "y_px")
FLAGS = column(TRACK_COLUMNS, "flags")
#: Flags that mean the bead was not measured (shown as "lost").
LOST_FLAGS = int(TrackFlags.FIT_FAILED)


class _BeadRows:
    """Rows of one bead, oldest first, at most ``capacity`` (the older half is dropped when
    full: amortised O(1) per row)."""

    def __init__(self, capacity: int) -> None:
        self.data = np.empty((capacity, len(TRACK_COLUMNS)))
        self.count = 0

    def extend(self, rows: np.ndarray) -> None:
        capacity = len(self.data)
        rows = rows[-capacity:]
        if self.count + len(rows) > capacity:
            keep = max(0, min(self.count, capacity // 2, capacity - len(rows)))
            self.data[:keep] = self.data[self.count - keep : self.count]
            self.count = keep
        self.data[self.count : self.count + len(rows)] = rows
        self.count += len(rows)

    def rows(self) -> np.ndarray:
        return self.data[: self.count]


class TrackHistory:
    """Recent tracks rows per bead (``capacity`` rows per bead; 30,000 = 5 min at 100 fps)."""

    def __init__(self, capacity: int = 30_000) -> None:
        self.capacity = capacity
        self._beads: dict[int, _BeadRows] = {}
        self._seen = 0  # rows of the buffer already copied (its total_rows_written)
        self._source: int | None = None
        self.latest_time = math.nan

    def clear(self) -> None:
        self._beads.clear()
        self._seen = 0
        self.latest_time = math.nan

    def pull(self, tracks: MatrixBuffer, generation: int = 0) -> int:
        """Copy the rows written since the last pull; returns how many. ``generation`` changes
        when the buffer was re-attached (daemon restarted): the history then starts over."""
        if generation != self._source:
            self.clear()
            self._source = generation
        for _ in range(3):  # the newest rows may move under us: retry until a quiet moment
            total = tracks.total_rows_written
            new = total - self._seen
            if new < 0:  # the buffer was re-created
                self.clear()
                new = total
            if new == 0:
                return 0
            rows = tracks.peek_last(min(new, tracks.rows))
            if tracks.total_rows_written == total:
                break
        self._seen = total
        self.add(rows)
        return len(rows)

    def add(self, rows: np.ndarray) -> None:
        """Append tracks rows ``(k, len(TRACK_COLUMNS))`` (any bead order)."""
        if len(rows) == 0:
            return
        beads = rows[:, BEAD].astype(np.int64)
        order = np.argsort(beads, kind="stable")
        beads, rows = beads[order], rows[order]
        starts = np.flatnonzero(np.diff(beads, prepend=-1)).tolist()  # each bead's first row
        for start, stop in zip(starts, [*starts[1:], len(rows)], strict=True):
            bead = int(beads[start])
            store = self._beads.get(bead)
            if store is None:
                store = self._beads[bead] = _BeadRows(self.capacity)
            store.extend(rows[start:stop])
        self.latest_time = float(np.nanmax(rows[:, TIME]))

    def forget(self, keep: set[int]) -> None:
        """Drop the history of beads not in ``keep`` (removed beads)."""
        for bead in [b for b in self._beads if b not in keep]:
            del self._beads[bead]

    def beads(self) -> list[int]:
        return sorted(self._beads)

    def rows(self, bead: int, since: float = -math.inf) -> np.ndarray:
        """Rows of ``bead`` with time >= ``since`` (s since the epoch), oldest first (a view)."""
        store = self._beads.get(bead)
        if store is None:
            return np.empty((0, len(TRACK_COLUMNS)))
        rows = store.rows()
        start = int(np.searchsorted(rows[:, TIME], since)) if math.isfinite(since) else 0
        return rows[start:]

    def latest(self, bead: int) -> np.ndarray | None:
        """The newest row of ``bead``, or None."""
        store = self._beads.get(bead)
        return None if store is None or store.count == 0 else store.data[store.count - 1]

    def z_image(self, beads: list[int], t0: float, t1: float, bins: int) -> np.ndarray:
        """Mean z (nm) of each bead in ``bins`` time bins from ``t0`` to ``t1``: shape
        ``(bins, len(beads))`` (time along the first axis, as pyqtgraph draws x); NaN where a
        bead has no valid z in a bin."""
        image = np.full((bins, len(beads)), np.nan, dtype=np.float32)
        width = (t1 - t0) / bins
        if width <= 0:
            return image
        for j, bead in enumerate(beads):
            rows = self.rows(bead, t0)
            z = rows[:, Z_NM]
            ok = np.isfinite(z)
            if not ok.any():
                continue
            index = np.clip(((rows[ok, TIME] - t0) / width).astype(np.int64), 0, bins - 1)
            sums = np.bincount(index, weights=z[ok], minlength=bins)
            counts = np.bincount(index, minlength=bins)
            with np.errstate(invalid="ignore", divide="ignore"):
                image[:, j] = np.where(counts > 0, sums / counts, np.nan)
        return image
