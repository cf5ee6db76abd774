"""The driver: plans every recording, hands chunks to an executor, writes each file's result.

An executor runs ``track_chunk(job, index)`` tasks and yields ``(tag, rows or exception)`` as
they finish (any order); ``cancel(file_number)`` drops the rest of a failed file's tasks. Only
this process writes files. A file that fails is reported and its partial group removed; the
other files go on.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import h5py
import numpy as np

from magscope_app.recording import RecordingError, schema

from ._job import RetrackError, RetrackJob, make_job
from ._output import SUFFIX, RetrackFile
from ._track import track_chunk

Tag = tuple[int, int]  # (file number, chunk index)


@dataclass(frozen=True)
class Progress:
    """Where a re-track run stands (frames of the files being re-tracked, and files)."""

    frames_done: int
    frames_total: int
    files_done: int
    files_failed: int
    files_total: int


@dataclass(frozen=True)
class RetrackOutcome:
    """What happened to one recording. ``status``: "done", "skipped" (a complete re-track
    with the same key exists) or "failed" (``message`` says why, in one line)."""

    path: Path
    status: str
    out: Path | None = None
    group: str | None = None
    message: str = ""
    frames: int = 0
    beads: int = 0

    def __str__(self) -> str:
        if self.status == "failed":
            return f"FAILED {self.path}: {self.message}"
        where = f"{self.out}:{self.group}"
        if self.status == "skipped":
            return f"skipped {self.path}: already re-tracked with these settings and LUTs ({where})"
        return f"done {self.path} -> {where} ({self.frames} frames, {self.beads} beads)"


class Executor(Protocol):
    def run(self, tasks: Sequence[tuple[Tag, RetrackJob]]) -> Iterator[tuple[Tag, Any]]: ...

    def cancel(self, file_number: int) -> None: ...


class SerialExecutor:
    """Runs the tasks one after the other in this process."""

    def __init__(self) -> None:
        self._cancelled: set[int] = set()

    def run(self, tasks: Sequence[tuple[Tag, RetrackJob]]) -> Iterator[tuple[Tag, Any]]:
        for tag, job in tasks:
            if tag[0] in self._cancelled:
                continue
            try:
                yield tag, track_chunk(job, tag[1])
            except Exception as exc:  # reported per file by the driver
                yield tag, exc

    def cancel(self, file_number: int) -> None:
        self._cancelled.add(file_number)


@dataclass
class _File:
    path: Path
    out: Path
    job: RetrackJob
    group: str
    started: float
    chunks_left: int


def _error_text(exc: BaseException, path: Path) -> str:
    """One line without the file name (the outcome names it)."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    if not isinstance(exc, RetrackError | RecordingError):
        text = f"{type(exc).__name__}: {text}"
    return text.removeprefix(f"{path}: ")


def run_files(
    items: Iterable[tuple[Path, Path]],
    executor: Executor,
    *,
    zlut: Any = None,
    overrides: Mapping[str, Any] | None = None,
    chunk_frames: int | None = None,
    progress: Callable[[Progress], None] | None = None,
) -> list[RetrackOutcome]:
    """Re-track each (recording, output file); one outcome per recording, in input order."""
    items = list(items)
    outcomes: dict[int, RetrackOutcome] = {}
    files: dict[int, _File] = {}
    for number, (path, out) in enumerate(items):
        try:
            job = make_job(path, zlut, overrides, chunk_frames)
            with RetrackFile(out, path) as rf:
                done = rf.completed(job.key)
                if done is None:
                    group = rf.begin(job)
                    files[number] = _File(path, out, job, group, time.monotonic(), len(job.chunks))
            if done is not None:
                outcomes[number] = RetrackOutcome(
                    path, "skipped", out, done, frames=job.n_frames, beads=len(job.beads)
                )
        except Exception as exc:  # whatever is wrong with one file, the others go on
            outcomes[number] = RetrackOutcome(path, "failed", out, message=_error_text(exc, path))
    total = sum(f.job.n_frames for f in files.values())
    frames_done = 0

    def report() -> None:
        if progress is not None:
            failed = sum(o.status == "failed" for o in outcomes.values())
            progress(Progress(frames_done, total, len(outcomes) - failed, failed, len(items)))

    report()
    tasks = [((n, i), f.job) for n, f in files.items() for i in range(len(f.job.chunks))]
    for (number, index), result in executor.run(tasks):
        file = files[number]
        if number in outcomes:
            continue  # failed already
        chunk = file.job.chunks[index]
        try:
            if isinstance(result, BaseException):
                raise result
            rows = np.asarray(result)
            with RetrackFile(file.out, file.path) as rf:
                rf.write_rows(file.group, chunk.row_offset, rows)
                file.chunks_left -= 1
                if file.chunks_left == 0:
                    rf.finish(file.group, time.monotonic() - file.started)
        except Exception as exc:
            executor.cancel(number)
            _discard(file)
            outcomes[number] = RetrackOutcome(
                file.path, "failed", file.out, message=_error_text(exc, file.path)
            )
            report()
            continue
        frames_done += chunk.stop - chunk.start
        if file.chunks_left == 0:
            job = file.job
            outcomes[number] = RetrackOutcome(
                file.path, "done", file.out, file.group, frames=job.n_frames, beads=len(job.beads)
            )
        report()
    return [outcomes[n] for n in range(len(items))]


def _discard(file: _File) -> None:
    try:
        with RetrackFile(file.out, file.path) as rf:
            rf.discard(file.group)
    except (RetrackError, OSError):
        pass  # the incomplete group is removed by the next run of the same job


def find_recordings(paths: Iterable[str | os.PathLike[str]]) -> list[Path]:
    """Files as given, and the recordings with video in each folder (``*.h5``/``*.hdf5``,
    sorted; other HDF5 files, such as Z-LUT, re-track or tracks-only files, are left out), each
    once."""
    found: dict[Path, Path] = {}
    for entry in map(Path, paths):
        if not entry.is_dir():
            found.setdefault(entry.resolve(), entry)
            continue
        for path in sorted(p for p in entry.iterdir() if p.suffix in (".h5", ".hdf5")):
            if not path.name.endswith(SUFFIX) and _maybe_video_recording(path):
                found.setdefault(path.resolve(), path)
    return list(found.values())


def _maybe_video_recording(path: Path) -> bool:
    """False for an HDF5 file of another kind or without video; True for a recording with
    video or a file that cannot be read (so that it is reported). Opened without SWMR: a
    truncated file would hang it."""
    try:
        with h5py.File(path, "r") as f:
            kind = schema.decode(f.attrs.get(schema.A_FORMAT, ""))
            return kind == schema.FORMAT_NAME and schema.VIDEO_INDEX in f
    except (OSError, ValueError):
        return True
