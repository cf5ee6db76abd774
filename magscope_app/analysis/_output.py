"""The re-track file: new track tables next to a recording, which is never modified.

Layout (one file per recording, by default ``<recording stem>.retrack.h5`` beside it)::

    /                      attrs: format = "magscope-retrack", format_version = 1
    /recording             external link to the recording's root (path relative to this file)
    /retrack/<n>/tracks    (N, 9) float64, TRACK_COLUMNS (attr ``columns``), frame order, by bead
                           id within a frame; NaN rows until ``complete``
    /retrack/<n>/zlut/<bead>/z_nm, profiles   the Z-LUTs used (bead -1: the default LUT)
    /retrack/<n>           attrs: key, complete (bool), created, finished (ISO 8601, UTC),
                           elapsed_s, software_version, zlut_source, settings (JSON of the
                           TrackingSettings), description (JSON: frames, beads, ROI sizes, …)

Each run adds group ``<n>`` (the next free number). A run with the same ``key`` as a complete
group is not repeated; an incomplete group (an interrupted run) with that key is removed first.
Only the driver process writes; rows arrive by chunk at their known offsets.
"""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType

import h5py
import numpy as np

from magscope_app import __version__
from magscope_app.buffers.layouts import TRACK_COLUMNS

from ._job import RetrackError, RetrackJob

FORMAT = "magscope-retrack"
FORMAT_VERSION = 1
SUFFIX = ".retrack.h5"


def default_out(recording: str | os.PathLike[str]) -> Path:
    """``<folder>/<stem>.retrack.h5`` beside the recording."""
    path = Path(recording)
    return path.with_name(path.stem + SUFFIX)


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


class RetrackFile:
    """An open re-track file (created if missing) for recording ``source``; use ``with``."""

    def __init__(self, path: str | os.PathLike[str], source: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        link = os.path.relpath(Path(source).resolve(), self.path.resolve().parent)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._f = h5py.File(self.path, "a")
        except (OSError, ValueError) as exc:
            raise RetrackError(f"{self.path}: cannot open the re-track file ({exc})") from None
        f = self._f
        if "format" not in f.attrs and not len(f):
            f.attrs["format"] = FORMAT
            f.attrs["format_version"] = FORMAT_VERSION
            f["recording"] = h5py.ExternalLink(link, "/")
            f.create_group("retrack")
        elif f.attrs.get("format") != FORMAT:
            f.close()
            raise RetrackError(
                f"{self.path} exists and is not a re-track file: choose another --out"
            )
        else:
            stored = f.get("recording", getlink=True)
            if not isinstance(stored, h5py.ExternalLink) or stored.filename != link:
                f.close()
                raise RetrackError(
                    f"{self.path} holds the re-tracks of another recording "
                    f"({getattr(stored, 'filename', '?')}): choose another --out"
                )

    def close(self) -> None:
        self._f.close()

    def __enter__(self) -> RetrackFile:
        return self

    def __exit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        self.close()

    def completed(self, key: str) -> str | None:
        """Name of a complete group made with ``key``, or None."""
        for group in self._f["retrack"].values():
            if group.attrs.get("key") == key and bool(group.attrs.get("complete", False)):
                return group.name
        return None

    def begin(self, job: RetrackJob) -> str:
        """Create the group for ``job`` (tracks all NaN, not complete); returns its name."""
        runs = self._f["retrack"]
        for name in [n for n, g in runs.items() if g.attrs.get("key") == job.key]:
            del runs[name]  # an interrupted run of the same job
        number = 1 + max((int(n) for n in runs if n.isdigit()), default=-1)
        group = runs.create_group(str(number))
        tracks = group.create_dataset(
            "tracks",
            shape=(job.n_rows, len(TRACK_COLUMNS)),
            dtype="f8",
            chunks=(min(max(job.n_rows, 1), 8192), len(TRACK_COLUMNS)),
            fillvalue=np.nan,
        )
        tracks.attrs["columns"] = list(TRACK_COLUMNS)
        luts = group.create_group("zlut")
        for bead, (z, profiles) in job.luts.items():
            g = luts.create_group(str(-1 if bead is None else bead))
            g.create_dataset("z_nm", data=z)
            g.create_dataset("profiles", data=profiles)
        group.attrs["key"] = job.key
        group.attrs["complete"] = False
        group.attrs["created"] = _now()
        group.attrs["software_version"] = __version__
        group.attrs["zlut_source"] = job.zlut_source
        group.attrs["settings"] = json.dumps(job.settings.to_dict(), sort_keys=True)
        group.attrs["description"] = json.dumps(job.describe(), sort_keys=True)
        self._f.flush()
        return group.name

    def write_rows(self, group: str, offset: int, rows: np.ndarray) -> None:
        self._f[group]["tracks"][offset : offset + len(rows)] = rows

    def finish(self, group: str, elapsed_s: float) -> None:
        g = self._f[group]
        g.attrs["finished"] = _now()
        g.attrs["elapsed_s"] = float(elapsed_s)
        g.attrs["complete"] = True
        self._f.flush()

    def discard(self, group: str) -> None:
        if group in self._f:
            del self._f[group]


def read_retrack(path: str | os.PathLike[str], group: str | None = None) -> dict[str, np.ndarray]:
    """Track columns (TRACK_COLUMNS -> (n,) float64) of a complete re-track group of ``path``
    (None: the newest complete one)."""
    with h5py.File(path, "r") as f:
        if f.attrs.get("format") != FORMAT:
            raise RetrackError(f"{path} is not a re-track file")
        runs = f["retrack"]
        done = sorted((int(n) for n, g in runs.items() if g.attrs.get("complete")), reverse=True)
        name = group if group is not None else (f"/retrack/{done[0]}" if done else None)
        if name is None or name not in f or not f[name].attrs.get("complete"):
            raise RetrackError(f"{path}: no complete re-track {group or ''}".rstrip())
        rows = f[name]["tracks"][()]
    return {c: rows[:, i].copy() for i, c in enumerate(TRACK_COLUMNS)}
