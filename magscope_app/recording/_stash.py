"""Reordering of track rows that arrive out of frame order from parallel tracking workers.

Rule (documented for users of the recorder):

* Rows are grouped by frame counter. Frames are released strictly in increasing frame order, each
  released frame's rows sorted by bead id.
* The oldest pending frame ``f`` is released when either
  (a) the number of beads per frame ``n`` is known, ``f`` holds at least ``n`` rows, and ``f`` is
      the frame right after the last released one (``f == last + 1``); or
  (b) a frame ``>= f + window`` has arrived (``window`` frames, default 100), i.e. ``f`` waited
      long enough. This covers the first frame, gaps in the frame counter (frames lost by the
      camera) and frames with fewer rows than ``n`` (a bead failed, beads changed).
* ``pop_all()`` (at close) releases everything pending, in order.
* Rows of a frame that was already released ("late rows", e.g. a worker slower than the window) are
  never dropped: they are released with the next batch, sorted among themselves, and counted in
  ``late_rows``. Readers sort per bead by frame, so they still see them in order.
"""

from __future__ import annotations

import heapq

import numpy as np

from magscope_app.buffers.layouts import TRACK_COLUMNS, column

_FRAME = column(TRACK_COLUMNS, "frame")
_BEAD = column(TRACK_COLUMNS, "bead")
_NCOL = len(TRACK_COLUMNS)


def sort_rows(rows: np.ndarray) -> np.ndarray:
    """Rows sorted by (frame, bead), stable."""
    if len(rows) < 2:
        return rows
    return rows[np.lexsort((rows[:, _BEAD], rows[:, _FRAME]))]


class TrackStash:
    """Holds track rows until their frame is complete, then releases them in frame order.

    Rows are float64 arrays of shape (n, 9) in ``TRACK_COLUMNS`` order. Memory: at most about
    ``window`` frames of rows stay pending while frames keep arriving.
    """

    def __init__(self, window: int = 100, beads_per_frame: int | None = None) -> None:
        if window < 1:
            raise ValueError(f"reorder window must be >= 1 frame, got {window}")
        self.window = int(window)
        self.beads_per_frame = beads_per_frame
        self._groups: dict[int, list[np.ndarray]] = {}
        self._counts: dict[int, int] = {}
        self._heap: list[int] = []
        self._late: list[np.ndarray] = []
        self.newest: int | None = None  #: highest frame counter seen
        self.last_released: int | None = None  #: highest frame counter released
        self.pending_rows = 0  #: rows held (not yet released)
        self.late_rows = 0  #: rows that arrived after their frame was released

    def add(self, rows: np.ndarray) -> None:
        """Take rows of any frames in any order. ``rows``: (n, 9) float64."""
        rows = np.asarray(rows, dtype=np.float64)
        if rows.ndim != 2 or rows.shape[1] != _NCOL:
            raise ValueError(f"track rows must have shape (n, {_NCOL}), got {rows.shape}")
        if len(rows) == 0:
            return
        frames = rows[:, _FRAME]
        if self.last_released is not None:
            late = frames <= self.last_released
            if late.any():
                self._late.append(rows[late])
                self.late_rows += int(late.sum())
                self.pending_rows += int(late.sum())
                rows = rows[~late]
                if len(rows) == 0:
                    return
                frames = rows[:, _FRAME]
        if frames.min() == frames.max():  # the common case: one frame per call
            self._put(int(frames[0]), rows)
        else:
            order = np.argsort(frames, kind="stable")
            rows = rows[order]
            frames = frames[order]
            cuts = np.flatnonzero(np.diff(frames)) + 1
            for part in np.split(rows, cuts):
                self._put(int(part[0, _FRAME]), part)

    def _put(self, frame: int, rows: np.ndarray) -> None:
        group = self._groups.get(frame)
        if group is None:
            self._groups[frame] = [rows]
            self._counts[frame] = len(rows)
            heapq.heappush(self._heap, frame)
        else:
            group.append(rows)
            self._counts[frame] += len(rows)
        self.pending_rows += len(rows)
        if self.newest is None or frame > self.newest:
            self.newest = frame

    def _ready(self, frame: int) -> bool:
        assert self.newest is not None
        if self.newest >= frame + self.window:
            return True
        n = self.beads_per_frame
        return (
            n is not None
            and self.last_released is not None
            and frame == self.last_released + 1
            and self._counts[frame] >= n
        )

    def pop_ready(self) -> np.ndarray:
        """Rows of every frame released now (rule in the module docstring), (k, 9), maybe k=0."""
        out: list[np.ndarray] = self._late
        late = len(out)
        self._late = []
        while self._heap and self._ready(self._heap[0]):
            self._release(heapq.heappop(self._heap), out)
        return self._finish(out, late)

    def pop_all(self) -> np.ndarray:
        """Every pending row, in frame order (late rows first). Used at close."""
        out: list[np.ndarray] = self._late
        late = len(out)
        self._late = []
        while self._heap:
            self._release(heapq.heappop(self._heap), out)
        return self._finish(out, late)

    def _release(self, frame: int, out: list[np.ndarray]) -> None:
        out.extend(self._groups.pop(frame))
        del self._counts[frame]
        self.last_released = frame

    def _finish(self, out: list[np.ndarray], late: int) -> np.ndarray:
        if not out:
            return np.empty((0, _NCOL))
        late_rows = sort_rows(np.concatenate(out[:late])) if late else None
        rest = sort_rows(np.concatenate(out[late:])) if len(out) > late else None
        parts = [p for p in (late_rows, rest) if p is not None]
        rows = parts[0] if len(parts) == 1 else np.concatenate(parts)
        self.pending_rows -= len(rows)
        return rows
