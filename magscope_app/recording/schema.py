"""Names, columns, attributes and the format version of a recording file.

One HDF5 file per recording (``FORMAT_NAME``, ``FORMAT_VERSION``). Layout (N grows along time; every
numeric table is a 2-D float64 dataset with a ``columns`` attribute):

``/tracks``            (N, 9)  TRACK_COLUMNS, rows in frame order, within a frame by bead id
``/frames``            (N, 3)  FRAME_COLUMNS: time (s since epoch), frame counter, lost (the
                       camera's cumulative count of lost frames when this frame was taken)
``/motors/<name>``     (N, 4)  MOTOR_COLUMNS: time, position, target, moving (attr ``unit``)
``/drift``             (N, 6)  DRIFT_COLUMNS: time, frame, dx_nm, dy_nm, dz_nm, n_used: the drift
                       of each frame measured on the reference beads (subtract it from /tracks,
                       which stay raw); which beads were references, kept and rejected is in
                       /log (source ``locks``, text ``drift references {json}``)
``/zlut/index``        (K, 6)  ZLUT_INDEX_COLUMNS: one row per LUT taken into use
``/zlut/z``            (sum m,)          z of every LUT, concatenated (m)
``/zlut/profiles``     (sum m*n_bins,)   radial profiles of every LUT, flattened row-major
``/zlut/settings``     (K,)    JSON text: the settings the LUT was made with
``/beads/rois``        (N, 7)  ROI_COLUMNS: time-stamped ROI change log (present 1 = set or moved,
                       0 = removed; coordinates in pixels of the full frame, x = column)
``/config/settings``   scalar JSON text: the daemon settings at start
``/config/hardware``   scalar JSON text: the hardware description at start
``/log``               (N,)    compound LOG_DTYPE: time, level, source, text
``/video/index``       (N, 2)  VIDEO_INDEX_COLUMNS: time, frame counter of every frame the video
                       holds, in order (both video modes; a frame without beads is listed too)
``/video/frames``      (N, H, W) full frames, one chunk per frame (``full`` mode)
``/video/rois``        (M, h, w) bead ROI crops, one per bead per frame, in frame order and within a
                       frame by bead id (``roi`` mode); crop pixel (r, c) is frame pixel
                       (y0 + r, x0 + c), 0 where that lies outside the frame
``/video/roi_index``   (M, 4)  ROI_VIDEO_COLUMNS: frame counter, bead id, x0, y0 of each crop
                       (``roi`` mode). Video datasets have attrs ``mode`` (``full``/``roi``) and
                       ``compression`` (``none``, ``gzip``, ``lzf``, ``blosc-lz4``)

Z-LUT settings are JSON text in ``/zlut/settings`` rather than attributes: LUTs can be taken into
use while recording, and HDF5 does not support adding attributes (or datasets) under SWMR.

Root attributes: all are created when the file is created, before SWMR starts, and only
their values change later (SWMR forbids adding attributes). ``stop_time`` NaN and ``stop_reason``
empty mean "still recording, or crashed".
"""

from __future__ import annotations

from enum import StrEnum

import h5py
import numpy as np

from magscope_app.buffers.layouts import DRIFT_COLUMNS, MOTOR_COLUMNS, TRACK_COLUMNS

FORMAT_NAME = "magscope-recording"
#: Bumped on any incompatible change of the layout above (2: ROI video as one crop per row).
FORMAT_VERSION = 2

FRAME_COLUMNS: tuple[str, ...] = ("time", "frame", "lost")
ZLUT_INDEX_COLUMNS: tuple[str, ...] = (
    "time", "bead", "m", "n_bins", "z_offset", "profile_offset",
)  # fmt: skip
ROI_COLUMNS: tuple[str, ...] = ("time", "bead", "x0", "x1", "y0", "y1", "present")
VIDEO_INDEX_COLUMNS: tuple[str, ...] = ("time", "frame")
ROI_VIDEO_COLUMNS: tuple[str, ...] = ("frame", "bead", "x0", "y0")

