"""What to re-track: a recording's video, split into chunks, with the settings and LUTs to use.

A :class:`RetrackJob` is made in the driver process from the recording's metadata (never its
video) and is small enough to send to Dask workers: the tracking settings, the Z-LUTs, the
bead ROIs of each stretch of frames where they stay the same (an :class:`Epoch`) and the chunks
of frames, each inside one epoch, with the place of its rows in the output table.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from magscope_app.hardware.config import ConfigError
from magscope_app.recording import RecordingError, open_recording
from magscope_app.recording.reader import check_intact
from magscope_app.tracking import PROFILE_FIELDS, ZLUT, TrackingSettings
from magscope_app.tracking_config import TrackingConfig, settings_from_mapping
from magscope_app.zlut import LUTFile

#: Changes whenever re-tracking would give other numbers for the same input (part of the key).
ALGORITHM = "retrack-1: track_xyz from the first guess in every frame"
#: Video bytes read by one task (a chunk of frames), unless a chunk size is given.
CHUNK_BYTES = 32 * 2**20
MAX_CHUNK_FRAMES = 500


class RetrackError(Exception):
    """A recording cannot be re-tracked as asked; the message says why in one line."""


@dataclass(frozen=True)
class Epoch:
    """Video frames ``start:stop`` tracked with the same beads: ``ids`` (n,) sorted, ``rois``
    (n, 4) int (x0, x1, y0, y1) in frame pixels, ROIs of ``size`` px."""

    start: int
    stop: int
    ids: np.ndarray
    rois: np.ndarray
    size: int


@dataclass(frozen=True)
class Chunk:
    """Video frames ``start:stop`` of epoch ``epoch``; its rows go to ``row_offset`` onwards."""

    start: int
    stop: int
    epoch: int
    row_offset: int


@dataclass(frozen=True)
class RetrackJob:
    """Everything a worker needs to re-track one recording (see the module docstring).

    ``luts``: {bead or None (the default LUT): (z_nm (m,), profiles (m, n_bins))}.
    ``key``: hex digest of the recording, settings, LUTs and algorithm: a re-run with the same
    key gives the same result and is skipped.
    """

    path: str
    mode: str
    frame_shape: tuple[int, int]
    pixel_size_nm: float
    settings: TrackingSettings
    luts: dict[int | None, tuple[np.ndarray, np.ndarray]]
    zlut_source: str
    epochs: tuple[Epoch, ...]
    chunks: tuple[Chunk, ...]
    n_frames: int
    n_rows: int
    key: str

    @property
    def beads(self) -> list[int]:
        return sorted({int(b) for e in self.epochs for b in e.ids})

    def describe(self) -> dict[str, Any]:
        """Plain, JSON-able description (stored with the result)."""
        return {
            "recording": self.path,
            "video_mode": self.mode,
            "frames": self.n_frames,
            "rows": self.n_rows,
            "beads": self.beads,
            "pixel_size_nm": self.pixel_size_nm,
            "roi_sizes": sorted({e.size for e in self.epochs}),
            "settings": self.settings.to_dict(),
            "zlut_source": self.zlut_source,
            "zlut_beads": [-1 if b is None else b for b in self.luts],
            "chunks": len(self.chunks),
            "algorithm": ALGORITHM,
            "key": self.key,
        }


def make_job(
    path: str | os.PathLike[str],
    zlut: LUTFile | ZLUT | Mapping[int | None, ZLUT] | None = None,
    overrides: Mapping[str, Any] | None = None,
    chunk_frames: int | None = None,
) -> RetrackJob:
    """Plan the re-tracking of recording ``path`` (RetrackError / RecordingError say why not).

    ``zlut``: None re-uses the LUTs recorded with the video (the newest of each bead, and the
    settings they were used with); a :class:`LUTFile` (checked against the
    recording's ROI size and pixel size), one ZLUT for every bead, or {bead: ZLUT} (key None:
    the default). ``overrides``: TrackingSettings fields replacing the recorded ones.
    """
    path = Path(path)
    _check_intact(path)
    with open_recording(path) as reader:
        mode = reader.video_mode
        if mode is None:
            raise RetrackError(f"{path}: this recording has no video to re-track")
        n_frames = reader.video_length()
        if n_frames == 0:
            raise RetrackError(f"{path}: the recording's video holds no frame")
        shape = reader.camera_shape()
        if shape is None:
            raise RetrackError(f"{path}: the recording does not say the camera's frame size")
        recorded = _recorded_tracking(reader, path)
        recorded_luts = {(None if lut.bead < 0 else lut.bead): lut for lut in reader.zluts()}
        epochs = _epochs(reader, mode, n_frames)
        identity = _identity(reader, path)
    base = recorded.settings
    if recorded_luts:  # the settings live tracking used when the recording started
        base = _settings(next(iter(recorded_luts.values())).settings, path)
    roi_sizes = {e.size for e in epochs}
    if zlut is None:
        luts = {b: (lut.z, lut.profiles) for b, lut in recorded_luts.items()}
        source, lut_settings = "recording", (base if luts else None)
    else:
        luts, source, lut_settings = _given_luts(zlut, path, roi_sizes, recorded.pixel_size_nm)
        base = _with_profile_of(base, lut_settings)
    try:
        settings = settings_from_mapping(dict(overrides or {}), base)
    except ValueError as exc:
        raise RetrackError(f"bad tracking setting: {exc}") from None
    if lut_settings is not None and not lut_settings.same_profiles(settings):
        changed = [f for f in PROFILE_FIELDS if getattr(settings, f) != getattr(lut_settings, f)]
        raise RetrackError(
            f"{path}: the settings change the radial profile ({', '.join(changed)}), which the "
            f"Z-LUTs ({source}) were not made with: give Z-LUTs made with these settings"
        )
    if not any(len(e.ids) for e in epochs):
        raise RetrackError(f"{path}: no bead had a ROI while the video was recorded")
    chunks = _chunks(epochs, chunk_frames or _default_chunk(mode, shape, epochs))
    key = _key(identity, n_frames, settings, recorded.pixel_size_nm, luts)
    return RetrackJob(
        path=str(path.resolve()),
        mode=mode,
        frame_shape=shape,
        pixel_size_nm=recorded.pixel_size_nm,
        settings=settings,
        luts=luts,
        zlut_source=source,
        epochs=tuple(epochs),
        chunks=tuple(chunks),
        n_frames=n_frames,
        n_rows=sum((e.stop - e.start) * len(e.ids) for e in epochs),
        key=key,
    )


def _check_intact(path: Path) -> None:
    """RetrackError for a missing, truncated or non-HDF5 file (see ``check_intact``)."""
    try:
        check_intact(path)
    except RecordingError as exc:
        raise RetrackError(str(exc)) from None


def _recorded_tracking(reader, path: Path) -> TrackingConfig:
    """The [tracking] section the daemon started with (defaults where the config had none)."""
    sections = reader.config().get("other_sections", {})
    simulation = reader.hardware().get("simulation") or None
    try:
        return TrackingConfig.from_table(sections.get("tracking", {}), str(path), simulation)
    except ConfigError as exc:
        raise RetrackError(f"{path}: the recorded tracking settings are invalid: {exc}") from None


def _settings(values: Mapping[str, Any], path: Path) -> TrackingSettings:
    try:
        return settings_from_mapping(dict(values), TrackingSettings())
    except ValueError as exc:
        raise RetrackError(f"{path}: the recorded tracking settings are invalid: {exc}") from None


def _with_profile_of(base: TrackingSettings, lut: TrackingSettings | None) -> TrackingSettings:
    """``base`` with the profile settings of the LUTs (they define the profile)."""
    if lut is None:
        return base
    return TrackingSettings(**{**base.to_dict(), **{f: getattr(lut, f) for f in PROFILE_FIELDS}})


def _given_luts(
    zlut: LUTFile | ZLUT | Mapping[int | None, ZLUT],
    path: Path,
    roi_sizes: set[int],
    pixel_size_nm: float,
) -> tuple[dict[int | None, tuple[np.ndarray, np.ndarray]], str, TrackingSettings]:
    if isinstance(zlut, LUTFile):
        problems = []
        sizes = sorted({(s, s) for s in roi_sizes})
        if len(sizes) == 1 and zlut.roi_size != sizes[0]:
            problems.append(f"ROI size: LUT {list(zlut.roi_size)}, recording {list(sizes[0])}")
        if not math.isclose(zlut.pixel_size_nm, pixel_size_nm, rel_tol=1e-6):
            problems.append(
                f"pixel size: LUT {zlut.pixel_size_nm:g} nm, recording {pixel_size_nm:g} nm"
            )
        if problems:
            raise RetrackError(
                f"{path}: the Z-LUT file {zlut.path} does not fit: {'; '.join(problems)}"
            )
        table: Mapping[int | None, ZLUT] = zlut.luts
        source = str(zlut.path)
    elif isinstance(zlut, ZLUT):
        table, source = {None: zlut}, "given ZLUT"
    else:
        table, source = zlut, "given ZLUTs"
    if not table:
        raise RetrackError("no Z-LUT given")
    settings = next(iter(table.values())).settings
    if any(not lut.settings.same_profiles(settings) for lut in table.values()):
        raise RetrackError("the given Z-LUTs were made with different profile settings")
    return {b: (lut.z_nm, lut.profiles) for b, lut in table.items()}, source, settings


def _epochs(reader, mode: str, n_frames: int) -> list[Epoch]:
    """Stretches of frames with the same tracked beads (ROI video: only beads with a crop)."""
    index = reader.video_index()
    times, numbers = index["time"][:n_frames], index["frame"][:n_frames]
    state_index, states = reader.roi_states(times)
    keys: list[tuple] = []
    if mode == "roi":
        crops = reader.video_roi_index()  # in frame order
        bounds = np.searchsorted(crops["frame"], np.stack([numbers, numbers]), side="left")
        bounds[1] = np.searchsorted(crops["frame"], numbers, side="right")
        for k in range(n_frames):
            cropped = set(crops["bead"][bounds[0, k] : bounds[1, k]].astype(int).tolist())
            keys.append((int(state_index[k]), tuple(sorted(cropped & set(states[state_index[k]])))))
    else:
        keys = [(int(i), tuple(sorted(states[i]))) for i in state_index.tolist()]
    epochs: list[Epoch] = []
    start = 0
    for k in range(1, n_frames + 1):
        if k < n_frames and keys[k] == keys[start]:
            continue
        state, ids = keys[start]
        rois = np.array([states[state][b] for b in ids], dtype=np.int64).reshape(-1, 4)
        widths = np.concatenate([rois[:, 1] - rois[:, 0], rois[:, 3] - rois[:, 2]])
        size = int(widths.max(initial=0))
        epochs.append(Epoch(start, k, np.array(ids, dtype=np.int64), rois, size))
        start = k
    return epochs


def _default_chunk(mode: str, shape: tuple[int, int], epochs: list[Epoch]) -> int:
    beads = max((len(e.ids) for e in epochs), default=1)
    per_frame = 2 * (shape[0] * shape[1] if mode == "full" else max(1, beads) * 64 * 64)
    return max(1, min(MAX_CHUNK_FRAMES, CHUNK_BYTES // per_frame))


def _chunks(epochs: list[Epoch], chunk_frames: int) -> list[Chunk]:
    if chunk_frames < 1:
        raise RetrackError(f"chunk size must be at least 1 frame, got {chunk_frames}")
    chunks, offset = [], 0
    for i, epoch in enumerate(epochs):
        for start in range(epoch.start, epoch.stop, chunk_frames):
            stop = min(start + chunk_frames, epoch.stop)
            chunks.append(Chunk(start, stop, i, offset))
            offset += (stop - start) * len(epoch.ids)
    return chunks


def _identity(reader, path: Path) -> str:
    """What identifies the recording's content: its checksum, else its size and mtime."""
    checksum = str(reader.metadata.get("checksum") or "")
    if checksum:
        return checksum
    stat = path.stat()
    return f"size {stat.st_size} mtime {stat.st_mtime_ns}"


def _key(identity, n_frames, settings, pixel_size_nm, luts) -> str:
    h = hashlib.sha256()
    h.update(
        json.dumps(
            [ALGORITHM, identity, n_frames, settings.to_dict(), pixel_size_nm], sort_keys=True
        ).encode()
    )
    for bead in sorted(luts, key=lambda b: -1 if b is None else b):
        z, profiles = luts[bead]
        h.update(f"bead {bead}".encode())
        h.update(np.ascontiguousarray(z, dtype="<f8").tobytes())
        h.update(np.ascontiguousarray(profiles, dtype="<f8").tobytes())
    return h.hexdigest()
