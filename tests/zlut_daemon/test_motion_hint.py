"""A Z-LUT sweep that tells the user what to do (issue 10 §3), in the real simulated daemon.

With the magnets at 0.5 mm (~24 pN) a sweep accepts the beads, with neither warning nor hint.
With the magnets parked far away (the simulated rig's home, 20 mm: ~0.02 pN), the tethered beads
fluctuate by hundreds of nm: `zlut sweep` warns before it starts (reply, event log, CLI), and
the rejected beads get a plain-words hint naming the bead and how much it moved, in the CLI's
output, `zlut status` and `zlut show`.
"""

from __future__ import annotations

import re
import subprocess
import sys

import numpy as np
import pytest
from _daemon_process import wait_for
from magscope_app.hardware.config import create_device

from magscope_app.config import load_daemon_config
from magscope_app.control import connect

pytestmark = pytest.mark.timeout(240)

CONFIG = """
[camera]
driver = "simulated.camera"
width = 256
height = 256
bits = 12
frame_rate = 100.0

[motors.focus]
driver = "simulated.focus"
limits = [-3000.0, 3000.0]

[motors.magnet_height]
driver = "simulated.magnet_height"
limits = [0.3, 20.0]
speed = 50.0          # mm/s: quick moves for the test

[simulation]
n_beads = 3
n_reference_beads = 1
seed = 5

[daemon]
video_stacks = 32
images_per_stack = 2
"""
SWEEP = {"start": -500.0, "stop": 500.0, "step": 50.0, "per_plane": 10, "settle_s": 0.05}
HINT = re.compile(r"bead (\d+) moved (\d+) nm \(rms\)")


def _fresh_tracks(client, seconds: float = 2.0) -> None:
    """Wait until the tracking workers have tracked ``seconds`` of frames from now on."""
    start = client.status()["tracking"]["frames_tracked"]
    wait_for(lambda: client.status()["tracking"]["frames_tracked"] >= start + 100 * seconds)


def _finished(client) -> dict:
    return wait_for(
        lambda: (s := client.call("zlut_status"))["state"] != "running" and s,
        timeout=180, interval=0.25,
    )  # fmt: skip


@pytest.fixture
def sim_daemon(start_daemon, instance_name, tmp_path):
    config = tmp_path / "motion.toml"
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
        yield daemon, client, anchors, np.flatnonzero(layout["is_reference"])


def _move_magnets(client, height_mm: float) -> None:
    client.call("move", motor="magnet_height", position=height_mm)
    magnets = lambda: client.call("motor_state", motor="magnet_height")["position"]  # noqa: E731
    wait_for(lambda: abs(magnets() - height_mm) < 1e-3)
    _fresh_tracks(client)  # the beads settle within ~1 s (tau ~0.5 s at 0.02 pN)


def test_adequate_force_is_quiet_and_low_force_says_what_to_do(sim_daemon):
    daemon, client, anchors, reference = sim_daemon
    # Beads added once the force is up: a track started at low force can stay stuck on a ring
    # when the force rises (the tracker's warm start; re-adding the bead clears it).
    _move_magnets(client, 0.5)
    ids = client.call("add_beads", rois=anchors.tolist())["ids"]
    stuck = {ids[i] for i in reference}
    tethered = set(ids) - stuck
    _fresh_tracks(client)

    # Magnets at 0.5 mm (~24 pN): no warning, the beads usable, no hint.
    started = client.call("zlut_sweep", **SWEEP)
    assert started["warnings"] == []
    status = _finished(client)
    assert status["state"] == "complete", status["message"]
    assert status["hints"] == [] and "moved" not in status["message"]
    report = client.call("zlut_show")["report"]
    assert len(report["usable"]) >= len(ids) - 1, status["message"]
    for q in report["beads"].values():
        assert q["hint"] == "" and q["lateral_motion_nm"] < 50 and q["axial_motion_nm"] < 10, q

    # Magnets back home, far away (~0.02 pN): the CLI's sweep warns first and ends with hints.
    _move_magnets(client, 20.0)
    cli = [sys.executable, "-m", "magscope_app", "zlut"]
    args = ["--start=-500", "--stop=500", "--step=50", "--per-plane=10", "--settle=0.05"]
    result = subprocess.run(
        [*cli, "sweep", *args, "--instance", daemon.instance],
        capture_output=True, text=True, timeout=200,
    )  # fmt: skip
    out = result.stdout
    assert result.returncode == 0, out + result.stderr
    warning = next(line for line in out.splitlines() if line.startswith("warning: "))
    assert "move more than the plane step (50 nm)" in warning and "lower the magnets" in warning
    assert out.index(warning) < out.index("plane 1 of 21"), "the warning comes before the sweep"
    status = client.call("zlut_status")
    assert status["state"] == "complete"
    assert status["warnings"] and status["warnings"][0] in warning
    assert f"Z-LUT sweep: {status['warnings'][0]}" in daemon.stderr(), "not in the event log"

    hinted = {int(m.group(1)): int(m.group(2)) for m in HINT.finditer(status["message"])}
    assert hinted and set(hinted) <= tethered, status["message"]
    assert "raise the force (lower the magnets) or use stuck beads" in out
    report = client.call("zlut_show")["report"]["beads"]
    for bead, amount in hinted.items():
        q = report[str(bead)]
        assert not q["usable"] and q["hint"] in status["hints"] and q["hint"] in out
        assert amount == round(q["axial_motion_nm"])
        assert 25 <= amount < 300, "at 0.02 pN a tether's thermal z rms is ~175 nm (WLC)"
        assert q["lateral_motion_nm"] > 50, "a tether at 0.02 pN swings by hundreds of nm"
    for bead in stuck:
        q = report[str(bead)]
        assert q["usable"] and q["hint"] == "", q
        assert q["axial_motion_nm"] < 5 and q["lateral_motion_nm"] < 5, q
    for command in ("status", "show"):
        shown = subprocess.run(
            [*cli, command, "--instance", daemon.instance],
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert shown.returncode == 0 and status["hints"][0] in shown.stdout, shown
