"""The recording writer: one HDF5 file per recording, written in SWMR mode.

Guarantees:

* Every dataset and attribute exists before SWMR starts; a second process can open the file with
  ``h5py.File(path, "r", swmr=True)`` (or ``open_recording``) at any time and see it grow.
* Track rows are reordered by frame (rule in ``_stash.py``) and written in frame order.
* The file is flushed when an append finds more than ``flush_interval`` (1 s) since the last flush,
  and on ``flush()`` / ``flush_if_due()``. A crash (even SIGKILL) leaves a file that opens and
  holds everything up to the last flush; rows still waiting in the reorder window are lost with it.
* Nothing is dropped silently: a failed write or a full disk raises ``RecordingError`` naming the
  file and the problem (and how many rows could not be written); the file is closed with stop
  reason "error" and stays readable with everything up to the last flush.
* ``close()`` writes everything left, in order, then the stop time and reason and the checksum.

The writer is not thread-safe; the recorder process owns one and calls it from one thread.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import math
import os
import re
import resource
import shutil
import socket
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import h5py
import numpy as np

import magscope_app
from magscope_app.recording import schema
from magscope_app.recording._filters import PLUGIN_COMPRESSIONS, blosc_lz4_kwargs
from magscope_app.recording._stash import TrackStash
from magscope_app.recording._table import Table
from magscope_app.recording.checksum import ALGORITHM, DatasetHasher, combine
from magscope_app.recording.errors import RecordingError
from magscope_app.recording.schema import StopReason

if TYPE_CHECKING:
    from magscope_app.tracking import ZLUT

_TRACK_CHUNK_ROWS = 8192
_TABLE_CHUNK_ROWS = 1024
_MiB = 2**20


#: Lossless video compressions: "lzf" and "gzip" ship with h5py; "blosc-lz4" (much faster)
#: needs the optional hdf5plugin package, see ``_filters``.
VIDEO_COMPRESSIONS = ("none", "lzf", "gzip", *PLUGIN_COMPRESSIONS)
#: Bytes of one HDF5 chunk of ROI crops (whole crops per chunk, at least one).
_ROI_CHUNK_BYTES = 256 * 2**10


@dataclass(frozen=True)
class VideoSpec:
    """Optional video stream of a recording.

    mode "full": whole camera frames of ``shape`` = (H, W), one HDF5 chunk per frame.
    mode "roi": bead ROI crops of ``shape`` = (h, w), one row per bead per frame, chunks of
    about 256 KiB. ``dtype``: the pixel dtype.
    compression (lossless): None or "none" (raw), "lzf" or "gzip" (``gzip_level`` 0-9), the
    two with HDF5's byte-shuffle filter when pixels are wider than a byte, or "blosc-lz4"
    (Blosc LZ4 with bit-shuffle; needs hdf5plugin to write and to read).
    """

    mode: Literal["full", "roi"]
    shape: tuple[int, int]
    dtype: str = "uint16"
    compression: Literal["none", "gzip", "lzf", "blosc-lz4"] | None = None
    gzip_level: int = 1

    def __post_init__(self) -> None:
        if self.mode not in ("full", "roi"):
            raise ValueError(f"video mode must be 'full' or 'roi', got {self.mode!r}")
        if self.compression not in (None, *VIDEO_COMPRESSIONS):
            raise ValueError(
                f"video compression must be one of {', '.join(VIDEO_COMPRESSIONS)}; "
                f"got {self.compression!r}"
            )
        if self.compression == "none":
            object.__setattr__(self, "compression", None)
        if not 0 <= int(self.gzip_level) <= 9:
            raise ValueError(f"gzip_level must be 0-9, got {self.gzip_level!r}")

    def chunks(self) -> tuple[int, int, int]:
        """HDF5 chunk shape of the video dataset."""
        h, w = self.shape
        if self.mode == "full":
            return (1, h, w)
        crop_bytes = h * w * np.dtype(self.dtype).itemsize
        return (max(1, _ROI_CHUNK_BYTES // crop_bytes), h, w)

    def h5_kwargs(self) -> dict[str, Any]:
        """Filter arguments of ``create_dataset``."""
        if self.compression is None:
            return {}
        if self.compression == "blosc-lz4":
            return blosc_lz4_kwargs()
        shuffle = np.dtype(self.dtype).itemsize > 1
        if self.compression == "gzip":
            return {"compression": "gzip", "compression_opts": int(self.gzip_level),
                    "shuffle": shuffle}  # fmt: skip
        return {"compression": "lzf", "shuffle": shuffle}


class _SpaceError(Exception):
    pass


def _size(n: float) -> str:
    for unit in ("bytes", "KiB", "MiB", "GiB"):
        if abs(n) < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GiB"


def _describe(exc: BaseException) -> str:
    """One-line text of an exception; HDF5's multi-line messages reduced to the errno text."""
    text = " ".join(str(exc).split())
    m = re.search(r"error message = '([^']*)'", text)
    if m:
        head = text.split("(", 1)[0].strip()
        return f"{m.group(1)} ({head})"
    return text


