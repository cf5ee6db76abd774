"""Reading a recording: closed, being written (SWMR), or left behind by a crash.

``open_recording(path)`` always opens with ``swmr=True`` (read-only), which works on all three;
every accessor refreshes the datasets it reads, so a reader of a live file sees new rows on each
call. Recovery sidecars (see ``recovery.py``) override the stop attributes.
"""

from __future__ import annotations

import json
import math
import os
import re
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from magscope_app.recording import schema
from magscope_app.recording._filters import load_hdf5plugin, needs_plugin
from magscope_app.recording.errors import RecordingError
from magscope_app.recording.recovery import read_sidecar

_BEAD = schema.TRACK_COLUMNS.index("bead")
_FRAME = schema.TRACK_COLUMNS.index("frame")
_TIME = schema.TRACK_COLUMNS.index("time")


@dataclass(frozen=True)
class VideoChunk:
    """Consecutive video frames ``start:stop`` of a recording (k = stop - start frames).

    ``frames``: (k, H, W) full frames, or (k, slots, h, w) crops (``mode`` "roi").
    ``time``: (k,) frame timestamps (s since the epoch); ``frame``: (k,) camera frame counters.
    ROI video only (None for full video): ``beads`` (k, slots) bead id of each crop slot (NaN:
    empty), ``origins`` (k, slots, 2) the frame pixel (x0, y0) of each crop's pixel (0, 0).
    """

    start: int
    mode: str
    frames: np.ndarray
    time: np.ndarray
    frame: np.ndarray
    beads: np.ndarray | None = None
    origins: np.ndarray | None = None

    def __len__(self) -> int:
        return int(self.frames.shape[0])


#: Held while a file is opened in this process: HDF5 refuses a SWMR open of a file that another
#: thread holds open without SWMR (the :func:`check_intact` probe), so the two never overlap (a
#: probe of a file open with SWMR fails harmlessly, see there).
_OPENING = threading.Lock()


def check_intact(path: Path) -> None:
    """Raise :class:`RecordingError` for a missing path, a folder, a file that is not HDF5, or one
    with most of it missing.

    Checked without SWMR, because a SWMR open retries reading a badly truncated file for minutes.
    A file cut short near its end (a full disk stops the writer there) is still read with SWMR,
    up to the cut; so is a file still open for writing, which refuses this open for other reasons,
    and one this process already holds open with SWMR.
    """
    if path.is_dir():
        raise RecordingError(path, "is a folder, not a recording file")
    if not path.is_file():
        raise RecordingError(path, "no such file")
    try:
        with _OPENING:
            h5py.File(path, "r").close()
    except OSError as exc:
        text = str(exc)
        if "signature" in text:
            raise RecordingError(path, "not a readable recording (not an HDF5 file)") from None
        if "truncated" in text and not _mostly_there(text):
            reason = text.partition("(")[2].rstrip(")") or text
            raise RecordingError(
                path, f"not a readable recording (corrupt or cut short: {reason})"
            ) from None


def _mostly_there(truncation: str) -> bool:
    """Whether HDF5's "truncated file: eof = A, …, stored_eof = B" keeps at least half the file."""
    numbers = dict(re.findall(r"(\w+) = (\d+)", truncation))
    try:
        return int(numbers["eof"]) >= int(numbers["stored_eof"]) // 2
    except (KeyError, ValueError):
        return False


@dataclass(frozen=True)
class ZLut:
    """A Z-LUT entry read back from a file: bead id (-1: the default LUT), z (m,) in nm,
    profiles (m, n_bins), the tracking settings it was made with (as stored) and the time it was
    taken into use. ``ZLUT(z, profiles, TrackingSettings(**settings))`` rebuilds the tracking
    type for a file written by the daemon."""

    bead: int
    z: np.ndarray
    profiles: np.ndarray
    settings: dict[str, Any]
    time: float


