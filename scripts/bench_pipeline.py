"""End-to-end pipeline benchmark: simulated camera → VideoBuffer → tracking workers → Tracks.

Starts a real daemon with the simulated microscope (``--beads`` beads at ``--fps`` frames/s on a
``--size``² camera), waits until the tracking workers are ready (started paused, so start-up and
kernel compilation are not measured), adds a ROI at every bead, resumes acquisition for
``--duration`` seconds and prints ONE JSON line:

* ``frames_in``: frames the camera stored; ``frames_tracked``: frames the tracking workers
  finished; ``frames_lost``: frames the camera could not store (ring full) plus frames claimed by
  a crashed worker (both from ``status``); ``frames_pending``: stored but not yet tracked at the
  end;
* ``latency_ms`` (median, p99): measured by the tracking workers, ``time.time()`` right after a
  stack's rows were written to Tracks minus each frame's timestamp (the simulator stamps the middle
  of the exposure), from the histogram the workers publish in their stats (bins ~12 % wide);
* ``cpu_percent``: CPU use of each process (manager, camera, tracking:N, …) over the measurement,
  from ``/proc/<pid>/stat`` (100 = one core);
* the targets: 0 frames lost and a median latency under 50 ms;
* ``reference_rois_per_cpu_s``: how fast this machine is right now, measured before the daemon
  starts: one process tracking the ROIs of one frame of the same simulated camera (best of 10
  runs, CPU time). The machine is shared: when it is slow, the pipeline has less headroom.

Usage: python scripts/bench_pipeline.py [--duration 60] [--beads 100] [--fps 100] [--workers 2]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from magscope_app.hardware.config import create_device

from magscope_app.config import load_daemon_config
from magscope_app.control import DaemonNotRunning, connect
from magscope_app.tracking import track_xyz

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def _config(args: argparse.Namespace, folder: Path) -> Path:
    stacks = max(2, round(args.ring_s * args.fps / args.images_per_stack))
    path = folder / "bench_pipeline.toml"
    path.write_text(
        f"""[camera]
driver = "simulated.camera"
width = {args.size}
height = {args.size}
bits = 12
frame_rate = {float(args.fps)}

[motors.focus]
driver = "simulated.focus"
limits = [-5000.0, 5000.0]

[simulation]
n_beads = {args.beads}
n_reference_beads = 0
seed = 3

[daemon]
video_stacks = {stacks}
images_per_stack = {args.images_per_stack}

