"""Benchmark of recording (not a test). Prints ONE JSON line.

* track_rows_per_s: sustained track rows/s through RecordingWriter.append_tracks, in realistic
  batches (``--beads`` beads x ``--frames-per-append`` frames per call) that arrive out of order
  (two interleaved "workers", each batch's frames shuffled), reordering and the incremental
  checksum included; timed from the first append to close() + fsync.
* video_mb_per_s: full-frame video, 1024x1024 uint16, uncompressed, one frame per append, timed
  to close() + fsync; compared with the raw disk rate (os.write of 8 MiB blocks + fsync) measured
  in the same folder in the same run.
* compression: per video compression ("none", "lzf", "gzip" level 1, with shuffle, and
  "blosc-lz4" when hdf5plugin is installed), MB/s of frames through RecordingWriter to close() +
  fsync and the file size / raw size, on frames of the simulated camera (1024x1024, 12 bits in
  uint16, photon noise: what a lab records).
* rate_sweep: the recording path alone at rising frame rates (``--sweep-rates``, a few seconds
  each): a process stores 1024x1024 frames into a VideoBuffer ring of ``--ring-frames`` frames at
  the rate (consuming them as tracking would), the recorder's video source
  (``workers._record_video``) copies every frame into a RecordingWriter; per rate the frames
  stored, written and whether the recorder was overrun (the sweep stops at the first overrun);
  ``max_fps_0_lost``: the highest rate with every frame written (uncompressed).
* daemon_full_video (``--daemon-seconds`` > 0): a real daemon, simulated 1024x1024 camera at
  ``--daemon-fps`` with ``--daemon-beads`` beads tracked, ``full_video`` recorded for that long
  (``--daemon-compression``); the file read back: frames written / frames the camera delivered
  while it recorded (the frame-counter span of ``/frames``; target 1.0), seconds recorded, the
  camera's lost frames, the stop reason (a disk slower than the stream stops the recording with
  stop reason "error" and says so).

Everything goes to a temporary folder (``--dir`` to choose where) that is deleted afterwards.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import multiprocessing
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from magscope_app.hardware.simulated.camera import SimulatedCamera

from magscope_app.buffers import RecorderOverrun, VideoBuffer
from magscope_app.control import DaemonNotRunning, connect
from magscope_app.recording import RecordingWriter, VideoSpec, open_recording
from magscope_app.recording._filters import PLUGIN_COMPRESSIONS, load_hdf5plugin
from magscope_app.workers._record_video import VideoRecording

SPAWN = multiprocessing.get_context("spawn")

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


def camera_frames(n: int) -> np.ndarray:
    """``n`` frames (n, 1024, 1024) uint16 of the simulated camera (default sample)."""
    camera = SimulatedCamera(width=1024, height=1024)
    try:
        return np.stack([camera.render_next().image for _ in range(n)]).astype(np.uint16)
    finally:
        camera.close()


def bench_compression(folder: Path, frames: np.ndarray, n_frames: int) -> dict[str, dict]:
    """MB/s and size ratio of each video compression (frames cycled to ``n_frames``)."""
    out = {}
    try:
        load_hdf5plugin("blosc")
        plugins: tuple[str, ...] = PLUGIN_COMPRESSIONS
    except ImportError:
        plugins = ()
    for compression in ("none", "lzf", "gzip", *plugins):
        path = folder / f"video-{compression}.h5"
        spec = VideoSpec("full", (1024, 1024), compression=compression, gzip_level=1)
        t0 = time.perf_counter()
        w = RecordingWriter(path, instance="bench", video=spec)
        for i in range(n_frames):
            w.append_video(frames[i % len(frames)], [1.7e9 + i * 1e-2], [i])
        w.close()
        fsync_path(path)
        dt = time.perf_counter() - t0
        raw = n_frames * frames[0].nbytes
        out[compression] = {
            "mb_per_s": round(raw / dt / MB, 1),
            "fps": round(n_frames / dt, 1),
            "size_ratio": round(path.stat().st_size / raw, 3),
        }
        path.unlink()
    return out


def _paced_camera(instance, locks, frames, fps, seconds, ready, done, elapsed) -> None:
    """Store frames into the VideoBuffer at ``fps`` for ``seconds``, consuming every stack as the
    tracking workers would (so only the recorder can fall behind)."""
    video = VideoBuffer(create=False, locks=locks, instance=instance)
    try:
        ready.wait(60)
        n = round(fps * seconds)
        start = time.perf_counter()
        for i in range(n):
            delay = start + i / fps - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            video.write_image_and_timestamp(frames[i % len(frames)], time.time(), i)
            while video.check_read_stack():
                video.read_stack_no_return()
        elapsed.value = time.perf_counter() - start
    finally:
        done.set()
        video.close()


def bench_rate(folder: Path, frames: np.ndarray, fps: float, seconds: float, ring: int) -> dict:
    """Frames stored vs written at ``fps`` through the recorder's video source."""
    instance = f"benchrec{os.getpid()}"
    locks = {"VideoBuffer": SPAWN.Lock()}
    video = VideoBuffer(
        create=True, locks=locks, n_stacks=ring, n_images=1, height=1024, width=1024, bits=16,
        instance=instance,
    )  # fmt: skip
    ready, done, elapsed = SPAWN.Event(), SPAWN.Event(), SPAWN.Value("d", 0.0)
    camera = SPAWN.Process(
        target=_paced_camera, args=(instance, locks, frames, fps, seconds, ready, done, elapsed)
    )
    path = folder / f"rate-{fps:g}.h5"
    overrun = False
    try:
        source = VideoRecording(video, "full", None)
        with RecordingWriter(path, instance="bench", video=source.spec) as writer:
            camera.start()
            ready.set()
            try:
                while not done.is_set():
                    if not source.pump(writer, budget_s=0.25):
                        time.sleep(0.005)
                source.pump(writer, budget_s=None)
            except RecorderOverrun:
                overrun = True
        source.close()
        camera.join(60)
        stored = video.frames_written
    finally:
        if camera.is_alive():
            camera.kill()
        video.unlink()
        path.unlink(missing_ok=True)
    return {
        "fps": fps,
        "fps_stored": round(stored / elapsed.value, 1) if elapsed.value else 0.0,
        "frames_stored": stored,
        "frames_written": source.frames_written,
        "overrun": overrun,
        "ring_fill_max": round(source.max_fill, 3),
    }


