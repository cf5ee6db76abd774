"""Re-tracking recordings of the real simulated daemon, alone and on Dask.

The module records a short full video, a ROI video and a tracks-only recording once with a real
daemon (Z-LUTs loaded from a file built here) and stops it. The tethers are held taut
(magnets at 0.5 mm): live tracking starts each fit from the bead's previous fit, which on slack
tethers, where beads move pixels per frame, can stay on a ring (reported separately); re-tracking
starts every fit from the first guess.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from _daemon_process import DaemonProcess, daemon_folders, run_instance, wait_for
from magscope_app.hardware.config import create_device
from magscope_app.hardware.simulated.optics import expected_roi

from magscope_app.analysis import RetrackError, read_retrack, retrack, retrack_many
from magscope_app.buffers.layouts import TrackFlags
from magscope_app.config import load_daemon_config
from magscope_app.control import connect
from magscope_app.recording import open_recording, verify
from magscope_app.tracking import ZLUT, make_zlut
from magscope_app.zlut import save_luts

pytestmark = pytest.mark.timeout(180)

CONFIG = """
[camera]
driver = "simulated.camera"
width = 256
height = 256
bits = 12
frame_rate = 50.0

[motors.focus]
driver = "simulated.focus"
limits = [-5000.0, 5000.0]

[simulation]
n_beads = 5
n_reference_beads = 1
seed = 4
default_magnet_height_mm = 0.5

