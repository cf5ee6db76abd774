"""The force service in a real simulated daemon, without the long calibration: a force curve file
loaded (and reloaded at the next start), live forces in ``status`` and ``beads``, ``force set``
inside and outside the calibrated range, a ramp followed and cancelled through the client, the
CLI, and the refusals that name what is missing."""

from __future__ import annotations

import subprocess
import sys
import time

import numpy as np
import pytest
from _daemon_process import wait_for

import magscope_app
from magscope_app.analysis.force_curve import fit_force_curve
from magscope_app.control.errors import CommandFailed, InvalidArgument
from magscope_app.zlut import load_force_curves, save_force_curves

pytestmark = pytest.mark.timeout(120)

CONFIG = """
[camera]
driver = "simulated.camera"
width = 256
height = 256
frame_rate = 50.0

[motors.magnet_height]
driver = "simulated.magnet_height"
limits = [0.3, 20.0]
speed = 20.0

[simulation]
n_beads = 2
n_reference_beads = 0
seed = 3

[daemon]
video_stacks = 32
images_per_stack = 2
"""


def _curve():
    heights = np.linspace(1.0, 5.0, 6)
    forces = 40.0 * np.exp(-heights / 1.0) + 3.0 * np.exp(-heights / 0.4)
    return fit_force_curve(heights, forces, 0.03 * forces)


def _cli(instance: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "magscope_app", "force", *args, "--instance", instance],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip


def test_curve_file_set_ramp_and_refusals(start_daemon, instance_name, tmp_path):
    config = tmp_path / "force.toml"
    config.write_text(CONFIG)
    curve = _curve()
    path = save_force_curves(tmp_path / "curve.h5", {None: curve}, {})
    daemon = start_daemon(instance_name, "--config", str(config))
    daemon.wait_ready()
    with magscope_app.connect(instance_name, timeout=30) as scope:
        # refusals that say what is missing, before anything is calibrated
        with pytest.raises(CommandFailed, match="no tethered beads"):
            scope.force.calibrate(1.0)
        with pytest.raises(CommandFailed, match="no force curve"):
            scope.force.set(2.0)
        with pytest.raises(CommandFailed, match="no calibration points"):
            scope.force.fit_curve()

        ids = scope.beads.add([[80.0, 80.0], [170.0, 170.0]])
        with pytest.raises(CommandFailed, match=r"beads \[.*\] have no surface position"):
            scope.force.calibrate(1.0, ids)
        scope.force.load(str(path))
        scope.force.set_surface(ids[0], -900.0)

        # move to a force: the magnets go to the curve's height for it
        height = scope.force.set(5.0)
        assert float(curve.force(height)) == pytest.approx(5.0, rel=1e-6)
        magnets = scope.motors["magnet_height"]
        wait_for(lambda: abs(magnets.position - height) < 1e-3, timeout=10)
        wait_for(lambda: scope.force.now().get(ids[0]) is not None, timeout=10)
        assert scope.force.now()[ids[0]] == pytest.approx(5.0, rel=1e-3)
        listed = {b["id"]: b for b in scope.beads.list()}
        assert listed[ids[0]]["force_pN"] == pytest.approx(5.0, rel=1e-3)
        assert listed[ids[0]]["surface_z_nm"] == -900.0

        low, high = curve.force_range_pN
        for outside in (low / 2, high * 1.5):
            with pytest.raises(InvalidArgument, match=r"outside the calibrated range"):
                scope.force.set(outside)
        assert abs(magnets.position - height) < 1e-3, "a refused force moves nothing"

        # a ramp at constant pN/s, followed by the handle to its end
        started = time.monotonic()
        result = scope.force.ramp(2.0, 4.0, 4.0).wait(timeout=20)
        assert 0.4 < time.monotonic() - started < 5.0
        assert result["force_pN"] == 4.0
        wait_for(lambda: abs(float(curve.force(magnets.position)) - 4.0) < 0.01, timeout=10)
        # … and a slow one cancelled: the action ends as cancelled and another may start
        ramp = scope.force.ramp(4.0, 2.0, 0.1)
        wait_for(lambda: scope.force.status()["state"] == "running", timeout=5)
        assert ramp.cancel()["state"] == "cancelled"
        with pytest.raises(CommandFailed, match="cancelled"):
            ramp.wait(timeout=5)

        # the CLI
        shown = _cli(instance_name, "status")
        assert shown.returncode == 0 and f"bead {ids[0]}:" in shown.stdout, shown
        moved = _cli(instance_name, "set", "3")
        assert moved.returncode == 0 and "for 3 pN" in moved.stdout, moved
        refused = _cli(instance_name, "set", "500")
        assert refused.returncode != 0 and "outside the calibrated range" in refused.stderr

        # no bead there and no Z-LUT: each bead's failure is named, the action completes
        wait_for(lambda: magnets.moving is False, timeout=10)
        calibrated = _cli(instance_name, "calibrate", "--seconds", "2", "--beads", str(ids[0]),
                          "--surface-z=-900")  # fmt: skip
        assert calibrated.returncode == 0, calibrated
        assert f"bead {ids[0]}: - ± - pN" in calibrated.stdout
        assert f"; failed: bead {ids[0]}: " in calibrated.stdout
        found = _cli(instance_name, "surface", "--seconds", "0.5", "--beads", str(ids[1]),
                     "--height", "8")  # fmt: skip
        assert found.returncode == 0 and f"bead {ids[1]}: no z" in found.stdout, found
        assert magnets.position == pytest.approx(float(curve.height_for(3.0)), abs=1e-3)

        saved = scope.force.save(str(tmp_path / "again.h5"))
        curves, surfaces = load_force_curves(saved)
        assert np.allclose(curves[None].params, curve.params) and surfaces == {ids[0]: -900.0}
        scope.shutdown()

    # the next start loads the last force curve file
    daemon = start_daemon(instance_name, "--config", str(config))
    daemon.wait_ready()
    with magscope_app.connect(instance_name, timeout=30) as scope:
        assert np.allclose(scope.force.curve()["pooled"]["params"], curve.params)
        scope.shutdown()
