"""Offline analysis of recordings.

Re-tracking: :func:`retrack` tracks the video of one recording again (full or ROI video) with
the same tracking code as live tracking and new Z-LUTs or settings, and writes a new tracks
table to a re-track file beside it (the recording is never modified; see ``_output`` for the
layout and :func:`read_retrack`). :func:`retrack_many` does the same for many recordings on Dask
(optional extra ``dask``), one task per chunk of frames.

Science (pure functions on arrays, in their own modules): ``force`` (force calibration from a
bead's Brownian motion: blurred, aliased power spectrum by maximum likelihood, Allan variance),
``force_curve`` (force against magnet height), ``wlc`` (worm-like-chain fits), ``drift``
(drift from reference beads).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

from magscope_app.tracking import ZLUT
from magscope_app.zlut import LUTFile, LUTFileError, load_luts

from ._job import RetrackError, RetrackJob, make_job
from ._output import FORMAT, default_out, read_retrack
from ._run import Progress, RetrackOutcome, SerialExecutor, find_recordings, run_files

ZLutArg = str | os.PathLike[str] | LUTFile | ZLUT | Mapping[int | None, ZLUT] | None
PathArg = str | os.PathLike[str]


def _luts(zlut: ZLutArg) -> LUTFile | ZLUT | Mapping[int | None, ZLUT] | None:
    if isinstance(zlut, str | os.PathLike):
        try:
            return load_luts(zlut)
        except LUTFileError as exc:
            raise RetrackError(str(exc)) from None
    return zlut


def retrack(
    path: PathArg,
    zlut: ZLutArg = None,
    settings: Mapping[str, Any] | None = None,
    out: PathArg | None = None,
    progress: Callable[[Progress], None] | None = None,
    *,
    chunk_frames: int | None = None,
) -> RetrackOutcome:
    """Re-track the video of recording ``path`` in this process.

    ``zlut``: None re-uses the LUTs recorded with the video; a LUT file (path or
    :class:`~magscope_app.zlut.LUTFile`, which must fit the recording's ROI and pixel size), one
    :class:`~magscope_app.tracking.ZLUT` for every bead, or {bead: ZLUT}. ``settings``:
    :class:`~magscope_app.tracking.TrackingSettings` fields replacing the ones live tracking
    used. ``out``: the re-track file (default ``<stem>.retrack.h5`` beside the recording).
    ``progress`` is called with a :class:`Progress` after every chunk. Returns the outcome
    (status "done" or "skipped" if this was done before); raises :class:`RetrackError` (or
    ``RecordingError``) naming the problem if the recording cannot be re-tracked.
    """
    outcome = run_files(
        [(Path(path), Path(out) if out is not None else default_out(path))],
        SerialExecutor(),
        zlut=_luts(zlut),
        overrides=settings,
        chunk_frames=chunk_frames,
        progress=progress,
    )[0]
    if outcome.status == "failed":
        raise RetrackError(f"{path}: {outcome.message}")
    return outcome


def retrack_many(
    paths: Iterable[PathArg],
    zlut: ZLutArg = None,
    settings: Mapping[str, Any] | None = None,
    out: PathArg | None = None,
    progress: Callable[[Progress], None] | None = None,
    *,
    scheduler: str | Any | None = None,
    workers: int | None = None,
    processes: bool = True,
    chunk_frames: int | None = None,
) -> list[RetrackOutcome]:
    """Re-track many recordings (files, or folders of them) on Dask; one outcome per recording.

    A failed recording is reported in its outcome and the others go on; a recording already
    re-tracked with the same settings and LUTs is skipped. ``out``: a folder for the re-track
    files (default: beside each recording). ``scheduler``: a scheduler address
    (``tcp://host:8786``) or a ``distributed.Client``; None starts a ``LocalCluster`` of
    ``workers`` workers (``processes`` False: threads in this process) for the run.
    Other arguments as for :func:`retrack`. Raises RetrackError only for problems that concern
    every file (bad LUT file, bad setting name, no Dask, unreachable scheduler).
    """
    from magscope_app.tracking import TrackingSettings
    from magscope_app.tracking_config import settings_from_mapping

    from ._dask import dask_executor

    try:
        settings_from_mapping(dict(settings or {}), TrackingSettings())
    except ValueError as exc:
        raise RetrackError(f"bad tracking setting: {exc}") from None
    recordings = find_recordings(paths)
    folder = Path(out) if out is not None else None
    if folder is not None and folder.exists() and not folder.is_dir():
        raise RetrackError(f"--out {folder} must be a folder when re-tracking several files")
    items = [(p, folder / default_out(p).name if folder else default_out(p)) for p in recordings]
    luts = _luts(zlut)
    with dask_executor(scheduler, workers, processes) as executor:
        return run_files(
            items, executor, zlut=luts, overrides=settings, chunk_frames=chunk_frames,
            progress=progress,
        )  # fmt: skip


__all__ = [
    "FORMAT",
    "Progress",
    "RetrackError",
    "RetrackJob",
    "RetrackOutcome",
    "default_out",
    "find_recordings",
    "make_job",
    "read_retrack",
    "retrack",
    "retrack_many",
]