LOG_DTYPE = np.dtype(
    [
        ("time", "f8"),
        ("level", h5py.string_dtype()),
        ("source", h5py.string_dtype()),
        ("text", h5py.string_dtype()),
    ]
)

TRACKS = "/tracks"
FRAMES = "/frames"
DRIFT = "/drift"
MOTORS = "/motors"
ZLUT_INDEX = "/zlut/index"
ZLUT_Z = "/zlut/z"
ZLUT_PROFILES = "/zlut/profiles"
ZLUT_SETTINGS = "/zlut/settings"
ROIS = "/beads/rois"
CONFIG_SETTINGS = "/config/settings"
CONFIG_HARDWARE = "/config/hardware"
LOG = "/log"
VIDEO_FRAMES = "/video/frames"
VIDEO_INDEX = "/video/index"
VIDEO_ROIS = "/video/rois"
VIDEO_ROI_INDEX = "/video/roi_index"


class StopReason(StrEnum):
    """Why a recording stopped (root attribute ``stop_reason``)."""

    USER = "user"  #: the operator (GUI, console or API) stopped it
    SCRIPT_END = "script_end"  #: the experiment script that started it ended
    #: a write failed, the disk filled up or was slower than the video stream; the file holds
    #: what was written (the reason is in /log)
    ERROR = "error"
    RECOVERED_AFTER_CRASH = "recovered_after_crash"  #: set by recover() on a file left open
    DURATION_REACHED = "duration_reached"  #: the requested duration has elapsed
    COMPLETED = "completed"  #: a client's recording block (``with scope.record(...)``) ended
    ABORTED = "aborted"  #: an error or an abort ended the client's recording block or script


#: Fixed-size string attributes: written in place at close, no attribute is added under SWMR.
STOP_REASON_DTYPE = "S32"
CHECKSUM_DTYPE = "S80"

#: Root attribute names.
A_FORMAT = "format"
A_FORMAT_VERSION = "format_version"
A_SOFTWARE_VERSION = "software_version"
A_INSTANCE = "instance"
A_HOST = "host"
A_START_TIME = "start_time"  # s since the epoch
A_STOP_TIME = "stop_time"  # s since the epoch; NaN while recording
A_STOP_REASON = "stop_reason"  # StopReason value; empty while recording
A_RECOVERED_TIME = "recovered_time"  # s since the epoch when recover() ran; NaN otherwise
A_CHECKSUM = "checksum"  # "sha256:<hex>" (see checksum.py); empty unless closed cleanly
A_CHECKSUM_ALGORITHM = "checksum_algorithm"
A_LATE_ROWS = "tracks_late_rows"  # track rows written after a later frame (see _stash.py)
A_VIDEO = "video"  # "none", "full" or "roi"

#: Sidecar written by recover() when the file itself cannot be opened for writing.
SIDECAR_SUFFIX = ".recovery.json"

__all__ = [
    "DRIFT_COLUMNS",
    "FORMAT_NAME",
    "FORMAT_VERSION",
    "FRAME_COLUMNS",
    "LOG_DTYPE",
    "MOTOR_COLUMNS",
    "ROI_COLUMNS",
    "ROI_VIDEO_COLUMNS",
    "TRACK_COLUMNS",
    "VIDEO_INDEX_COLUMNS",
    "ZLUT_INDEX_COLUMNS",
    "StopReason",
]


def decode(value: object) -> object:
    """Attribute value as plain Python: bytes -> str, numpy scalars -> int/float, arrays -> list."""
    if isinstance(value, bytes | np.bytes_):
        return bytes(value).decode("utf-8", "replace")
    if isinstance(value, np.ndarray):
        return [decode(v) for v in value.tolist()]
    if isinstance(value, np.generic):
        return value.item()
    return value
