"""Tracks from shared memory: ``scope.tracks.latest(seconds=1.0)``.

The client attaches read-only to the daemon's ``Tracks`` MatrixBuffer (its name comes from
``describe``) and copies the newest rows with the buffer's lock-free, non-consuming peek: it never
slows the tracking workers and takes nothing from the recorder. Nothing goes through the socket.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from ..buffers import MatrixBuffer
from ..buffers.layouts import DRIFT_COLUMNS, TRACK_COLUMNS

if TYPE_CHECKING:
    from ._scope import Scope

_INTEGER_COLUMNS = {"frame": "i8", "bead": "i4", "flags": "i4"}

#: One track row: time (s since the epoch), frame counter, bead id, x_nm, y_nm, z_nm (nm in the
#: sample; z NaN without a LUT), x_px, y_px (full-frame pixels, x = column), flags (TrackFlags).
TRACK_DTYPE = np.dtype([(c, _INTEGER_COLUMNS.get(c, "f8")) for c in TRACK_COLUMNS])
_TIME = TRACK_COLUMNS.index("time")
_DRIFT_FRAME = DRIFT_COLUMNS.index("frame")  # dx_nm, dy_nm, dz_nm follow


class Tracks:
    """The live tracks of every bead."""

    def __init__(self, scope: Scope) -> None:
        self._scope = scope
        self._buffer: MatrixBuffer | None = None
        self._drift: MatrixBuffer | None = None
        self._rows_per_s = 4096.0  # learnt from each read, to copy about what is asked

    def _attach(self) -> MatrixBuffer:
        if self._buffer is None:
            names = {b["name"] for b in self._scope.describe()["buffers"]}
            if "Tracks" not in names:
                raise LookupError("the daemon has no Tracks buffer (is tracking configured?)")
            self._buffer = MatrixBuffer(create=False, name="Tracks", instance=self._scope.instance)
        return self._buffer

    def latest(self, seconds: float = 1.0, *, corrected: bool = False) -> np.ndarray:
        """The rows of the last ``seconds`` s (by frame time, up to the newest row), as a
        structured array with :data:`TRACK_DTYPE` columns, in write order (frames may interleave
        when several tracking workers write); empty before anything is tracked. At most the
        buffer's capacity (``Tracks`` rows) is returned.

        ``corrected=True``: x_nm, y_nm, z_nm less the drift of their frame measured on the
        reference beads (the daemon's ``Drift`` buffer; see ``scope.locks``); NaN where that
        frame's drift is not known (yet: it lags the newest frame by a few frames). x_px, y_px
        stay raw."""
        if seconds <= 0:
            raise ValueError(f"seconds must be > 0, got {seconds!r}")
        buffer = self._attach()
        capacity = min(buffer.rows, buffer.total_rows_written)
        wanted = min(capacity, max(64, int(self._rows_per_s * seconds * 1.25)))
        while True:
            rows = buffer.peek_last(wanted)
            times = rows[:, _TIME]
            if len(rows) == 0 or np.isnan(times).all():
                return np.empty(0, TRACK_DTYPE)
            newest = np.nanmax(times)
            span = newest - np.nanmin(times)
            if span >= seconds or wanted >= capacity:
                break
            wanted = min(capacity, wanted * 2)
        if span > 0:
            self._rows_per_s = len(rows) / span
        selected = rows[times > newest - seconds]
        out = np.empty(len(selected), TRACK_DTYPE)
        for index, name in enumerate(TRACK_COLUMNS):
            out[name] = selected[:, index]
        if corrected:
            self._subtract_drift(out)
        return out

    def _subtract_drift(self, rows: np.ndarray) -> None:
        """Subtract each row's frame drift from x_nm, y_nm, z_nm in place (NaN if unknown)."""
        if self._drift is None:
            names = {b["name"] for b in self._scope.describe()["buffers"]}
            if "Drift" not in names:
                raise LookupError("the daemon has no Drift buffer (no lock service)")
            self._drift = MatrixBuffer(create=False, name="Drift", instance=self._scope.instance)
        if not len(rows):
            return
        oldest = int(rows["frame"].min())
        wanted = int(rows["frame"].max()) - oldest + 64  # one drift row per frame
        drift = self._drift.peek_last(min(self._drift.rows, wanted))
        drift = drift[drift[:, _DRIFT_FRAME] >= oldest]
        drift = drift[np.argsort(drift[:, _DRIFT_FRAME], kind="stable")]
        at = np.searchsorted(drift[:, _DRIFT_FRAME], rows["frame"])
        found = at < len(drift)
        found[found] = drift[at[found], _DRIFT_FRAME] == rows["frame"][found]
        for axis, name in enumerate(("x_nm", "y_nm", "z_nm")):
            shift = np.full(len(rows), np.nan)
            shift[found] = drift[at[found], _DRIFT_FRAME + 1 + axis]
            rows[name] -= shift

    def close(self) -> None:
        """Detach from the shared memory (the daemon keeps it)."""
        for buffer in (self._buffer, self._drift):
            if buffer is not None:
                buffer.close()
        self._buffer = self._drift = None