[daemon]
video_stacks = 32
images_per_stack = 2
"""
LUT_Z = np.arange(-1500.0, 3001.0, 50.0)
#: Re-tracked and live positions may differ by where each fit started: the fit stops after a
#: step below xy_tolerance_px (0.02 px) and ends within ~1e-3 px of the converged centre.
XY_TOLERANCE_PX = 3e-3


def _lut(shift_nm: float = 0.0) -> ZLUT:
    """A Z-LUT like a focus sweep of the simulated bead (its own optics model, no noise)."""
    planes = [expected_roi((64, 64), 31.5, 31.5, z, 1000.0)[None] for z in LUT_Z]
    lut = make_zlut(LUT_Z, planes)
    return ZLUT(lut.z_nm + shift_nm, lut.profiles, lut.settings)


@pytest.fixture(scope="module")
def recorded(tmp_path_factory):
    """{"full", "roi", "tracks": recording paths, "lut": LUT file}; the daemon is gone."""
    root = tmp_path_factory.mktemp("retrack_daemon")
    config = root / "sim.toml"
    config.write_text(CONFIG)
    camera = create_device(load_daemon_config(config).camera, instance=None)
    try:
        layout = camera.bead_layout()
    finally:
        camera.close()
    anchors = np.column_stack([layout["anchor_x_px"], layout["anchor_y_px"]])
    lut = _lut()
    lut_file = save_luts(
        root / "lut.h5", dict.fromkeys(range(len(anchors)), lut), roi_size=64, pixel_size_nm=100.0
    )
    instance = run_instance("retrack")
    paths = {}
    with daemon_folders(root / "state"):
        daemon = DaemonProcess(instance, root, "--config", str(config))
        try:
            daemon.wait_ready()
            with connect(instance, timeout=30) as client:
                wait_for(lambda: client.status()["tracking"]["workers_running"] == 2, timeout=60)
                client.call("add_beads", rois=[*anchors.tolist(), [20.0, 128.0]])  # + at the edge
                client.call("zlut_load", path=str(lut_file))
                for mode, seconds in (("full_video", 1.5), ("roi_video", 1.5), ("tracks", 0.3)):
                    name = mode.split("_")[0]
                    client.call("record_start", folder=str(root), name=name, mode=mode)
                    time.sleep(seconds)
                    client.call("record_stop")
                    paths[name] = root / f"{name}.h5"
        finally:
            daemon.stop()
    assert not [p for p in Path("/dev/shm").iterdir() if instance in p.name]
    return {**paths, "lut": lut_file}


def _by_frame_and_bead(columns: dict[str, np.ndarray]) -> dict[tuple[int, int], int]:
    pairs = zip(columns["frame"].tolist(), columns["bead"].tolist(), strict=True)
    return {(int(f), int(b)): i for i, (f, b) in enumerate(pairs)}


@pytest.mark.parametrize("name", ["full", "roi"])
def test_unchanged_settings_reproduce_the_live_tracks(recorded, name, tmp_path):
    path = recorded[name]
    outcome = retrack(path, out=tmp_path / "out.h5")
    new = read_retrack(outcome.out)
    with open_recording(path) as r:
        live = r.tracks()
        video_frames = r.video_index()["frame"]
        beads = r.bead_ids()
    assert len(video_frames) > 30
    # Same frames (every video frame) and the same beads in each.
    assert np.array_equal(np.unique(new["frame"]), video_frames)
    common = sorted(set(_by_frame_and_bead(new)) & set(_by_frame_and_bead(live)))
    live_frames = set(live["frame"].astype(int).tolist())
    expected = [(int(f), int(b)) for f in video_frames if int(f) in live_frames for b in beads]
    assert common == sorted(expected) and len(common) >= 0.8 * len(new["frame"])
    i_new = [_by_frame_and_bead(new)[k] for k in common]
    i_live = [_by_frame_and_bead(live)[k] for k in common]
    assert np.array_equal(new["time"][i_new], live["time"][i_live])
    flags_new, flags_live = new["flags"][i_new], live["flags"][i_live]
    clean = flags_live == 0
    edge = (flags_live.astype(int) & TrackFlags.AT_EDGE) > 0
    assert clean.sum() >= 0.6 * len(common) and edge.any()  # z from the LUT; the edge ROI
    # The edge ROI holds no bead but a neighbour's outer rings. A ROI video holds no full frame,
    # so re-tracking fills its pixels outside the frame with the crops' median, not the frame's:
    # its fit may end otherwise there. Every other row matches exactly.
    exact = ~edge if name == "roi" else np.ones(len(common), dtype=bool)
    assert np.array_equal(flags_new[exact], flags_live[exact])
    assert np.all((flags_new[edge].astype(int) & TrackFlags.AT_EDGE) > 0)
    # Positions equal within floating-point noise: live tracking and re-tracking both start every
    # fit from the frame's own symmetry guess, with the same code and settings. Compared per bead
    # with its frame-to-frame scatter (photon noise and Brownian motion).
    compare = ~edge & ((flags_live.astype(int) & TrackFlags.FIT_FAILED) == 0)
    bead_of = new["bead"][i_new]
    for column in ("x_px", "y_px", "z_nm"):
        a, b = new[column][i_new], live[column][i_live]
        assert np.array_equal(np.isnan(a[exact]), np.isnan(b[exact])), column
        for bead in np.unique(bead_of[compare]):
            rows = compare & (bead_of == bead) & ~np.isnan(b)
            if rows.sum() < 10:
                continue
            diff = np.abs(a[rows] - b[rows])
            scatter = np.std(np.diff(b[rows])) / np.sqrt(2)
            assert diff.max() < 1e-6 * scatter, (column, bead, diff.max(), scatter)
    assert verify(path).ok


def test_a_new_lut_is_applied(recorded, tmp_path):
    shifted = save_luts(
        tmp_path / "shifted.h5", {0: _lut(200.0), 1: _lut(200.0)}, roi_size=64,
        pixel_size_nm=100.0,
    )  # fmt: skip
    outcome = retrack(recorded["full"], zlut=shifted, out=tmp_path / "out.h5")
    same = retrack(recorded["full"], out=tmp_path / "out.h5")
    a, b = read_retrack(outcome.out, outcome.group), read_retrack(same.out, same.group)
    for bead in (0, 1):
        rows = (a["bead"] == bead) & ((a["flags"].astype(int) & TrackFlags.FIT_FAILED) == 0)
        assert np.allclose(a["z_nm"][rows], b["z_nm"][rows] + 200.0, rtol=0, atol=0.5)
    assert np.isnan(a["z_nm"][a["bead"] == 2]).all()  # no LUT for bead 2 in that file
    wrong = save_luts(tmp_path / "wrong.h5", {0: _lut()}, roi_size=48, pixel_size_nm=100.0)
    with pytest.raises(RetrackError, match=r"does not fit: ROI size: LUT \[48, 48\]"):
        retrack(recorded["full"], zlut=wrong, out=tmp_path / "out.h5")


def test_many_files_on_a_local_dask_cluster(recorded, tmp_path):
    corrupt = tmp_path / "corrupt.h5"
    corrupt.write_bytes(recorded["roi"].read_bytes()[:5000])
    files = [recorded["full"], corrupt, recorded["roi"], recorded["tracks"]]
    progress = []
    outcomes = retrack_many(
        files, out=tmp_path / "out", progress=progress.append, workers=2, processes=False,
        chunk_frames=16,
    )  # fmt: skip
    assert [o.status for o in outcomes] == ["done", "failed", "done", "failed"]
    assert "corrupt or cut short" in outcomes[1].message and "no video" in outcomes[3].message
    assert progress[-1].frames_done == progress[-1].frames_total > 60
    assert progress[-1].files_done == 2 and progress[-1].files_failed == 2
    for outcome in (outcomes[0], outcomes[2]):  # the same numbers as one process, unchunked
        alone = retrack(outcome.path, out=tmp_path / "alone" / outcome.out.name)
        a, b = read_retrack(outcome.out), read_retrack(alone.out)
        assert all(np.array_equal(a[c], b[c], equal_nan=True) for c in a)
    again = retrack_many(files[:3], out=tmp_path / "out", workers=2, processes=False)
    assert [o.status for o in again] == ["skipped", "failed", "skipped"]


def test_cli_on_an_existing_scheduler(recorded, tmp_path):
    distributed = pytest.importorskip("distributed")
    folder = tmp_path / "recordings"
    folder.mkdir()
    for name in ("full", "roi", "tracks"):
        shutil.copy(recorded[name], folder / f"{name}.h5")
    shutil.copy(recorded["lut"], folder / "lut.h5")  # not a recording: left out
    (folder / "broken.h5").write_bytes(b"\0" * 4096)
    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=False, protocol="tcp", dashboard_address=None
    ) as cluster:
        done = subprocess.run(
            [sys.executable, "-m", "magscope_app", "retrack", str(folder), "--scheduler",
             cluster.scheduler_address, "--out", str(tmp_path / "out"), "--chunk", "20"],
            capture_output=True, text=True, timeout=120,
        )  # fmt: skip
    assert done.returncode == 1, done.stderr  # one recording failed
    lines = done.stdout.splitlines()
    assert [line.split()[:2] for line in lines] == [
        ["done", str(folder / "full.h5")],
        ["done", str(folder / "roi.h5")],
    ]
    assert f"FAILED {folder / 'broken.h5'}: not a readable recording" in done.stderr
    assert "100%" in done.stderr
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [
        "full.retrack.h5", "roi.retrack.h5",
    ]  # fmt: skip
    unreachable = subprocess.run(
        [sys.executable, "-m", "magscope_app", "retrack", str(folder / "full.h5"),
         "--scheduler", "tcp://127.0.0.1:9", "--out", str(tmp_path / "x.h5")],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert unreachable.returncode == 1
    assert "cannot reach the Dask scheduler tcp://127.0.0.1:9" in unreachable.stderr
    assert unreachable.stderr.strip().count("\n") == 0