def bench_daemon(
    folder: Path, seconds: float, fps: float, beads: int, ring_s: float, compression: str
) -> dict:
    """full_video through a real daemon with tracking on; the file read back."""
    config = folder / "bench.toml"
    config.write_text(
        f"""[camera]
driver = "simulated.camera"
width = 1024
height = 1024
bits = 12
frame_rate = {float(fps)}

[simulation]
n_beads = {beads}
n_reference_beads = 0
seed = 3

[recording]
video_buffer_seconds = {ring_s}
video_compression = "{compression}"
"""
    )
    env = {**os.environ, "MAGSCOPE_APP_RUNTIME_DIR": str(folder / "run"),
           "MAGSCOPE_APP_STATE_DIR": str(folder / "state")}  # fmt: skip
    os.environ.update(env)
    instance = f"benchrec{os.getpid()}"
    stderr = open(folder / "daemon.stderr", "wb")  # noqa: SIM115 - closed below
    daemon = subprocess.Popen(
        [sys.executable, "-m", "magscope_app", "daemon", "--instance", instance,
         "--config", str(config)],
        stdout=subprocess.DEVNULL, stderr=stderr, env=env,
    )  # fmt: skip
    try:
        client = _wait(lambda: connect(instance, timeout=30), 120)
        with client:
            _wait(lambda: client.status()["tracking"]["workers_running"] > 0, 300)
            _wait(lambda: client.status()["camera"]["frames_acquired"] > 10, 120)
            truth = client.call("sim_truth")
            centres = [
                [x, y] for x, y in zip(truth["x_px"], truth["y_px"], strict=True)
                if 40 < x < 984 and 40 < y < 984
            ]  # fmt: skip
            client.call("add_beads", rois=centres)
            time.sleep(2.0)  # the workers pick up the ROIs
            before = client.status()["camera"]
            rec = client.call(
                "record_start", folder=str(folder / "recs"), mode="full_video", duration_s=seconds
            )
            status = _wait(lambda: not (s := client.call("record_status"))["running"] and s,
                           seconds + 120)  # fmt: skip
            after = client.status()["camera"]
            client.stop()
    finally:
        try:
            daemon.wait(30)
        except subprocess.TimeoutExpired:
            daemon.kill()
            daemon.wait()
        stderr.close()
    with open_recording(rec["file"]) as r:
        video = r.video_index()
        frames = r.frames()
        size = Path(rec["file"]).stat().st_size
    numbers = frames["frame"]
    acquired = int(numbers[-1] - numbers[0] + 1) if len(numbers) else 0
    return {
        "seconds": seconds,
        "fps": fps,
        "compression": compression,
        "beads_tracked": len(centres),
        "frames_written": len(video["frame"]),
        "frames_acquired": acquired,
        "written_over_acquired": round(len(video["frame"]) / acquired, 4) if acquired else 0.0,
        "seconds_recorded": round(float(np.ptp(video["time"])), 2) if len(video["time"]) else 0,
        "camera_frames_lost_in_recording": int(np.ptp(frames["lost"])) if len(numbers) else 0,
        "camera_frames_lost_daemon": after["frames_lost"] - before["frames_lost"],
        "stop_reason": status["stop_reason"],
        "last_error": status["last_error"],
        "ring_fill_max": (status.get("video") or {}).get("ring_fill_max"),
        "file_mb": round(size / MB),
    }


