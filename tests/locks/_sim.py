"""A simulated microscope for the lock tests: config text, beads added on the simulator's own
anchors, and a Z-LUT built offline from the optics model (no sweep needed, so z is tracked at
once and the drift of the test does not bend the LUT)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from _daemon_process import wait_for
from magscope_app.hardware.config import create_device
from magscope_app.hardware.simulated.optics import expected_roi

from magscope_app.config import load_daemon_config
from magscope_app.tracking import TrackingSettings
from magscope_app.tracking.api import make_zlut

CONFIG = """
[camera]
driver = "simulated.camera"
width = {size}
height = {size}
bits = 12
frame_rate = 50.0

[motors.focus]
driver = "simulated.focus"
limits = [-5000.0, 5000.0]

[simulation]
n_beads = 3
n_reference_beads = 3
seed = 5
default_magnet_height_mm = 0.5   # ~24 pN: tethers taut, small fluctuations
drift_diffusion_nm2_per_s = 0.0
{simulation}

[daemon]
video_stacks = 32
images_per_stack = 2
"""


def write_config(tmp_path: Path, simulation: str, size: int = 320) -> Path:
    """A config file of a ``size``² camera with extra ``[simulation]`` lines (drift rates)."""
    path = tmp_path / "locks.toml"
    path.write_text(CONFIG.format(simulation=simulation, size=size))
    return path


def anchors(config: Path) -> tuple[np.ndarray, np.ndarray]:
    """The simulator's bead anchors (n, 2) px and which are references (stuck)."""
    camera = create_device(load_daemon_config(config).camera, instance=None)
    try:
        layout = camera.bead_layout()
    finally:
        camera.close()
    xy = np.column_stack([layout["anchor_x_px"], layout["anchor_y_px"]])
    return xy, np.asarray(layout["is_reference"], dtype=bool)


def offline_zlut(settings: TrackingSettings, z_nm: np.ndarray) -> dict:
    """``set_zlut`` arguments: a default LUT over heights ``z_nm`` relative to the focus, from
    noise-free model images at a few sub-pixel centres per plane."""
    offsets = ((31.5, 31.5), (31.2, 31.8), (31.8, 31.3))
    stacks = [np.stack([expected_roi((64, 64), x, y, z, 5000.0) for x, y in offsets]) for z in z_nm]
    lut = make_zlut(z_nm, stacks, settings)
    return {"z_nm": lut.z_nm.tolist(), "profiles": lut.profiles.tolist()}


def start_with_beads(start_daemon, instance: str, config: Path, client_factory):
    """Start the daemon, add a bead on every anchor, load the offline LUT; returns (daemon,
    client, bead ids, is_reference per id)."""
    daemon = start_daemon(instance, "--config", str(config))
    daemon.wait_ready()
    xy, is_reference = anchors(config)
    client = client_factory(instance, timeout=30)
    wait_for(lambda: client.call("status")["tracking"]["workers_running"] >= 1, timeout=60)
    ids = client.call("add_beads", rois=xy.tolist())["ids"]
    settings = TrackingSettings(**client.call("tracking_settings")["settings"])
    client.call("set_zlut", **offline_zlut(settings, np.arange(0.0, 2600.0, 20.0)))
    return daemon, client, ids, is_reference