[tracking]
workers = {args.workers}
roi_size = {args.roi_size}
"""
    )
    return path


def _cpu_ticks(pid: int) -> int:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0
    return int(fields[11]) + int(fields[12])  # utime + stime


def _reference_rate(frame: np.ndarray, centres: list[list[float]], size: int) -> float:
    """ROIs per CPU second of one process tracking the beads of ``frame`` (best of 10 runs)."""
    half = size // 2
    rois = np.stack([
        frame[round(y) - half : round(y) + half, round(x) - half : round(x) + half]
        for x, y in centres
        if half <= round(x) <= frame.shape[1] - half and half <= round(y) <= frame.shape[0] - half
    ])  # fmt: skip
    track_xyz(rois)  # compile or load the kernels
    best = float("inf")
    for _ in range(10):
        start = time.thread_time()
        track_xyz(rois)
        best = min(best, time.thread_time() - start)
    return len(rois) / best


def _answers(instance: str) -> bool:
    with connect(instance, timeout=5) as client:
        return bool(client.status())


def _wait(predicate, timeout: float):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            value = predicate()
        except (DaemonNotRunning, OSError):
            value = None
        if value:
            return value
        time.sleep(0.2)
    raise TimeoutError("the daemon did not get ready in time")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=60.0, help="measured seconds")
    parser.add_argument("--beads", type=int, default=100)
    parser.add_argument("--fps", type=float, default=100.0)
    parser.add_argument("--size", type=int, default=1024, help="camera width = height (px)")
    parser.add_argument("--workers", type=int, default=2, help="tracking worker processes")
    parser.add_argument("--images-per-stack", type=int, default=1)
    parser.add_argument("--roi-size", type=int, default=64)
    parser.add_argument("--ring-s", type=float, default=1.0, help="VideoBuffer length (s)")
    args = parser.parse_args()

    folder = Path(tempfile.mkdtemp(prefix="msa-bench-", dir="/tmp"))
    env = {**os.environ, "MAGSCOPE_APP_RUNTIME_DIR": str(folder),
           "MAGSCOPE_APP_STATE_DIR": str(folder / "state")}  # fmt: skip
    os.environ.update(env)
    instance = f"bench{os.getpid()}"
    config = _config(args, folder)
    camera = create_device(load_daemon_config(config).camera, instance=None)
    layout = camera.bead_layout()
    centres = [list(p) for p in zip(layout["anchor_x_px"], layout["anchor_y_px"], strict=True)]
    reference = _reference_rate(camera.render_next().image, centres, args.roi_size)
    camera.close()
    stderr = open(folder / "daemon.stderr", "wb")  # noqa: SIM115 - closed below
    daemon = subprocess.Popen(
        [sys.executable, "-m", "magscope_app", "daemon", "--instance", instance,
         "--config", str(config), "--paused"],
        stdout=subprocess.DEVNULL, stderr=stderr, env=env,
    )  # fmt: skip
    try:
        _wait(lambda: _answers(instance), timeout=120)
        with connect(instance, timeout=30) as client:
            _wait(
                lambda: client.status()["tracking"]["workers_running"] == args.workers,
                timeout=300,
            )
            client.call("add_beads", rois=centres)
            time.sleep(1.0)  # the workers pick up the new ROIs
            before = client.status()
            pids = {"manager": before["pid"]}
            pids |= {w["name"]: w["pid"] for w in before["workers"] if w["pid"]}
            ticks = {name: _cpu_ticks(pid) for name, pid in pids.items()}
            started = time.monotonic()
            client.resume()
            time.sleep(args.duration)
            client.pause()
            wall = time.monotonic() - started
            cpu = {
                name: round(100.0 * (_cpu_ticks(pid) - ticks[name]) / CLOCK_TICKS / wall, 1)
                for name, pid in pids.items()
            }
            time.sleep(1.0)  # let the last stacks be tracked
            after = client.status()
            client.stop()
    finally:
        try:
            daemon.wait(30)
        except subprocess.TimeoutExpired:
            daemon.kill()
            daemon.wait()
        stderr.close()
        shutil.rmtree(folder, ignore_errors=True)
    cam0, cam1 = before["camera"], after["camera"]
    trk0, trk1 = before["tracking"], after["tracking"]
    frames_in = cam1["frames_acquired"] - cam0["frames_acquired"]
    tracked = trk1["frames_tracked"] - trk0["frames_tracked"]
    lost = cam1["frames_lost"] - cam0["frames_lost"] + trk1["frames_lost"] - trk0["frames_lost"]
    latency = trk1["latency_ms"]
    result = {
        "bench": "pipeline",
        "beads": args.beads,
        "fps_target": args.fps,
        "camera_px": args.size,
        "roi_size": args.roi_size,
        "workers": args.workers,
        "images_per_stack": args.images_per_stack,
        "duration_s": round(wall, 2),
        "frames_in": frames_in,
        "frames_tracked": tracked,
        "frames_lost": lost,
        "frames_pending": max(frames_in - tracked, 0),
        "fps_achieved": round(frames_in / wall, 1),
        "rois_per_s": round(tracked * args.beads / wall, 1),
        "latency_median_ms": latency["median"] and round(latency["median"], 2),
        "latency_p99_ms": latency["p99"] and round(latency["p99"], 2),
        "cpu_percent": cpu,
        "cpus": os.cpu_count(),
        "reference_rois_per_cpu_s": round(reference),
        "load_avg_1min": round(os.getloadavg()[0], 2),
        "target_met": lost == 0 and (latency["median"] or 1e9) < 50.0,
    }
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
