"""Reading a recording: closed, being written (SWMR), or left behind by a crash.

``open_recording(path)`` always opens with ``swmr=True`` (read-only), which works on all three;
every accessor refreshes the datasets it reads, so a reader of a live file sees new rows on each
call. Recovery sidecars (see ``recovery.py``) override the stop attributes.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from magscope_app.recording import schema
from magscope_app.recording.errors import RecordingError
from magscope_app.recording.recovery import read_sidecar

_BEAD = schema.TRACK_COLUMNS.index("bead")
_FRAME = schema.TRACK_COLUMNS.index("frame")


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
        try:
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
        return schema.VIDEO_FRAMES in self._f

    def video_index(self) -> dict[str, np.ndarray]:
        """time and frame counter of every video frame, each (n,)."""
        return self._columns(self._table(schema.VIDEO_INDEX), schema.VIDEO_INDEX_COLUMNS)

    def video_frames(self, start: int = 0, stop: int | None = None) -> np.ndarray:
        """Video frames ``start:stop``: (k, H, W) full frames or (k, slots, h, w) crops."""
        ds = self._ds(schema.VIDEO_FRAMES)
        if ds is None:
            raise RecordingError(self.path, "this recording has no video")
        return ds[start:stop]

    def video_beads(self) -> np.ndarray:
        """Bead id per crop slot (n, slots), NaN = empty (roi video only)."""
        return self._table(schema.VIDEO_BEADS)


def open_recording(path: str | os.PathLike[str]) -> RecordingReader:
    """Open a recording for reading (works while it is written and after a crash)."""
    return RecordingReader(path)
