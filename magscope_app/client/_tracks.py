"""Tracks from shared memory: ``scope.tracks.latest(seconds=1.0)``.

The client attaches read-only to the daemon's ``Tracks`` MatrixBuffer (its name comes from
``describe``) and copies the newest rows with the buffer's lock-free, non-consuming peek: it never
slows the tracking workers and takes nothing from the recorder. Nothing goes through the socket.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from ..buffers import MatrixBuffer
from ..buffers.layouts import TRACK_COLUMNS

if TYPE_CHECKING:
    from ._scope import Scope

_INTEGER_COLUMNS = {"frame": "i8", "bead": "i4", "flags": "i4"}

#: One track row: time (s since the epoch), frame counter, bead id, x_nm, y_nm, z_nm (nm in the
#: sample; z NaN without a LUT), x_px, y_px (full-frame pixels, x = column), flags (TrackFlags).
TRACK_DTYPE = np.dtype([(c, _INTEGER_COLUMNS.get(c, "f8")) for c in TRACK_COLUMNS])
_TIME = TRACK_COLUMNS.index("time")


class Tracks:
    """The live tracks of every bead."""

    def __init__(self, scope: Scope) -> None:
        self._scope = scope
        self._buffer: MatrixBuffer | None = None
        self._rows_per_s = 4096.0  # learnt from each read, to copy about what is asked

    def _attach(self) -> MatrixBuffer:
        if self._buffer is None:
            names = {b["name"] for b in self._scope.describe()["buffers"]}
            if "Tracks" not in names:
                raise LookupError("the daemon has no Tracks buffer (is tracking configured?)")
            self._buffer = MatrixBuffer(create=False, name="Tracks", instance=self._scope.instance)
        return self._buffer

    def latest(self, seconds: float = 1.0) -> np.ndarray:
        """The rows of the last ``seconds`` s (by frame time, up to the newest row), as a
        structured array with :data:`TRACK_DTYPE` columns, in write order (frames may interleave
        when several tracking workers write); empty before anything is tracked. At most the
        buffer's capacity (``Tracks`` rows) is returned."""
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
        return out

    def close(self) -> None:
        """Detach from the shared memory (the daemon keeps it)."""
        if self._buffer is not None:
            self._buffer.close()
            self._buffer = None
