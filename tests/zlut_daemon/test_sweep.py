"""The Z-LUT sweep in the real daemon with the simulated microscope (issue 5 §1 and §4).

Proof: a sweep over 2 µm in 50 nm steps, then live tracking, reproduces the simulator's true z
with a precision within 1.5× the Cramér–Rao bound of the rendered images for the reference bead
(the tracking issue's target) and 2× for tethered beads, which also move during the exposures.
Also: validation errors, cancel restores everything, save/show/load through the CLI.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from _daemon_process import wait_for
from magscope_app.hardware.config import create_device
from magscope_app.hardware.simulated.optics import OpticsParams, expected_roi

from magscope_app.buffers import MatrixBuffer
from magscope_app.buffers.layouts import TRACK_COLUMNS
from magscope_app.config import load_daemon_config
from magscope_app.control import CommandError, connect

pytestmark = pytest.mark.timeout(240)

COL = {name: i for i, name in enumerate(TRACK_COLUMNS)}
CONFIG = """
[camera]
driver = "simulated.camera"
width = 320
height = 320
bits = 12
frame_rate = 100.0
exposure = 1.0        # short, so Brownian motion blurs the rings little (the bound ignores it)
illumination = 5000.0  # 5,000 photons/px background, as with 5 ms at the default

[motors.focus]
driver = "simulated.focus"
limits = [-3000.0, 3000.0]

[simulation]
n_beads = 3
n_reference_beads = 1
seed = 3
default_magnet_height_mm = 0.5   # ~24 pN: tethers taut, small z fluctuations