def _json(value: Mapping[str, Any] | str | None) -> str:
    if value is None:
        return "{}"
    if isinstance(value, str):
        return value
    return json.dumps(value, default=str, sort_keys=True)


def _as_rows(rows: np.ndarray | Sequence[float], ncol: int, what: str) -> np.ndarray:
    arr = np.asarray(rows, dtype=np.float64)
    if arr.ndim == 1 and arr.shape[0] == ncol:
        arr = arr[None, :]
    if arr.ndim != 2 or arr.shape[1] != ncol:
        raise ValueError(f"{what} rows must have shape (n, {ncol}), got {arr.shape}")
    return arr


class RecordingWriter:
    """Writes one recording file. Use as a context manager or call ``close()``.

    Parameters (all but ``path`` and ``instance`` optional):

    path: the new file (must not exist; missing parent folders are created).
    instance: daemon instance name. motors: motor names, or {name: unit}.
    settings, hardware: JSON-able mappings (or JSON text) stored under /config.
    rois: {bead: (x0, x1, y0, y1)} at start (pixels). zluts: the Z-LUTs in use at start, bead id
      -> ZLUT (bead None, the default LUT, is stored as bead -1).
    video: a VideoSpec, or None for no video.
    beads_per_frame, reorder_window: reordering rule, see ``_stash.py``.
    flush_interval: s between flushes (at most; checked on every append).
    min_free_bytes: stop with RecordingError when less than this would be left on the disk (or
      under RLIMIT_FSIZE) after a write; None disables the check (a real write error is still
      caught and reported).
    block_bytes: buffered bytes per table that trigger a write before the next flush.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        instance: str,
        motors: Sequence[str] | Mapping[str, str] = (),
        settings: Mapping[str, Any] | str | None = None,
        hardware: Mapping[str, Any] | str | None = None,
        rois: Mapping[int, Sequence[float]] | None = None,
        zluts: Mapping[int | None, ZLUT] | None = None,
        video: VideoSpec | None = None,
        beads_per_frame: int | None = None,
        reorder_window: int = 100,
        flush_interval: float = 1.0,
        start_time: float | None = None,
        min_free_bytes: int | None = 64 * _MiB,
        block_bytes: int = 4 * _MiB,
    ) -> None:
        self.path = Path(path).absolute()
        self.instance = instance
        self.video = video
        self.flush_interval = float(flush_interval)
        self.min_free_bytes = min_free_bytes
        self.block_bytes = int(block_bytes)
        self.start_time = time.time() if start_time is None else float(start_time)
        self._stash = TrackStash(reorder_window, beads_per_frame)
        self._closed = False
        self._failed: RecordingError | None = None
        self._checksum_valid = True
        self._static_digests: list[tuple[str, np.dtype, tuple[int, ...], str]] = []
        units = dict(motors) if isinstance(motors, Mapping) else dict.fromkeys(motors, "")
        for name in units:
            if not name or "/" in name or name.startswith("."):
                raise ValueError(f"invalid motor name {name!r}")
        self._last_flush = time.monotonic()
        self._lock_fd = -1
        self._f = self._create(units, settings, hardware)
        try:
            for bead, roi in (rois or {}).items():
                self.set_roi(bead, *roi, time=self.start_time)
            for bead, lut in (zluts or {}).items():
                self.add_zlut(
                    -1 if bead is None else bead,
                    lut.z_nm,
                    lut.profiles,
                    lut.settings.to_dict(),
                    time=self.start_time,
                )
            self._write_all()
            self._f.swmr_mode = True  # after every dataset exists: no object is added later
            self._f.flush()
            self._lock_fd = self._take_lock()
        except Exception as e:
            self._abort_create()
            raise RecordingError(self.path, f"cannot start the recording: {e}") from e
        for t in self._tables.values():
            t.mark_flushed()
        self._last_flush = time.monotonic()

    # ------------------------------------------------------------------ creation
    def _create(
        self,
        units: dict[str, str],
        settings: Mapping[str, Any] | str | None,
        hardware: Mapping[str, Any] | str | None,
    ) -> h5py.File:
        folder = self.path.parent
        if folder.exists() and not folder.is_dir():
            raise RecordingError(
                self.path, f"cannot create the recording: {folder} is not a folder"
            )
        if self.path.exists():
            raise RecordingError(self.path, "cannot create the recording: the file already exists")
        try:
            folder.mkdir(parents=True, exist_ok=True)
            f = h5py.File(self.path, "w-", libver="latest")
        except (OSError, ValueError) as e:
            raise RecordingError(self.path, f"cannot create the recording: {e}") from e
        try:
            self._tables: dict[str, Table] = {}
            self._layout(f, units, settings, hardware)
        except Exception as e:
            f.close()
            self.path.unlink(missing_ok=True)
            raise RecordingError(self.path, f"cannot create the recording: {e}") from e
        return f

    def _table(self, f: h5py.File, name: str, columns: tuple[str, ...], chunk: int) -> Table:
        ds = f.create_dataset(
            name, shape=(0, len(columns)), maxshape=(None, len(columns)), dtype="f8",
            chunks=(chunk, len(columns)),
        )  # fmt: skip
        ds.attrs["columns"] = list(columns)
        t = Table(ds)
        self._tables[name] = t
        return t

    def _layout(
        self,
        f: h5py.File,
        units: dict[str, str],
        settings: Mapping[str, Any] | str | None,
        hardware: Mapping[str, Any] | str | None,
    ) -> None:
        a = f.attrs
        a[schema.A_FORMAT] = schema.FORMAT_NAME
        a[schema.A_FORMAT_VERSION] = schema.FORMAT_VERSION
        a[schema.A_SOFTWARE_VERSION] = magscope_app.__version__
        a[schema.A_INSTANCE] = self.instance
        a[schema.A_HOST] = socket.gethostname()
        a[schema.A_START_TIME] = self.start_time
        a[schema.A_STOP_TIME] = math.nan
        a.create(schema.A_STOP_REASON, b"", dtype=schema.STOP_REASON_DTYPE)
        a[schema.A_RECOVERED_TIME] = math.nan
        a.create(schema.A_CHECKSUM, b"", dtype=schema.CHECKSUM_DTYPE)
        a[schema.A_CHECKSUM_ALGORITHM] = ALGORITHM
        a[schema.A_LATE_ROWS] = np.int64(0)
        a[schema.A_VIDEO] = "none" if self.video is None else self.video.mode

        tr = self._table(f, schema.TRACKS, schema.TRACK_COLUMNS, _TRACK_CHUNK_ROWS)
        tr.ds.attrs["units"] = "time s since epoch; x_nm, y_nm, z_nm nm; x_px, y_px pixels"
        tr.ds.attrs["order"] = "frame, then bead"
        self._table(f, schema.FRAMES, schema.FRAME_COLUMNS, _TABLE_CHUNK_ROWS)
        drift = self._table(f, schema.DRIFT, schema.DRIFT_COLUMNS, _TABLE_CHUNK_ROWS)
        drift.ds.attrs["units"] = "time s since epoch; dx_nm, dy_nm, dz_nm nm"
        f.create_group(schema.MOTORS)
        self._motors: dict[str, Table] = {}
        for name, unit in units.items():
            t = self._table(f, f"{schema.MOTORS}/{name}", schema.MOTOR_COLUMNS, _TABLE_CHUNK_ROWS)
            t.ds.attrs["unit"] = unit
            self._motors[name] = t
        self._table(f, schema.ZLUT_INDEX, schema.ZLUT_INDEX_COLUMNS, 64)
        for name in (schema.ZLUT_Z, schema.ZLUT_PROFILES):
            ds = f.create_dataset(name, shape=(0,), maxshape=(None,), dtype="f8", chunks=(4096,))
            self._tables[name] = Table(ds)
        ds = f.create_dataset(
            schema.ZLUT_SETTINGS, shape=(0,), maxshape=(None,), dtype=h5py.string_dtype(),
            chunks=(64,),
        )  # fmt: skip
        self._tables[schema.ZLUT_SETTINGS] = Table(ds)
        self._table(f, schema.ROIS, schema.ROI_COLUMNS, 256)
        for name, value in ((schema.CONFIG_SETTINGS, settings), (schema.CONFIG_HARDWARE, hardware)):
            text = _json(value)
            ds = f.create_dataset(name, data=text, dtype=h5py.string_dtype())
            h = DatasetHasher(ds.dtype)
            h.update(text)
            self._static_digests.append((name, ds.dtype, ds.shape, h.hexdigest()))
        ds = f.create_dataset(
            schema.LOG, shape=(0,), maxshape=(None,), dtype=schema.LOG_DTYPE, chunks=(256,)
        )
        self._tables[schema.LOG] = Table(ds)
        self._video: Table | None = None
        if self.video is not None:
            self._table(f, schema.VIDEO_INDEX, schema.VIDEO_INDEX_COLUMNS, 1024)
            name = schema.VIDEO_FRAMES if self.video.mode == "full" else schema.VIDEO_ROIS
            ds = f.create_dataset(
                name, shape=(0, *self.video.shape), maxshape=(None, *self.video.shape),
                dtype=self.video.dtype, chunks=self.video.chunks(), **self.video.h5_kwargs(),
            )  # fmt: skip
            ds.attrs["mode"] = self.video.mode
            ds.attrs["compression"] = self.video.compression or "none"
            # full frames are written at once (not concatenated); crops in blocks (whole chunks)
            self._video = Table(ds, write_at_bytes=1 if self.video.mode == "full" else None)
            self._tables[name] = self._video
            if self.video.mode == "roi":
                self._table(f, schema.VIDEO_ROI_INDEX, schema.ROI_VIDEO_COLUMNS, 4096)

    def _take_lock(self) -> int:
        """Hold a shared flock while writing: HDF5 drops its own lock in SWMR mode, and recover()
        must see that the file is in use. Shared, so SWMR readers (which flock too) still open."""
        fd = os.open(self.path, os.O_RDONLY)
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            raise
        return fd

    def _release_lock(self) -> None:
        fd, self._lock_fd = self._lock_fd, -1
        if fd >= 0:
            os.close(fd)  # releases the flock

    def _abort_create(self) -> None:
        try:
            self._f.close()
        finally:
            self._release_lock()
            self.path.unlink(missing_ok=True)

    # ------------------------------------------------------------------ appends
    def append_tracks(self, rows: np.ndarray) -> None:
        """Add track rows (n, 9) in TRACK_COLUMNS order, of any frames, in any order."""
        self._check_open()
        self._stash.add(_as_rows(rows, len(schema.TRACK_COLUMNS), "track"))
        ready = self._stash.pop_ready()
        if len(ready):
            self._tables[schema.TRACKS].add(ready)
        self._after_append()

    def set_beads_per_frame(self, n: int | None) -> None:
        """Tell the reorderer how many rows make a frame complete (None: rely on the window)."""
        self._stash.beads_per_frame = n

    def append_frames(self, rows: np.ndarray | Sequence[float]) -> None:
        """Add camera frames: rows (n, 3) = time (s since epoch), frame counter, lost (camera's
        cumulative lost-frame count)."""
        self._check_open()
        self._tables[schema.FRAMES].add(_as_rows(rows, len(schema.FRAME_COLUMNS), "frame"))
        self._after_append()

    def append_drift(self, rows: np.ndarray) -> None:
        """Add drift rows (n, 6) = time, frame, dx_nm, dy_nm, dz_nm, n_used (DRIFT_COLUMNS)."""
        self._check_open()
        self._tables[schema.DRIFT].add(_as_rows(rows, len(schema.DRIFT_COLUMNS), "drift"))
        self._after_append()

    def append_motor(self, name: str, rows: np.ndarray) -> None:
        """Add telemetry rows (n, 4) = time, position, target, moving of motor ``name``."""
        self._check_open()
        table = self._motors.get(name)
        if table is None:
            raise KeyError(f"unknown motor {name!r}; this recording has {sorted(self._motors)}")
        table.add(_as_rows(rows, len(schema.MOTOR_COLUMNS), "motor"))
        self._after_append()

    def add_zlut(
        self,
        bead: int,
        z: np.ndarray,
        profiles: np.ndarray,
        settings: Mapping[str, Any] | str | None = None,
        *,
        time: float | None = None,
    ) -> None:
        """Record that bead ``bead`` uses a new Z-LUT from ``time`` on: z (m,) nm, profiles
        (m, n_bins), settings (JSON-able)."""
        self._check_open()
        z = np.asarray(z, dtype=np.float64).reshape(-1)
        profiles = np.asarray(profiles, dtype=np.float64)
        if profiles.ndim != 2 or profiles.shape[0] != len(z):
            raise ValueError(f"profiles must have shape ({len(z)}, n_bins), got {profiles.shape}")
        zt, pt = self._tables[schema.ZLUT_Z], self._tables[schema.ZLUT_PROFILES]
        t = self._now(time)
        row = [t, bead, len(z), profiles.shape[1], zt.length + zt.pending_rows,
               pt.length + pt.pending_rows]  # fmt: skip
        zt.add(z)
        pt.add(profiles.reshape(-1))
        self._tables[schema.ZLUT_INDEX].add(np.array([row], dtype=np.float64))
        self._tables[schema.ZLUT_SETTINGS].add(np.array([_json(settings)], dtype=object))
        self._after_append()

    def set_roi(
        self, bead: int, x0: float, x1: float, y0: float, y1: float, *, time: float | None = None
    ) -> None:
        """Record that bead ``bead`` has ROI columns x0..x1, rows y0..y1 (pixels) from ``time``."""
        self._check_open()
        row = [self._now(time), bead, x0, x1, y0, y1, 1.0]
        self._tables[schema.ROIS].add(np.array([row], dtype=np.float64))
        self._after_append()

    def remove_roi(self, bead: int, *, time: float | None = None) -> None:
        """Record that bead ``bead`` is no longer tracked from ``time`` on."""
        self._check_open()
        row = [self._now(time), bead, math.nan, math.nan, math.nan, math.nan, 0.0]
        self._tables[schema.ROIS].add(np.array([row], dtype=np.float64))
        self._after_append()

    def log(
        self, text: str, level: str = "info", source: str = "recorder", *, time: float | None = None
    ) -> None:
        """Add an event to /log."""
        self._check_open()
        entry = np.array([(self._now(time), level, source, text)], dtype=schema.LOG_DTYPE)
        self._tables[schema.LOG].add(entry)
        self._after_append()

    def append_video(
        self,
        frames: np.ndarray,
        times: Sequence[float] | np.ndarray,
        frame_numbers: Sequence[float] | np.ndarray,
    ) -> None:
        """Add full video frames (``full`` mode): frames (k, H, W) or one (H, W) frame, their
        times (s since epoch) and frame counters (k,). The frames are written at once, their
        index with the other tables (at least once a second)."""
        video = self._video_table("full")
        frames = np.asarray(frames)
        if frames.shape == tuple(video.ds.shape[1:]):
            frames = frames[None]
        index = self._video_index(times, frame_numbers, len(frames), "video frames")
        video.add(frames)  # checks the shape
        self._tables[schema.VIDEO_INDEX].add(index)
        self._after_append()

    def append_roi_video(
        self,
        times: Sequence[float] | np.ndarray,
        frame_numbers: Sequence[float] | np.ndarray,
        crops: np.ndarray,
        rois: np.ndarray,
    ) -> None:
        """Add the bead crops of k frames (``roi`` mode): the frames' times (s since epoch) and
        counters (k,); ``crops`` (m, h, w) in frame order; ``rois`` (m, 4) = frame counter,
        bead id, x0, y0 (the crop's origin in the frame, px) of each crop. A frame may have no
        crop (no beads); every crop's frame must be one of ``frame_numbers``."""
        video = self._video_table("roi")
        index = self._video_index(times, frame_numbers, None, "frames")
        crops = np.asarray(crops)
        rois = _as_rows(rois, len(schema.ROI_VIDEO_COLUMNS), "ROI video")
        if len(crops) != len(rois):
            raise ValueError(f"{len(crops)} ROI crops but {len(rois)} ROI rows")
        if not np.isin(rois[:, 0], index[:, 1]).all():
            raise ValueError("every ROI crop's frame counter must be one of frame_numbers")
        video.add(crops)  # checks the shape
        self._tables[schema.VIDEO_ROI_INDEX].add(rois)
        self._tables[schema.VIDEO_INDEX].add(index)
        self._after_append()

    def _video_table(self, mode: str) -> Table:
        self._check_open()
        if self._video is None or self.video is None:
            raise RecordingError(self.path, "this recording was started without video")
        if self.video.mode != mode:
            raise ValueError(f"this recording's video is {self.video.mode!r}, not {mode!r}")
        return self._video

    @staticmethod
    def _video_index(
        times: Sequence[float] | np.ndarray,
        frame_numbers: Sequence[float] | np.ndarray,
        count: int | None,
        what: str,
    ) -> np.ndarray:
        times = np.asarray(times, dtype=np.float64).reshape(-1)
        numbers = np.asarray(frame_numbers, dtype=np.float64).reshape(-1)
        if len(times) != len(numbers) or (count is not None and count != len(numbers)):
            n = len(numbers) if count is None else count
            raise ValueError(f"{n} {what} but {len(times)} times and {len(numbers)} frame numbers")
        return np.column_stack([times, numbers])

    # ------------------------------------------------------------------ flushing
    def flush(self) -> None:
        """Write every buffered row (tracks: those released by the reorderer) and flush the file,
        so a reader or a crash sees them."""
        self._check_open()
        self._guarded("flush", self._flush)

    def flush_if_due(self) -> bool:
        """Flush if more than ``flush_interval`` s passed since the last flush; True if flushed.
        Call it periodically when appends may pause."""
        self._check_open()
        if time.monotonic() - self._last_flush >= self.flush_interval:
            self.flush()
            return True
        return False

    def _flush(self) -> None:
        self._write_all()
        self._f.flush()
        for t in self._tables.values():
            t.mark_flushed()
        self._last_flush = time.monotonic()

    def _write_all(self) -> None:
        self._check_space(sum(t.pending_bytes for t in self._tables.values()))
        for t in self._tables.values():
            t.write()

    def _after_append(self) -> None:
        for t in self._tables.values():
            if t.pending_bytes >= (t.write_at_bytes or self.block_bytes):
                self._guarded("write", lambda t=t: (self._check_space(t.pending_bytes), t.write()))
        if time.monotonic() - self._last_flush >= self.flush_interval:
            self._guarded("flush", self._flush)

    # ------------------------------------------------------------------ errors and space
    def _check_space(self, nbytes: int) -> None:
        if self.min_free_bytes is None or nbytes == 0:
            return
        free = shutil.disk_usage(self.path.parent).free
        where = f"disk of {self.path.parent}"
        limit = resource.getrlimit(resource.RLIMIT_FSIZE)[0]
        if limit != resource.RLIM_INFINITY:
            room = limit - os.stat(self.path).st_size
            if room < free:
                free, where = room, "file size limit (RLIMIT_FSIZE)"
        if free - nbytes < self.min_free_bytes:
            raise _SpaceError(
                f"disk full: {_size(free)} left on the {where}, {_size(nbytes)} to write and "
                f"{_size(self.min_free_bytes)} kept in reserve"
            )

    def _guarded(self, what: str, op: Any) -> None:
        try:
            op()
        except _SpaceError as e:
            self._fail(str(e), None, roll_back=False)
        except Exception as e:
            self._fail(f"{what} failed: {_describe(e)}", e, roll_back=True)

    def _fail(self, problem: str, exc: BaseException | None, *, roll_back: bool) -> None:
        """Stop the recording after an error: keep what was flushed, close, raise RecordingError."""
        unflushed = {n: (t.length - t.flushed if roll_back else 0) for n, t in self._tables.items()}
        tracks = self._tables[schema.TRACKS]
        lost = self._stash.pending_rows + tracks.pending_rows + unflushed[schema.TRACKS]
        other = sum(
            t.pending_rows + unflushed[n] for n, t in self._tables.items() if n != schema.TRACKS
        )
        self._stash = TrackStash(self._stash.window, self._stash.beads_per_frame)
        if roll_back:
            self._checksum_valid = False
            for t in self._tables.values():
                try:
                    t.roll_back()
                except Exception:  # best effort: the file still opens with swmr=True
                    continue
        else:
            for t in self._tables.values():
                t.take_pending()
        err = RecordingError(
            self.path,
            f"recording stopped: {problem}; {lost} track rows and {other} other rows not written; "
            "the file holds everything written before",
        )
        self._failed = err
        # Best effort: if this fails too, the file opens with swmr=True and recover() fixes it.
        with contextlib.suppress(Exception):
            self._finish(StopReason.ERROR, None, write_pending=False)
        if not self._closed:
            self._closed = True
            with contextlib.suppress(Exception):
                self._f.close()
            self._release_lock()
        raise err from exc

    def _check_open(self) -> None:
        if self._failed is not None:
            raise self._failed
        if self._closed:
            raise RecordingError(self.path, "the recording is closed")

    @staticmethod
    def _now(t: float | None) -> float:
        return time.time() if t is None else float(t)

    # ------------------------------------------------------------------ closing
    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def late_rows(self) -> int:
        """Track rows that arrived after their frame was written (written anyway)."""
        return self._stash.late_rows

    def stats(self) -> dict[str, int | float]:
        """Counts for status displays: rows written per dataset, rows waiting, late rows."""
        out: dict[str, int | float] = {n.lstrip("/"): t.length for n, t in self._tables.items()}
        out["tracks_reorder_pending"] = self._stash.pending_rows
        out["tracks_late_rows"] = self._stash.late_rows
        out["seconds_since_flush"] = time.monotonic() - self._last_flush
        return out

    def close(
        self, stop_reason: StopReason | str = StopReason.USER, stop_time: float | None = None
    ) -> Path:
        """Write everything left (tracks in frame order), the stop time (s since epoch, default
        now) and reason, and the checksum; close the file. Idempotent. Returns the path."""
        if self._closed:
            return self.path
        if self._failed is not None:
            raise self._failed
        try:
            reason = StopReason(stop_reason)
        except ValueError:
            valid = ", ".join(r.value for r in StopReason)
            raise ValueError(f"stop reason must be one of {valid}; got {stop_reason!r}") from None
        try:
            self._finish(reason, stop_time, write_pending=True)
        except _SpaceError as e:
            self._fail(str(e), None, roll_back=False)
        except Exception as e:
            self._fail(f"close failed: {_describe(e)}", e, roll_back=True)
        return self.path

    def _finish(self, reason: StopReason, stop_time: float | None, *, write_pending: bool) -> None:
        if write_pending:
            rest = self._stash.pop_all()
            if len(rest):
                self._tables[schema.TRACKS].add(rest)
            self._flush()
        a = self._f.attrs
        a.modify(schema.A_LATE_ROWS, np.int64(self._stash.late_rows))
        a.modify(schema.A_STOP_TIME, self._now(stop_time))
        a.modify(schema.A_STOP_REASON, reason.value.encode())
        if self._checksum_valid:
            entries = list(self._static_digests)
            for name, t in self._tables.items():
                entries.append((name, t.ds.dtype, t.ds.shape, t.hasher.hexdigest()))
            a.modify(schema.A_CHECKSUM, combine(entries).encode())
        self._closed = True
        try:
            self._f.close()
        finally:
            self._release_lock()

    def __enter__(self) -> RecordingWriter:
        return self

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        if self._closed or self._failed is not None:
            return
        self.close(StopReason.ERROR if exc_type is not None else StopReason.USER)
