"""The tracking service's ``find_beads`` and ``classify_beads``: reading the newest frames and the
recent track rows without consuming anything, and running the pure code of
:mod:`magscope_app.tracking.finding` / :mod:`magscope_app.tracking.classify` off the event loop.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import numpy as np

from ..buffers import MatrixBuffer, VideoBuffer
from ..buffers.errors import BufferUnderflow
from ..buffers.layouts import TRACK_COLUMNS
from ..control.protocol import CommandError
from ..tracking.classify import classify_tracks
from ..tracking.finding import FindResult, find_beads
from ._beads import BeadTable

_TIME = TRACK_COLUMNS.index("time")
_BEAD = TRACK_COLUMNS.index("bead")


async def newest_frames(
    video: VideoBuffer, count: int, frame_rate: float
) -> tuple[np.ndarray, list[int]]:
    """``count`` distinct newest frames (n, h, w) peeked lock-free as the camera delivers them,
    and their frame numbers; fewer if no new frame comes in time (acquisition paused)."""
    try:
        number, image = video.peek_image()
    except BufferUnderflow:
        raise CommandError("failed", "find_beads: the camera has delivered no frame yet") from None
    images, numbers = [image], [number]
    period = 1.0 / frame_rate if frame_rate > 0 else 0.1
    deadline = time.monotonic() + 2.0 + 2.0 * count * period
    while len(images) < count and time.monotonic() < deadline:
        await asyncio.sleep(period / 2)
        number, image = video.peek_image()
        if number != numbers[-1]:
            images.append(image)
            numbers.append(number)
    return np.stack(images), numbers


async def find(
    beads: BeadTable,
    video: VideoBuffer,
    frame_rate: float,
    *,
    frames: int,
    max_beads: int | None,
    min_distance: float | None,
    min_score: float | None,
) -> tuple[FindResult, list[int]]:
    """Run the finder on the newest ``frames`` frames in a thread; (result, frame numbers)."""
    images, numbers = await newest_frames(video, frames, frame_rate)
    options: dict[str, Any] = {"min_distance": min_distance, "max_beads": max_beads}
    if min_score is not None:
        options["min_score"] = min_score
    result = await asyncio.to_thread(
        find_beads, images, beads.size, existing=dict(beads.centres), **options
    )
    return result, numbers


def recent_rows(tracks: MatrixBuffer, seconds: float, rows_per_s: float) -> np.ndarray:
    """Track rows (oldest first) reaching at least ``seconds`` back from the newest, peeked
    without consuming; ``rows_per_s`` is a first guess of how many to read (doubled as needed)."""
    n = int(min(max(seconds * rows_per_s * 1.5, 4096), tracks.rows))
    while True:
        rows = tracks.peek_last(n)
        if (
            len(rows) < n
            or n >= tracks.rows
            or rows[:, _TIME].min() <= rows[:, _TIME].max() - seconds
        ):
            return rows
        n = min(2 * n, tracks.rows)


async def classify(
    beads: BeadTable, tracks: MatrixBuffer, seconds: float, frame_rate: float, **thresholds: Any
) -> dict[str, Any]:
    """Classify every bead from its last ``seconds`` of clean track rows (in a thread), store the
    kinds in ``beads`` and return the report."""
    ids = sorted(beads.centres)
    if not ids:
        raise CommandError("failed", "classify_beads: there are no beads")
    since = dict(beads.since)

    def work() -> dict[int, Any]:
        rows = recent_rows(tracks, seconds, max(frame_rate, 1.0) * len(ids))
        # rows from before a bead got its current centre belong to another bead
        bead = rows[:, _BEAD].astype(np.int64)
        start = np.zeros(max(ids) + 1 if not len(rows) else max(max(ids), bead.max()) + 1)
        start[list(since)] = list(since.values())
        rows = rows[rows[:, _TIME] >= start[bead]]
        return classify_tracks(rows, ids, seconds=seconds, **thresholds)

    motions = await asyncio.to_thread(work)
    for bead, motion in motions.items():
        if bead in beads.centres:  # not removed meanwhile
            if motion.kind == "unknown":
                beads.kinds.pop(bead, None)
            else:
                beads.kinds[bead] = motion.kind
    kinds = {k: [b for b, m in motions.items() if m.kind == k] for k in ("stuck", "tethered")}
    return {
        "seconds": seconds,
        "beads": [{"id": b, **m.to_dict()} for b, m in motions.items()],
        **kinds,
        "unknown": [b for b, m in motions.items() if m.kind == "unknown"],
    }
