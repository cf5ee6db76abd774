"""Benchmark of the recording writer (not a test). Prints ONE JSON line.

* track_rows_per_s: sustained track rows/s through RecordingWriter.append_tracks, in realistic
  batches (``--beads`` beads x ``--frames-per-append`` frames per call) that arrive out of order
  (two interleaved "workers", each batch's frames shuffled), reordering and the incremental
  checksum included; timed from the first append to close() + fsync.
* video_mb_per_s: full-frame video, 1024x1024 uint16, uncompressed, one frame per append, timed
  to close() + fsync; compared with the raw disk rate (os.write of 8 MiB blocks + fsync) measured
  in the same folder in the same run.

Everything goes to a temporary folder (``--dir`` to choose where) that is deleted afterwards.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np

from magscope_app.recording import RecordingWriter, VideoSpec

MB = 1e6


def fsync_path(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def raw_disk_rate(folder: Path, nbytes: int) -> float:
    """MB/s of os.write in 8 MiB blocks plus a final fsync."""
    block = np.random.default_rng(0).integers(0, 255, 8 * 2**20, dtype=np.uint8).tobytes()
    path = folder / "raw.bin"
    t0 = time.perf_counter()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        written = 0
        while written < nbytes:
            written += os.write(fd, block)
        os.fsync(fd)
    finally:
        os.close(fd)
    dt = time.perf_counter() - t0
    path.unlink()
    return written / dt / MB


def make_batches(n_appends: int, beads: int, frames_per_append: int) -> list[np.ndarray]:
    """Track batches as parallel workers deliver them: pairs of batches swapped, rows shuffled."""
    rng = np.random.default_rng(1)
    bead_ids = np.arange(beads, dtype=float)
    batches = []
    for i in range(n_appends):
        frames = np.arange(i * frames_per_append, (i + 1) * frames_per_append, dtype=float)
        rows = np.zeros((beads * frames_per_append, 9))
        rows[:, 1] = np.repeat(frames, beads)
        rows[:, 0] = 1.7e9 + rows[:, 1] * 1e-3
        rows[:, 2] = np.tile(bead_ids, frames_per_append)
        rows[:, 3:8] = rng.normal(size=(len(rows), 5))
        batches.append(rows[rng.permutation(len(rows))])
    for i in range(0, n_appends - 1, 2):  # worker B's batch arrives before worker A's
        batches[i], batches[i + 1] = batches[i + 1], batches[i]
    return batches


def bench_tracks(folder: Path, n_appends: int, beads: int, frames_per_append: int) -> float:
    batches = make_batches(n_appends, beads, frames_per_append)
    path = folder / "tracks.h5"
    t0 = time.perf_counter()
    w = RecordingWriter(path, instance="bench", beads_per_frame=beads, reorder_window=100)
    for b in batches:
        w.append_tracks(b)
    w.close()
    fsync_path(path)
    dt = time.perf_counter() - t0
    path.unlink()
    return sum(len(b) for b in batches) / dt


def bench_video(folder: Path, n_frames: int) -> float:
    frame = np.random.default_rng(2).integers(0, 4096, (1024, 1024), dtype=np.uint16)
    path = folder / "video.h5"
    t0 = time.perf_counter()
    w = RecordingWriter(path, instance="bench", video=VideoSpec("full", (1024, 1024)))
    for i in range(n_frames):
        w.append_video(frame, [1.7e9 + i * 1e-2], [i])
    w.close()
    fsync_path(path)
    dt = time.perf_counter() - t0
    path.unlink()
    return n_frames * frame.nbytes / dt / MB


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--dir", default=None, help="parent folder of the temporary folder")
    ap.add_argument("--appends", type=int, default=5000, help="track appends")
    ap.add_argument("--beads", type=int, default=100)
    ap.add_argument("--frames-per-append", type=int, default=10)
    ap.add_argument("--video-frames", type=int, default=500, help="1024x1024 uint16 frames")
    ap.add_argument("--raw-mb", type=int, default=1024, help="MB written for the raw disk rate")
    args = ap.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="bench-recording-", dir=args.dir))
    try:
        raw = raw_disk_rate(folder, args.raw_mb * 2**20)
        rows_per_s = bench_tracks(folder, args.appends, args.beads, args.frames_per_append)
        video = bench_video(folder, args.video_frames)
        raw_after = raw_disk_rate(folder, args.raw_mb * 2**20)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    raw_mean = (raw + raw_after) / 2
    print(
        json.dumps(
            {
                "track_rows_per_s": round(rows_per_s),
                "track_mb_per_s": round(rows_per_s * 72 / MB, 1),
                "track_target_rows_per_s": 1_000_000,
                "batch": f"{args.beads} beads x {args.frames_per_append} frames, out of order",
                "video_mb_per_s": round(video, 1),
                "video_frame": "1024x1024 uint16, uncompressed",
                "raw_disk_mb_per_s": round(raw_mean, 1),
                "raw_disk_mb_per_s_before_after": [round(raw, 1), round(raw_after, 1)],
                "video_fraction_of_raw": round(video / raw_mean, 2),
                "folder": str(folder.parent),
            }
        )
    )


if __name__ == "__main__":
    main()