class RecordingReader:
    """Read access to one recording file. Use ``open_recording``; close it (or use ``with``)."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self._roi_frames: np.ndarray | None = None
        check_intact(self.path)
        try:
            with _OPENING:
                self._f = h5py.File(self.path, "r", swmr=True)
        except (OSError, ValueError) as e:
            raise RecordingError(self.path, f"cannot open the recording: {e}") from e
        fmt = schema.decode(self._f.attrs.get(schema.A_FORMAT, ""))
        if fmt != schema.FORMAT_NAME:
            self._f.close()
            raise RecordingError(self.path, f"not a {schema.FORMAT_NAME} file (format {fmt!r})")

    # ------------------------------------------------------------------ plumbing
    def _reopen(self) -> None:
        self._f.close()
        try:
            with _OPENING:
                self._f = h5py.File(self.path, "r", swmr=True)
        except (OSError, ValueError) as e:
            raise RecordingError(self.path, f"cannot reopen the recording: {e}") from e

    def close(self) -> None:
        self._f.close()

    def __enter__(self) -> RecordingReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _ds(self, name: str) -> h5py.Dataset | None:
        ds = self._f.get(name)
        if ds is None:
            return None
        ds.refresh()
        return ds

    def _table(self, name: str) -> np.ndarray:
        ds = self._ds(name)
        if ds is None:
            return np.empty((0, 0))
        return ds[()]

    @staticmethod
    def _columns(rows: np.ndarray, columns: tuple[str, ...]) -> dict[str, np.ndarray]:
        if rows.size == 0:
            return {c: np.empty(0) for c in columns}
        return {c: rows[:, i].copy() for i, c in enumerate(columns)}

    def refresh(self) -> None:
        """Pick up what the writer flushed since the last call (accessors do this themselves)."""
        self._f.visititems(lambda _n, o: o.refresh() if isinstance(o, h5py.Dataset) else None)

    # ------------------------------------------------------------------ metadata
    @property
    def metadata(self) -> dict[str, Any]:
        """Root attributes as plain Python (recovery sidecar applied). stop_time NaN and
        stop_reason "" mean: still being written, or crashed and not recovered."""
        if math.isnan(float(self._f.attrs.get(schema.A_STOP_TIME, 0.0))):
            self._reopen()  # HDF5 cannot refresh attributes: the writer may have closed since
        meta = {k: schema.decode(v) for k, v in self._f.attrs.items()}
        side = read_sidecar(self.path)
        if side:
            for k in (schema.A_STOP_TIME, schema.A_STOP_REASON, schema.A_RECOVERED_TIME):
                if k in side:
                    meta[k] = side[k]
            meta["recovery_sidecar"] = True
        return meta

    @property
    def stop_reason(self) -> str | None:
        """The stop reason, or None while recording / after a crash not yet recovered."""
        return str(self.metadata.get(schema.A_STOP_REASON) or "") or None

    @property
    def closed_cleanly(self) -> bool:
        """True if the writer closed the file and wrote its checksum."""
        meta = self.metadata
        return bool(meta.get(schema.A_CHECKSUM)) and not math.isnan(
            float(meta.get(schema.A_STOP_TIME, math.nan))
        )

    def config(self) -> dict[str, Any]:
        """Daemon settings at start (from /config/settings)."""
        return self._json(schema.CONFIG_SETTINGS)

    def hardware(self) -> dict[str, Any]:
        """Hardware description at start (from /config/hardware)."""
        return self._json(schema.CONFIG_HARDWARE)

    def _json(self, name: str) -> dict[str, Any]:
        ds = self._f.get(name)
        if ds is None:
            return {}
        raw = ds[()]
        return json.loads(raw.decode() if isinstance(raw, bytes) else raw)

    # ------------------------------------------------------------------ tracks
    def track_rows(self) -> np.ndarray:
        """All track rows (N, 9) in TRACK_COLUMNS order, as stored (frame order; late rows, if
        any, where they were written)."""
        rows = self._table(schema.TRACKS)
        return rows.reshape(-1, len(schema.TRACK_COLUMNS))

    def bead_ids(self) -> np.ndarray:
        """Sorted ids (int64) of every bead with at least one track row."""
        return np.unique(self.track_rows()[:, _BEAD]).astype(np.int64)

    def tracks(self, bead: int | None = None) -> dict[str, np.ndarray]:
        """Track columns (TRACK_COLUMNS -> (n,) float64) of one bead (or all rows if None),
        sorted by frame (stable)."""
        rows = self.track_rows()
        if bead is not None:
            rows = rows[rows[:, _BEAD] == bead]
        rows = rows[np.argsort(rows[:, _FRAME], kind="stable")]
        return self._columns(rows, schema.TRACK_COLUMNS)

    @property
    def late_rows(self) -> int:
        return int(self.metadata.get(schema.A_LATE_ROWS, 0))

    # ------------------------------------------------------------------ frames and motors
    def frames(self) -> dict[str, np.ndarray]:
        """time (s), frame counter, lost (camera's cumulative lost-frame count), each (n,)."""
        return self._columns(self._table(schema.FRAMES), schema.FRAME_COLUMNS)

    def drift(self) -> dict[str, np.ndarray]:
        """The live drift (DRIFT_COLUMNS -> (n,)): time, frame, dx_nm, dy_nm, dz_nm, n_used;
        empty arrays if none was recorded. ``tracks`` stay raw: subtract it by frame."""
        return self._columns(self._table(schema.DRIFT), schema.DRIFT_COLUMNS)

    def drift_references(self) -> list[dict[str, Any]]:
        """Each change of the reference beads logged while recording, oldest first: ``time``,
        ``reference`` (ids), ``used`` and ``rejected`` (ids the drift kept and rejected)."""
        prefix = "drift references "
        return [
            {"time": t, **json.loads(text.removeprefix(prefix))}
            for t, _level, source, text in self.log()
            if source == "locks" and text.startswith(prefix)
        ]

    def motor_names(self) -> list[str]:
        return sorted(self._f[schema.MOTORS]) if schema.MOTORS in self._f else []

    def motor(self, name: str) -> dict[str, np.ndarray]:
        """Telemetry of motor ``name``: time, position, target, moving, each (n,)."""
        if name not in self.motor_names():
            raise KeyError(f"no motor {name!r}; this recording has {self.motor_names()}")
        return self._columns(self._table(f"{schema.MOTORS}/{name}"), schema.MOTOR_COLUMNS)

    def motor_unit(self, name: str) -> str:
        return str(schema.decode(self._f[f"{schema.MOTORS}/{name}"].attrs.get("unit", "")))

    # ------------------------------------------------------------------ LUTs and ROIs
    def zluts(self) -> list[ZLut]:
        """Every Z-LUT taken into use, in the order recorded."""
        index = self._table(schema.ZLUT_INDEX).reshape(-1, len(schema.ZLUT_INDEX_COLUMNS))
        settings = self._ds(schema.ZLUT_SETTINGS)
        z_ds, p_ds = self._ds(schema.ZLUT_Z), self._ds(schema.ZLUT_PROFILES)
        assert settings is not None and z_ds is not None and p_ds is not None
        out = []
        for k, (t, bead, m, n_bins, z_off, p_off) in enumerate(index):
            if k >= settings.shape[0]:
                break
            m, n_bins, z_off, p_off = int(m), int(n_bins), int(z_off), int(p_off)
            raw = settings[k]
            out.append(
                ZLut(
                    bead=int(bead),
                    z=z_ds[z_off : z_off + m],
                    profiles=p_ds[p_off : p_off + m * n_bins].reshape(m, n_bins),
                    settings=json.loads(raw.decode() if isinstance(raw, bytes) else raw),
                    time=float(t),
                )
            )
        return out

    def zlut(self, bead: int) -> ZLut | None:
        """The newest Z-LUT of ``bead``, or None."""
        luts = [lut for lut in self.zluts() if lut.bead == bead]
        return luts[-1] if luts else None

    def roi_log(self) -> dict[str, np.ndarray]:
        """The ROI change log: time, bead, x0, x1, y0, y1, present, each (n,)."""
        return self._columns(self._table(schema.ROIS), schema.ROI_COLUMNS)

    def rois(self, at: float | None = None) -> dict[int, tuple[float, float, float, float]]:
        """ROIs {bead: (x0, x1, y0, y1)} in effect at time ``at`` (s since epoch; None = last)."""
        log = self.roi_log()
        out: dict[int, tuple[float, float, float, float]] = {}
        for i in np.argsort(log["time"], kind="stable"):
            if at is not None and log["time"][i] > at:
                break
            bead = int(log["bead"][i])
            if log["present"][i]:
                out[bead] = tuple(float(log[c][i]) for c in ("x0", "x1", "y0", "y1"))  # type: ignore[assignment]
            else:
                out.pop(bead, None)
        return out

    # ------------------------------------------------------------------ log and video
    def log(self) -> list[tuple[float, str, str, str]]:
        """Events as (time, level, source, text)."""
        ds = self._ds(schema.LOG)
        if ds is None:
            return []
        return [
            (float(r["time"]), *(v.decode() if isinstance(v, bytes) else v for v in r.tolist()[1:]))
            for r in ds[()]
        ]

    @property
    def has_video(self) -> bool:
        return schema.VIDEO_INDEX in self._f

    @property
    def video_mode(self) -> str | None:
        """The video mode, "full" or "roi"; None without video."""
        mode = str(schema.decode(self._f.attrs.get(schema.A_VIDEO, "none")))
        return None if mode == "none" else mode

    def video_index(self) -> dict[str, np.ndarray]:
        """time (s since epoch) and frame counter of every frame the video holds, each (n,)."""
        return self._columns(self._table(schema.VIDEO_INDEX), schema.VIDEO_INDEX_COLUMNS)

    def video_frames(self, start: int = 0, stop: int | None = None) -> np.ndarray:
        """Full video frames ``start:stop`` (k, H, W), in the order of ``video_index()``."""
        return self._video(schema.VIDEO_FRAMES, "full")[start:stop]

    def video_rois(self, start: int = 0, stop: int | None = None) -> np.ndarray:
        """ROI video crops ``start:stop`` (k, h, w), in the order of ``video_roi_index()``."""
        return self._video(schema.VIDEO_ROIS, "roi")[start:stop]

    def video_roi_index(self) -> dict[str, np.ndarray]:
        """frame counter, bead id, x0, y0 (crop origin in the frame, px) of every ROI crop."""
        return self._columns(self._table(schema.VIDEO_ROI_INDEX), schema.ROI_VIDEO_COLUMNS)

    def _video(self, name: str, mode: str) -> h5py.Dataset:
        ds = self._ds(name)
        if ds is None:
            have = self.video_mode
            raise RecordingError(
                self.path, f"this recording has no {mode} video ({have or 'no'} video)"
            )
        if needs_plugin(ds.attrs.get("compression", "")):
            try:
                load_hdf5plugin(f"reading this video ({ds.attrs['compression']})")
            except ImportError as e:
                raise RecordingError(self.path, str(e)) from None
        return ds

    # ------------------------------------------------------------------ video, frame by frame
    def video_length(self) -> int:
        """Number of video frames stored (0 without video)."""
        ds = self._ds(schema.VIDEO_INDEX)
        return 0 if ds is None or self.video_mode is None else int(ds.shape[0])

    def camera_shape(self) -> tuple[int, int] | None:
        """(height, width) in px of the camera frames: from full video, else the camera's
        described settings; None if neither says."""
        ds = self._f.get(schema.VIDEO_FRAMES)
        if ds is not None and self.video_mode == "full":
            return int(ds.shape[1]), int(ds.shape[2])
        params = self.hardware().get("camera", {}).get("params", {})
        if "height" in params and "width" in params:
            return int(params["height"]), int(params["width"])
        return None

    def roi_states(
        self, times: Sequence[float] | np.ndarray
    ) -> tuple[np.ndarray, list[dict[int, tuple[int, int, int, int]]]]:
        """The bead ROIs in effect at each of ``times`` (s since the epoch), deduplicated:
        ``(index (k,) int, states)`` with ``states[index[i]]`` = {bead: (x0, x1, y0, y1)} in
        frame pixels (exclusive ends) at ``times[i]``. A NaN time, or one before the recording
        started (a frame taken just before), gets the ROIs at the start."""
        log = self.roi_log()
        order = np.argsort(log["time"], kind="stable")
        log_times = log["time"][order]
        start = float(self._f.attrs.get(schema.A_START_TIME, -np.inf))
        t = np.asarray(times, dtype=np.float64)
        t = np.where(np.isnan(t) | (t < start), start, t)
        applied = np.searchsorted(log_times, t, side="right")  # log entries in effect
        counts, index = np.unique(applied, return_inverse=True)
        states: list[dict[int, tuple[int, int, int, int]]] = []
        current: dict[int, tuple[int, int, int, int]] = {}
        done = 0
        for count in counts.tolist():
            for i in order[done:count]:
                bead = int(log["bead"][i])
                if log["present"][i]:
                    current[bead] = tuple(int(log[c][i]) for c in ("x0", "x1", "y0", "y1"))  # type: ignore[assignment]
                else:
                    current.pop(bead, None)
            done = count
            states.append(dict(current))
        return index.reshape(-1).astype(np.int64), states

    def video_chunk(self, start: int, stop: int) -> VideoChunk:
        """Video frames ``start:stop`` with their times, frame counters and (ROI video) the bead
        and frame position of every crop. A time missing from the video index is taken from
        the frame table."""
        mode = self.video_mode
        if mode is None:
            raise RecordingError(self.path, "this recording has no video")
        index = self._ds(schema.VIDEO_INDEX)[start:stop]
        time, number = index[:, 0].copy(), index[:, 1].copy()
        if np.isnan(time).any():
            self._fill_times(time, number)
        if mode != "roi":
            return VideoChunk(start, mode, self.video_frames(start, stop), time, number)
        return self._roi_chunk(start, time, number)

    def _roi_chunk(self, start: int, time: np.ndarray, number: np.ndarray) -> VideoChunk:
        """ROI video frames with counters ``number``: crops grouped by frame into slots."""
        if self._roi_frames is None:  # the frame counter of every crop, in file order
            self._roi_frames = self._table(schema.VIDEO_ROI_INDEX)[:, 0].copy()
        first = int(np.searchsorted(self._roi_frames, number[0], side="left"))
        last = int(np.searchsorted(self._roi_frames, number[-1], side="right"))
        index = self._ds(schema.VIDEO_ROI_INDEX)[first:last]
        crops = self.video_rois(first, last)
        row = np.searchsorted(number, index[:, 0])  # which chunk frame each crop belongs to
        counts = np.bincount(row, minlength=len(number))
        slots = int(counts.max(initial=0))
        slot = np.arange(len(row)) - np.repeat(np.cumsum(counts) - counts, counts)
        frames = np.zeros((len(number), slots, *crops.shape[1:]), dtype=crops.dtype)
        beads = np.full((len(number), slots), np.nan)
        origins = np.full((len(number), slots, 2), np.nan)
        frames[row, slot] = crops
        beads[row, slot] = index[:, 1]
        origins[row, slot] = index[:, 2:4]
        return VideoChunk(start, "roi", frames, time, number, beads, origins)

    def _fill_times(self, time: np.ndarray, number: np.ndarray) -> None:
        """Fill NaN ``time`` of frames ``number`` from the frame table, else from the track rows
        (a frame taken just before the recording started is only in the tracks, at the start)."""
        missing = np.isnan(time)
        table = self.frames()
        known = dict(zip(table["frame"].tolist(), table["time"].tolist(), strict=True))
        last = float(np.max(number[missing]))
        ds = self._ds(schema.TRACKS)
        block = 8192
        for first in range(0, 0 if ds is None else ds.shape[0], block):
            rows = ds[first : first + block]
            for t, f in rows[:, [_TIME, _FRAME]].tolist():
                known.setdefault(f, t)
            if rows[-1, _FRAME] > last:
                break
        for i in np.flatnonzero(missing):
            time[i] = known.get(float(number[i]), np.nan)

    def iter_video(
        self, chunk_frames: int, start: int = 0, stop: int | None = None
    ) -> Iterator[VideoChunk]:
        """The video frames ``start:stop`` in chunks of at most ``chunk_frames`` frames."""
        if chunk_frames < 1:
            raise ValueError(f"chunk_frames must be >= 1, got {chunk_frames}")
        end = self.video_length() if stop is None else min(stop, self.video_length())
        for first in range(start, end, chunk_frames):
            yield self.video_chunk(first, min(first + chunk_frames, end))


def open_recording(path: str | os.PathLike[str]) -> RecordingReader:
    """Open a recording for reading (works while it is written and after a crash)."""
    return RecordingReader(path)
