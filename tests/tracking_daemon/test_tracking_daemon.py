"""Live tracking in the real daemon with the small simulated microscope: rows for every bead and
frame near the simulator's true positions, edge beads flagged, no frame lost, a SIGKILLed
tracking worker restarted, bad commands refused."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from _daemon_process import wait_for
from magscope_app.hardware.config import create_device

from magscope_app.buffers import LiveProfileBuffer, MatrixBuffer
from magscope_app.buffers.layouts import TRACK_COLUMNS, TrackFlags
from magscope_app.config import load_daemon_config
from magscope_app.control import CommandError, connect
from magscope_app.services.tracking import TRACKING_NICE

pytestmark = pytest.mark.timeout(180)

SMALL = Path(__file__).parents[1] / "small_sim.toml"
COL = {name: i for i, name in enumerate(TRACK_COLUMNS)}
EDGE = (2.0, 100.0)  # a bead centre whose ROI crosses the left edge


def _anchors() -> tuple[np.ndarray, list[bool]]:
    """(n, 2) bead anchor points (px) of the simulator (its ground-truth layout) and which
    beads are reference beads."""
    camera = create_device(load_daemon_config(SMALL).camera, instance=None)
    try:
        layout = camera.bead_layout()
    finally:
        camera.close()
    xy = np.column_stack([layout["anchor_x_px"], layout["anchor_y_px"]])
    return xy, layout["is_reference"]


def _tracking_ready(client) -> dict | None:
    status = client.status()
    return status if status["tracking"]["workers_running"] == 2 else None


def _window(tracks: MatrixBuffer, first: int, count: int, n_beads: int) -> np.ndarray | None:
    """Rows of frames ``first … first + count - 1`` once every one has ``n_beads`` rows (each
    bead once); None before."""
    rows = tracks.peek_last(50000)
    frame = rows[:, COL["frame"]]
    rows = rows[(frame >= first) & (frame < first + count)]
    numbers, counts = np.unique(rows[:, COL["frame"]], return_counts=True)
    if len(numbers) < count:
        return None
    assert np.all(counts == n_beads), "a frame has a missing or duplicated row"
    for number in numbers:
        beads = rows[rows[:, COL["frame"]] == number][:, COL["bead"]]
        assert sorted(beads.tolist()) == list(range(n_beads))
    return rows


def test_live_tracking_edges_and_worker_crash(start_daemon, instance_name):
    anchors, reference = _anchors()
    assert any(reference)
    daemon = start_daemon(instance_name, "--config", str(SMALL))
    daemon.wait_ready(timeout=120)
    tracks = MatrixBuffer(create=False, instance=instance_name, name="Tracks")
    profile = LiveProfileBuffer(create=False, instance=instance_name)
    try:
        with connect(instance_name, timeout=30) as client:
            wait_for(lambda: _tracking_ready(client), timeout=120)
            ids = client.call("add_beads", rois=[*anchors.tolist(), list(EDGE)])["ids"]
            assert ids == list(range(len(anchors) + 1))
            listed = client.call("beads")["beads"]
            assert [b["at_edge"] for b in listed] == [False] * len(anchors) + [True]
            client.call("select_profile_bead", id=0)
            # Stacks claimed before add_beads have no rows; ``latest_frame`` in the status is up
            # to 0.5 s old, so start one stack after the first frame that has rows.
            wait_for(lambda: len(tracks.peek_last(1)) > 0)
            start = int(tracks.peek_last(50000)[:, COL["frame"]].min()) + 2  # 2 images per stack
            # every frame from `start` on has one row per bead (frame numbers have no gap)
            rows = wait_for(lambda: _window(tracks, start, 40, len(ids)))

            for bead, (x, y) in enumerate(anchors):
                mine = rows[rows[:, COL["bead"]] == bead]
                assert not np.any(mine[:, COL["flags"]].astype(int) & int(TrackFlags.AT_EDGE))
                ok = (mine[:, COL["flags"]].astype(int) & int(TrackFlags.FIT_FAILED)) == 0
                assert ok.mean() > 0.95
                # a reference bead is stuck to the surface: its anchor is its true position;
                # a tethered bead wanders a few px (Brownian motion) around its anchor
                tolerance = 0.1 if reference[bead] else 8.0
                assert abs(np.median(mine[ok, COL["x_px"]]) - x) < tolerance
                assert abs(np.median(mine[ok, COL["y_px"]]) - y) < tolerance
                np.testing.assert_allclose(
                    mine[ok, COL["x_nm"]], mine[ok, COL["x_px"]] * 100.0, rtol=1e-12
                )
                assert np.all(np.isnan(mine[:, COL["z_nm"]]))  # no Z-LUT
            edge = rows[rows[:, COL["bead"]] == ids[-1]]
            assert np.all(edge[:, COL["flags"]].astype(int) & int(TrackFlags.AT_EDGE))
            latest = profile.peek_profile()
            assert latest is not None and latest[1] == 0 and len(latest[2]) > 10

            status = client.status()
            assert status["camera"]["frames_lost"] == 0
            assert status["tracking"]["frames_lost"] == 0
            assert status["tracking"]["beads"] == len(ids)
            assert status["tracking"]["latency_ms"]["samples"] > 0

            # Tracking yields the cores to acquisition: its workers run at a lower priority.
            by_name = {w["name"]: w["pid"] for w in status["workers"]}
            camera_nice = os.getpriority(os.PRIO_PROCESS, by_name["camera"])
            for name in ("tracking:0", "tracking:1"):
                nice = os.getpriority(os.PRIO_PROCESS, by_name[name])
                assert nice == camera_nice + TRACKING_NICE

            # A tracking worker killed with SIGKILL is restarted; tracking goes on.
            (victim,) = [w for w in status["workers"] if w["name"] == "tracking:0"]
            os.kill(victim["pid"], signal.SIGKILL)

            def restarted():
                s = client.status()
                (w,) = [w for w in s["workers"] if w["name"] == "tracking:0"]
                return w["restarts"] == 1 and w["state"] == "running" and w["pid"] and s

            after = wait_for(restarted, timeout=120)
            daemon.worker_pids |= {w["pid"] for w in after["workers"] if w["pid"]}
            mark = after["camera"]["latest_frame"] + 2
            wait_for(lambda: _window(tracks, mark, 20, len(ids)))
            lost = client.status()["tracking"]
            assert isinstance(lost["frames_lost"], int) and lost["stacks_lost"] >= 0
            assert lost["frames_lost"] == 2 * lost["stacks_lost"]  # images_per_stack = 2
    finally:
        tracks.close()
        profile.close()


def _refused(client, command: str, **args) -> str:
    with pytest.raises(CommandError) as info:
        client.call(command, **args)
    assert info.value.code in ("invalid_argument", "failed"), info.value
    return info.value.message


def test_bad_commands_are_refused_and_cli(start_daemon, instance_name):
    daemon = start_daemon(instance_name, "--config", str(SMALL), "--paused")
    daemon.wait_ready(timeout=120)
    with connect(instance_name, timeout=30) as client:
        wait_for(lambda: _tracking_ready(client), timeout=120)
        assert client.call("add_beads", rois=[[100, 100]])["ids"] == [0]
        assert "outside the frame" in _refused(client, "add_beads", rois=[[300, 10]])
        assert "[x, y]" in _refused(client, "add_beads", rois=[[1, 2, 3]])
        _refused(client, "add_beads", rois="here")
        assert "no beads with ids [7]" in _refused(client, "remove_beads", ids=[7])
        _refused(client, "move_bead", id=5, x=10.0, y=10.0)
        for size in (17, 8, 300):
            assert "even integer" in _refused(client, "set_roi_size", size=size)
        _refused(client, "select_profile_bead", id=3)
        assert "bad Z-LUT" in _refused(
            client, "set_zlut", z_nm=[0, 1, 2], profiles=[[1.0, 2.0]] * 3
        )
        _refused(client, "unload_zlut", bead=1)
        _refused(client, "set_tracking_settings", xy_iterations=0)
        _refused(client, "set_tracking_settings", radial_step_px="fine")
        _refused(client, "zlut_load", path="/nonexistent/lut.h5")
        assert client.call("beads")["beads"][0]["roi"] == [68, 132, 68, 132]  # unchanged

        # Good commands change the state.
        assert client.call("set_roi_size", size=32)["roi_size"] == 32
        assert client.call("beads")["beads"][0]["roi"] == [84, 116, 84, 116]
        n_bins = client.call("tracking_settings")["n_bins"]
        z = np.linspace(-1000.0, 1000.0, 5)
        profiles = 1.0 + np.outer(np.linspace(0.1, 0.5, 5), np.cos(np.arange(n_bins) / 3.0))
        client.call("set_zlut", z_nm=z.tolist(), profiles=profiles.tolist())
        assert client.call("tracking_settings")["zluts"][0]["planes"] == 5
        refusal = _refused(client, "set_tracking_settings", radial_max_px=24.0)
        assert "unload them first" in refusal
        # the xy-fit settings do not change the profiles: allowed with a LUT loaded
        xy = client.call("set_tracking_settings", xy_iterations=6)["settings"]
        assert xy["xy_iterations"] == 6 and xy["radial_max_px"] == 32.0
        assert client.call("unload_zlut")["unloaded"] == 1
        radial = client.call("set_tracking_settings", radial_max_px=24.0)["settings"]
        assert radial["radial_max_px"] == 24.0

    def cli(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "magscope_app", *args, "--instance", instance_name],
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip

    added = cli("beads", "add", "50", "60", "200.5", "30")
    assert added.returncode == 0, added.stderr
    assert "[1, 2]" in added.stdout
    listed = cli("beads")
    assert listed.returncode == 0 and "3 bead(s), ROI 32 px" in listed.stdout
    bad = cli("beads", "remove", "42")
    assert bad.returncode == 1 and "no beads with ids [42]" in bad.stderr
    assert cli("beads", "clear").returncode == 0
    assert "0 bead(s)" in cli("beads").stdout
    assert cli("tracking").returncode == 0