[daemon]
video_stacks = 32
images_per_stack = 2
"""


@pytest.fixture
def sim_daemon(start_daemon, instance_name, tmp_path):
    config = tmp_path / "sweep.toml"
    config.write_text(CONFIG)
    daemon = start_daemon(instance_name, "--config", str(config))
    daemon.wait_ready()
    camera = create_device(load_daemon_config(config).camera, instance=None)
    try:
        layout = camera.bead_layout()
    finally:
        camera.close()
    anchors = np.column_stack([layout["anchor_x_px"], layout["anchor_y_px"]])
    with connect(instance_name, timeout=30) as client:
        wait_for(lambda: client.status()["tracking"]["workers_running"] == 2)
        added = client.call("add_beads", rois=anchors.tolist())
        yield daemon, client, added["ids"] if isinstance(added, dict) else added


def _z_bound_nm(z_rel_nm: float, background: float, read_noise: float) -> float:
    """Cramér–Rao bound of z (nm) for one 64×64 bead image of the simulator's model, with x, y
    and z unknown; Poisson noise plus Gaussian read noise (variance mu + read_noise²)."""
    shape, centre, h = (64, 64), 31.5, 1e-3
    mu = expected_roi(shape, centre, centre, z_rel_nm, background)
    grads = []
    for dx, dy, dz in ((h, 0, 0), (0, h, 0), (0, 0, 1.0)):
        plus = expected_roi(shape, centre + dx, centre + dy, z_rel_nm + dz, background)
        minus = expected_roi(shape, centre - dx, centre - dy, z_rel_nm - dz, background)
        grads.append((plus - minus) / (2 * (dz if dz else h)))
    g = np.array([d.ravel() for d in grads])
    fisher = (g / (mu.ravel() + read_noise**2)) @ g.T
    return float(np.sqrt(np.linalg.inv(fisher)[2, 2]))


def test_sweep_then_tracking_reproduces_true_z(sim_daemon, tmp_path):
    daemon, client, _ = sim_daemon
    started = client.call(
        "zlut_sweep", start=-1000.0, stop=1000.0, step=50.0, per_plane=10, settle_s=0.05
    )
    assert started["planes"] == 41
    seen_running = []
    status = wait_for(
        lambda: (s := client.call("zlut_status")) and seen_running.append(s["state"]) is None
        and s["state"] != "running" and s,
        timeout=180, interval=0.25,
    )  # fmt: skip
    assert status["state"] == "complete", status["message"]
    assert "running" in seen_running
    focus = client.call("motor_state", motor="focus")
    assert abs(focus["position"]) < 5.0, "the focus must be back where the sweep started"
    assert not any(p.name.endswith("ZLUTSweepDataset") for p in Path("/dev/shm").iterdir()
                   if daemon.instance in p.name), "the sweep dataset must be destroyed"  # fmt: skip

    # Live tracking with the new LUTs against the simulator's ground truth.
    tracks = MatrixBuffer(create=False, locks=None, instance=daemon.instance, name="Tracks")
    residuals: dict[int, list[float]] = {}
    z_rels: dict[int, list[float]] = {}
    nans = total = 0
    try:
        deadline = time.monotonic() + 60
        last_frame = -1
        while len(next(iter(residuals.values()), [])) < 150 and time.monotonic() < deadline:
            rows = tracks.peek_last(400)
            newest = int(rows[:, COL["frame"]].max()) if len(rows) else -1
            if newest <= last_frame:
                time.sleep(0.02)
                continue
            last_frame = newest  # the newest tracked frame (all its beads are written at once)
            truth = client.call("sim_truth", frame=newest)
            rows = rows[rows[:, COL["frame"]] == newest]
            for row in rows:
                bead = int(row[COL["bead"]])
                total += 1
                if np.isnan(row[COL["z_nm"]]):
                    nans += 1
                    continue
                true_z = truth["z_nm"][bead]
                residuals.setdefault(bead, []).append(row[COL["z_nm"]] - true_z)
                z_rels.setdefault(bead, []).append(truth["z_rel_nm"][bead])
            time.sleep(0.02)
    finally:
        tracks.close()
    assert total > 0 and nans / total < 0.005, f"{nans} NaN z of {total}"
    optics = OpticsParams()
    assert optics.pixel_size_nm == 100.0
    reference = client.call("sim_truth")["is_reference"]
    for bead, values in residuals.items():
        # each bead's own bound: it depends on the bead's height relative to the focus. The
        # bound is for a bead at rest: a tethered bead also moves during each exposure and
        # during the sweep's frames of each plane (measured 1.1-1.7x over repeated runs), so
        # it gets 2x; the reference bead, stuck to the surface, the tracking target of 1.5x.
        z_rel = float(np.median(z_rels[bead]))
        bound = _z_bound_nm(z_rel, background=5000.0 * 1.0, read_noise=2.0)
        spread = float(np.std(values))
        factor = 1.5 if reference[bead] else 2.0
        print(f"bead {bead}: z_rel {z_rel:.0f} nm, std {spread:.3f} nm, bound {bound:.3f} nm")
        assert spread <= factor * bound, (
            f"bead {bead} (z_rel {z_rel:.0f} nm): z precision {spread:.2f} nm, bound {bound:.2f} nm"
        )

    # The quality report, a LUT file, and loading it back.
    shown = client.call("zlut_show")
    assert shown["report"] and "bead" in shown["text"].lower()
    lut_file = tmp_path / "luts.h5"
    saved = client.call("zlut_save", path=str(lut_file))
    assert lut_file.exists() and saved["beads"]
    loaded = client.call("zlut_load", path=str(lut_file))
    assert loaded["beads"] == saved["beads"]
    result = subprocess.run(
        [sys.executable, "-m", "magscope_app", "zlut", "show", "--instance", daemon.instance],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 0 and "bead" in result.stdout.lower(), result.stderr


BAD_SWEEPS = [
    ({"start": 0.0, "stop": 1000.0, "step": 0.0}, "step must not be 0"),
    ({"start": 0.0, "stop": 1000.0, "step": -50.0}, "points away"),
    ({"start": 0.0, "stop": 60.0, "step": 50.0}, "at least 3"),
    ({"start": -5000.0, "stop": 0.0, "step": 100.0}, "focus limits"),
]


def test_bad_sweeps_are_refused_and_cancel_restores_everything(sim_daemon):
    daemon, client, _ = sim_daemon
    for args, fragment in BAD_SWEEPS:
        with pytest.raises(CommandError) as err:
            client.call("zlut_sweep", per_plane=3, **args)
        assert fragment in err.value.message
        assert client.call("zlut_status")["state"] == "idle"

    # Cancel in the middle: focus, acquisition state, ROI set and shared memory come back.
    client.call("move", motor="focus", position=200.0)
    wait_for(lambda: abs(client.call("motor_state", motor="focus")["position"] - 200.0) < 1)
    client.pause()
    client.call("zlut_sweep", start=-1000.0, stop=1000.0, step=50.0, per_plane=20)
    wait_for(lambda: client.call("zlut_status")["plane"] >= 2)
    with pytest.raises(CommandError):  # the ROI set is frozen during the sweep
        client.call("add_beads", rois=[[100.0, 100.0]])
    status = client.call("zlut_cancel")
    assert status["state"] == "cancelled"
    wait_for(lambda: abs(client.call("motor_state", motor="focus")["position"] - 200.0) < 1)
    assert client.status()["acquiring"] is False
    assert not any(p.name.endswith("ZLUTSweepDataset") for p in Path("/dev/shm").iterdir()
                   if daemon.instance in p.name)  # fmt: skip
    client.call("add_beads", rois=[[100.0, 100.0]])  # unfrozen again
