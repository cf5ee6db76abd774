"""Benchmark: Z-lock residual against a focus drift of 50 nm/min (issue 13 §2 acceptance).

Starts the real simulated daemon (a 320² camera at 50 frames/s, 3 tethered and 3 reference beads,
the focal plane creeping at ``--rate`` nm/min), adds a bead on every bead of the simulated
sample, loads a Z-LUT made offline from the optics model (no sweep to wait for) and makes the
stuck beads the references. It first watches the beads without the lock for ``--minutes`` / 5
(at least 30 s), then locks the focus on them for ``--minutes`` (default 10). Every 0.2 s it
reads the simulator's true height of the reference beads relative to the focus (``sim_truth``).
Prints one JSON line: the residual z RMS (nm) of the reference beads' mean with the lock on
(about its mean; the first 10 s after lock-on are left out while the lock acquires) and its
largest excursion; without the lock, the drift rate it measured (nm/min) and the RMS about the
starting height. Acceptance: ``locked_rms_nm`` < 5 over 10 minutes.

    .venv/bin/python scripts/bench_lock.py [--minutes 10] [--rate 50]
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from magscope_app.hardware.simulated.optics import expected_roi

from magscope_app.control import CommandError, DaemonNotRunning, connect
from magscope_app.tracking import TrackingSettings
from magscope_app.tracking.api import make_zlut

CONFIG = """
[camera]
driver = "simulated.camera"
width = 320
height = 320
frame_rate = 50.0

[motors.focus]
driver = "simulated.focus"
limits = [-5000.0, 5000.0]

[simulation]
n_beads = 3
n_reference_beads = 3
seed = 5
default_magnet_height_mm = 0.5
drift_velocity_nm_per_s = [0.2, -0.15, 0.0]
focus_drift_nm_per_min = {rate}

[daemon]
video_stacks = 32
images_per_stack = 2
"""
SAMPLE_S = 0.2
ACQUIRE_S = 10.0


def _offline_zlut(settings: TrackingSettings) -> dict:
    """``set_zlut`` arguments: a LUT over 0–2600 nm relative to the focus from noise-free model
    images of a bead at a few sub-pixel centres per plane."""
    z_nm = np.arange(0.0, 2600.0, 20.0)
    offsets = ((31.5, 31.5), (31.2, 31.8), (31.8, 31.3))
    stacks = [np.stack([expected_roi((64, 64), x, y, z, 5000.0) for x, y in offsets]) for z in z_nm]
    lut = make_zlut(z_nm, stacks, settings)
    return {"z_nm": lut.z_nm.tolist(), "profiles": lut.profiles.tolist()}


def _wait_ready(instance: str, timeout: float = 90.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with connect(instance) as client:
                status = client.call("status")
            if status["tracking"]["workers_running"] >= 1:
                return
        except DaemonNotRunning:
            pass
        time.sleep(0.3)
    raise TimeoutError("the daemon did not start")


def _first_truth(client, timeout: float = 30.0) -> dict:
    """The simulator's ground truth of the first frame there is."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return client.call("sim_truth")
        except CommandError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def _watch(client, refs: list[int], seconds: float) -> tuple[np.ndarray, np.ndarray]:
    """(time s, true mean z of the references relative to the focus, nm) every SAMPLE_S."""
    times, z = [], []
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        truth = client.call("sim_truth")
        times.append(truth["timestamp"])
        z.append(float(np.mean([truth["z_rel_nm"][b] for b in refs])))
        time.sleep(SAMPLE_S)
    return np.asarray(times), np.asarray(z)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10.0, help="locked run (default 10)")
    parser.add_argument("--rate", type=float, default=50.0, help="focus drift, nm/min")
    args = parser.parse_args()
    locked_s = args.minutes * 60.0
    unlocked_s = max(30.0, locked_s / 5.0)
    instance = f"benchlock{os.getpid()}"
    with tempfile.TemporaryDirectory(prefix="msa-bench-") as tmp:
        config = Path(tmp) / "lock.toml"
        config.write_text(CONFIG.format(rate=args.rate))
        env = {**os.environ, "MAGSCOPE_APP_RUNTIME_DIR": tmp, "MAGSCOPE_APP_STATE_DIR": tmp}
        os.environ.update(env)
        daemon = subprocess.Popen(
            [sys.executable, "-m", "magscope_app", "daemon", "--instance", instance,
             "--config", str(config)],
            env=env, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        try:
            _wait_ready(instance)
            with connect(instance, timeout=30) as client:
                layout = _first_truth(client)
                centres = np.column_stack([layout["x_px"], layout["y_px"]]).tolist()
                ids = client.call("add_beads", rois=centres)["ids"]
                refs = [b for b, r in zip(ids, layout["is_reference"], strict=True) if r]
                settings = TrackingSettings(**client.call("tracking_settings")["settings"])
                client.call("set_zlut", **_offline_zlut(settings))
                client.call("set_reference_beads", ids=refs)
                time.sleep(3.0)  # tracking and the drift's reference zeros settle
                t_off, z_off = _watch(client, refs, unlocked_s)
                client.call("zlock", on=True)
                t_on, z_on = _watch(client, refs, locked_s + ACQUIRE_S)
                lock = client.call("locks")["zlock"]
        finally:
            daemon.send_signal(signal.SIGTERM)
            daemon.wait(30)
    rate = float(np.polyfit(t_off - t_off[0], z_off, 1)[0] * 60.0)
    held = z_on[t_on - t_on[0] >= ACQUIRE_S]
    print(json.dumps({
        "benchmark": "lock", "focus_drift_nm_per_min": args.rate, "locked_minutes": args.minutes,
        "locked_rms_nm": round(float(np.std(held)), 2),
        "locked_max_abs_nm": round(float(np.max(np.abs(held - held.mean()))), 2),
        "lock_state": lock["state"], "lock_corrections": lock["corrections"],
        "unlocked_minutes": round(unlocked_s / 60.0, 2),
        "unlocked_drift_nm_per_min": round(rate, 1),
        "unlocked_rms_nm": round(float(np.sqrt(np.mean((z_off - z_off[0]) ** 2))), 2),
        "samples": int(held.size), "target_rms_nm": 5.0,
    }))  # fmt: skip


if __name__ == "__main__":
    main()