def _wait(predicate, timeout: float):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(DaemonNotRunning, OSError):
            value = predicate()
            if value:
                return value
        time.sleep(0.2)
    raise TimeoutError("the daemon did not answer in time")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--dir", default=None, help="parent folder of the temporary folder")
    ap.add_argument("--appends", type=int, default=5000, help="track appends")
    ap.add_argument("--beads", type=int, default=100)
    ap.add_argument("--frames-per-append", type=int, default=10)
    ap.add_argument("--video-frames", type=int, default=500, help="1024x1024 uint16 frames")
    ap.add_argument("--raw-mb", type=int, default=1024, help="MB written for the raw disk rate")
    ap.add_argument("--compression-frames", type=int, default=200, help="frames per compression")
    ap.add_argument("--sweep-rates", default="25,50,100,200,400,800", help="frames/s, rising")
    ap.add_argument("--sweep-seconds", type=float, default=3.0)
    ap.add_argument("--ring-frames", type=int, default=128, help="ring of the rate sweep")
    ap.add_argument("--daemon-seconds", type=float, default=30.0, help="0: skip the daemon run")
    ap.add_argument("--daemon-fps", type=float, default=100.0)
    ap.add_argument("--daemon-beads", type=int, default=23)
    ap.add_argument("--daemon-ring-s", type=float, default=2.0, help="video_buffer_seconds")
    ap.add_argument("--daemon-compression", default="none", help="video_compression")
    args = ap.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="bench-recording-", dir=args.dir))
    try:
        raw = raw_disk_rate(folder, args.raw_mb * 2**20)
        rows_per_s = bench_tracks(folder, args.appends, args.beads, args.frames_per_append)
        video = bench_video(folder, args.video_frames)
        frames = camera_frames(8)
        compression = bench_compression(folder, frames, args.compression_frames)
        sweep = []
        for fps in (float(r) for r in args.sweep_rates.split(",")):
            sweep.append(bench_rate(folder, frames, fps, args.sweep_seconds, args.ring_frames))
            if sweep[-1]["overrun"]:
                break
        daemon = None
        if args.daemon_seconds > 0:
            daemon = bench_daemon(
                folder, args.daemon_seconds, args.daemon_fps, args.daemon_beads,
                args.daemon_ring_s, args.daemon_compression,
            )  # fmt: skip
        raw_after = raw_disk_rate(folder, args.raw_mb * 2**20)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    clean = [r["fps_stored"] for r in sweep if not r["overrun"]]
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
                "compression": compression,
                "rate_sweep": sweep,
                "max_fps_0_lost": max(clean) if clean else 0.0,
                "daemon_full_video": daemon,
                "folder": str(folder.parent),
            }
        )
    )


if __name__ == "__main__":
    main()
