"""Column layouts of the float64 rows that travel through MatrixBuffers.

Shared by the tracking workers (writers), the recorder and viewers (readers). Integers (frame,
bead id, flags) are stored exactly in float64 up to 2**53.
"""

from __future__ import annotations

from enum import IntFlag

#: One row per bead per frame, written by the tracking workers to the tracks buffer.
#: time: frame timestamp (s since the epoch); frame: frame counter; bead: bead id;
#: x_nm, y_nm, z_nm: position in the sample (nm; z NaN without a LUT or out of its range);
#: x_px, y_px: position in the full camera frame (pixels, x = column, y = row);
#: flags: TrackFlags bits.
TRACK_COLUMNS: tuple[str, ...] = (
    "time", "frame", "bead", "x_nm", "y_nm", "z_nm", "x_px", "y_px", "flags",
)  # fmt: skip

#: One row per frame stored by the camera worker (time: frame timestamp, s since the epoch;
#: frame: frame counter; lost: frames lost since the camera worker (re)started, cumulative).
FRAME_COLUMNS: tuple[str, ...] = ("time", "frame", "lost")

#: One row per tracked frame, written by the lock service to the ``Drift`` buffer: time and frame
#: as in TRACK_COLUMNS; dx_nm, dy_nm, dz_nm: the drift (mean motion of the reference beads kept,
#: nm; NaN where unknown) to subtract from every bead's position; n_used: reference beads kept.
DRIFT_COLUMNS: tuple[str, ...] = ("time", "frame", "dx_nm", "dy_nm", "dz_nm", "n_used")

#: One row per telemetry sample of a motor (time in s since the epoch; position and target in
#: the motor's unit; moving 0.0 or 1.0).
MOTOR_COLUMNS: tuple[str, ...] = ("time", "position", "target", "moving")


class TrackFlags(IntFlag):
    """Why a track row is not a clean measurement. 0 means a clean measurement."""

    AT_EDGE = 1  #: the bead's ROI touches or crosses the frame edge
    FIT_FAILED = 2  #: the xy fit did not converge or left the ROI
    Z_INVALID = 4  #: no Z-LUT for the bead, or z outside the LUT range


def column(columns: tuple[str, ...], name: str) -> int:
    """Index of column ``name``; raises KeyError naming the known columns."""
    try:
        return columns.index(name)
    except ValueError:
        raise KeyError(f"no column {name!r}; columns are {columns}") from None
