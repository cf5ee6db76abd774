"""Issue 13 §5 end to end, as a new user would do it, in the real simulated daemon.

The simulated daemon → find beads → classify stuck/tethered → Z-LUT sweep → surface positions →
force calibration at 5 magnet heights (each calibrated force checked against the simulator's
true force) → a force–extension run with a recording → the HDF5 read back with
``magscope_app.recording`` → a WLC fit whose persistence length is within 10 % and contour length
within 5 % of the simulated DNA's; then a rotation–extension (hat) curve. All of it is
``scripts/experiments/force_extension.py``.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest
from _daemon_process import wait_for

import magscope_app
from magscope_app.recording import open_recording

pytestmark = pytest.mark.timeout(240)

SCRIPT = Path(__file__).parents[2] / "scripts" / "experiments" / "force_extension.py"
PERSISTENCE_NM, CONTOUR_NM, F0_PN, DECAY_MM = 50.0, 1000.0, 40.0, 1.0
CONFIG = f"""
[camera]
driver = "simulated.camera"
width = 256
height = 256
bits = 12
frame_rate = 200.0
exposure = 4.0

[motors.focus]
driver = "simulated.focus"
limits = [-3000.0, 3000.0]

[motors.magnet_height]
driver = "simulated.magnet_height"
limits = [0.3, 20.0]
speed = 50.0

[motors.magnet_rotation]
driver = "simulated.magnet_rotation"
limits = [-100.0, 100.0]
speed = 50.0

[simulation]
n_beads = 3
n_reference_beads = 1
seed = 5
min_separation_px = 80.0
persistence_length_nm = {PERSISTENCE_NM}
contour_length_nm = {CONTOUR_NM}
contour_length_spread = 0.0
F0_pN = {F0_PN}
force_decay_mm = {DECAY_MM}
force_spread = 0.0
drift_velocity_nm_per_s = [0.0, 0.0, 0.0]
drift_diffusion_nm2_per_s = 0.0

[daemon]
video_stacks = 32
images_per_stack = 4
"""


def _script():
    spec = importlib.util.spec_from_file_location("force_extension_script", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def true_force(height_mm: float) -> float:
    """The simulated world's force on every bead (no bead-to-bead spread in this config)."""
    return F0_PN * np.exp(-height_mm / DECAY_MM)


def test_force_extension_end_to_end(start_daemon, instance_name, tmp_path):
    config = tmp_path / "fe.toml"
    config.write_text(CONFIG)
    daemon = start_daemon(instance_name, "--config", str(config))
    daemon.wait_ready()
    with magscope_app.connect(instance_name, timeout=30) as scope:
        wait_for(lambda: scope.call("status")["tracking"]["workers_running"] == 2)
        result = _script().main(scope, tmp_path / "fe", dwell_s=0.8)
        truth = scope.call("sim_truth")
        height = scope.motors["magnet_height"].position
        status = scope.call("status")
        beads = scope.beads.list()

    # every calibration against the simulator's true force
    for height_mm, calibrations in result["calibrations"].items():
        for c in calibrations:
            assert c.flag is None or "corner" in c.flag, c
            assert c.force_pN == pytest.approx(true_force(height_mm), rel=0.10), (height_mm, c)
    pulls = np.array([(c.force_pN - true_force(h)) / c.force_error_pN
                      for h, cs in result["calibrations"].items() for c in cs])  # fmt: skip
    # the 1σ is honest: errors of a few σ at most (the ≥ 2/3 coverage needs more calibrations
    # than the 15 here; test_force_simulator_acceptance.py counts 60)
    assert np.abs(pulls).max() < 4.0 and np.sqrt(np.mean(pulls**2)) < 2.0, pulls.round(2)
    assert max(truth["force_pN"]) == pytest.approx(true_force(height), rel=1e-6)

    # live force in status and beads, from the fitted curve
    tethered = list(result["beads"])
    live = {int(b): f for b, f in status["force"]["forces_pN"].items()}
    assert set(tethered) <= set(live)
    for bead in tethered:
        assert live[bead] == pytest.approx(true_force(height), rel=0.10)
        shown = next(b for b in beads if b["id"] == bead)
        assert shown["force_pN"] == live[bead] and shown["surface_z_nm"] is not None

    # the recording read back holds what the fit used
    with open_recording(result["recording"]) as recording:
        assert set(tethered) <= set(recording.bead_ids().tolist())
        assert "magnet_height" in recording.motor_names()
        assert recording.stop_reason == "completed"

    # the hat: positive turns coil the tether, negative ones melt it (above 0.5 pN)
    for bead in tethered:
        turns, extension = result["hat"][bead]
        at = dict(zip(turns, extension, strict=True))
        assert at[14.0] < at[0.0] - 300 and at[14.0] < at[10.0] < at[0.0] - 30, at
        assert abs(at[-14.0] - at[0.0]) < 30, at

    persistence, persistence_error = result["persistence_nm"]
    contour, contour_error = result["contour_nm"]
    assert persistence == pytest.approx(PERSISTENCE_NM, rel=0.10), result["persistence_nm"]
    assert contour == pytest.approx(CONTOUR_NM, rel=0.05), result["contour_nm"]
    assert 0 < persistence_error < 0.1 * persistence and 0 < contour_error < 0.05 * contour
