"""Video recording through a real daemon keeps every frame the camera stored, or stops with the
reason: full and ROI video read back against /frames and the tracks, compression, a disk slower
than the stream."""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pytest
from _daemon_process import wait_for

from magscope_app.control import connect
from magscope_app.recording import open_recording
from magscope_app.tracking import TrackingSettings, track_xyz

pytestmark = pytest.mark.timeout(120)


def _config(tmp_path: Path, small_sim_config: Path, extra: str = "", stacks: int = 32) -> Path:
    """The small simulated microscope with ``extra`` TOML appended and ``stacks`` ring stacks."""
    text = small_sim_config.read_text().replace("video_stacks = 32", f"video_stacks = {stacks}")
    path = tmp_path / "video.toml"
    path.write_text(text + "\n" + extra)
    return path


def _start(start_daemon, instance_name, config: Path) -> None:
    start_daemon(instance_name, "--config", str(config)).wait_ready()
    with connect(instance_name) as client:
        wait_for(lambda: client.status()["camera"]["frames_acquired"] > 0, timeout=60)


def _video_frames(client) -> int:
    """Video frames written so far by the running recording (its status)."""
    return (client.call("record_status").get("video") or {}).get("frames", 0)


def _record(client, tmp_path: Path, mode: str, frames: int) -> tuple[Path, dict]:
    """Record ``frames`` frames (by the recorder's count) in ``mode``; stop; (file, final)."""
    path = Path(client.call("record_start", folder=str(tmp_path / "recs"), mode=mode)["file"])
    wait_for(lambda: _video_frames(client) >= frames, timeout=60)
    return path, client.call("record_stop")


def _check_every_frame(r, final: dict) -> dict[str, np.ndarray]:
    """/video/index lists exactly the frames of /frames: the camera's counters from the start to
    the stop, in order, without a gap (the camera lost none)."""
    assert r.closed_cleanly and r.stop_reason == "user"
    assert final["stop_reason"] == "user" and final["last_error"] is None
    index, frames = r.video_index(), r.frames()
    assert len(index["frame"]) >= 100
    np.testing.assert_array_equal(index["frame"], frames["frame"])
    np.testing.assert_array_equal(index["time"], frames["time"])
    assert (np.diff(index["frame"]) == 1).all() and np.ptp(frames["lost"]) == 0
    assert final["video"]["frames"] == len(index["frame"])
    assert final["video"]["ring_fill_max"] < 1.0
    return index


def test_full_video_keeps_every_frame(start_daemon, instance_name, small_sim_config, tmp_path):
    _start(start_daemon, instance_name, _config(tmp_path, small_sim_config))
    with connect(instance_name) as client:
        path, final = _record(client, tmp_path, "full_video", 120)
    with open_recording(path) as r:
        index = _check_every_frame(r, final)
        video = r.video_frames()
        assert video.shape == (len(index["frame"]), 256, 256) and video.dtype == np.uint16
        assert 0 < video.mean() < 4095  # camera images, and each one new (photon noise)
        assert all((a != b).any() for a, b in zip(video[:-1:10], video[1::10], strict=True))
        texts = [text for *_x, text in r.log()]
        assert any("video full 256x256 uint16, compression none" in t for t in texts)


def test_roi_video_every_bead_every_frame_with_positions(
    start_daemon, instance_name, small_sim_config, tmp_path
):
    config = _config(tmp_path, small_sim_config, '[recording]\nvideo_compression = "lzf"\n')
    _start(start_daemon, instance_name, config)
    with connect(instance_name) as client:
        tracking = client.call("tracking_settings")
        size, settings = tracking["roi_size"], TrackingSettings(**tracking["settings"])
        truth = client.call("sim_truth")
        inside = [
            (x, y)
            for x, y in zip(truth["x_px"], truth["y_px"], strict=True)
            if size / 2 + 4 < x < 256 - size / 2 - 4 and size / 2 + 4 < y < 256 - size / 2 - 4
        ]
        assert len(inside) >= 2, truth  # two real beads, and an ROI at the edge
        beads = [[round(x), round(y)] for x, y in inside[:2]] + [[20, 100]]
        ids = client.call("add_beads", rois=beads)["ids"]
        path = Path(
            client.call("record_start", folder=str(tmp_path / "recs"), mode="roi_video")["file"]
        )
        wait_for(lambda: _video_frames(client) >= 60, timeout=60)
        client.call("move_bead", id=ids[1], x=beads[1][0] + 2.0, y=beads[1][1])
        n = _video_frames(client)
        wait_for(lambda: _video_frames(client) >= n + 60, timeout=60)
        final = client.call("record_stop")
    with open_recording(path) as r:
        index = _check_every_frame(r, final)
        crops, rois = r.video_rois(), r.video_roi_index()
        assert crops.shape == (3 * len(index["frame"]), size, size)
        assert final["video"]["rois"] == len(crops)
        # every bead in every frame, frames in order, beads by id
        np.testing.assert_array_equal(rois["frame"], np.repeat(index["frame"], 3))
        np.testing.assert_array_equal(rois["bead"], np.tile(sorted(ids), len(index["frame"])))
        tracks = r.track_rows()
    with h5py.File(path, "r") as f:
        assert f["/video/rois"].compression == "lzf"
    # The ROI at the edge: origin x0 < 0, the crop's pixels outside the frame are 0.
    edge = rois["bead"] == ids[2]
    outside = int(-rois["x0"][edge][0])
    assert outside > 0 and (crops[edge][:, :, :outside] == 0).all()
    assert crops[~edge].min() > 0  # real pixels of the frame (camera offset > 0)
    moved = np.unique(rois["x0"][rois["bead"] == ids[1]])
    np.testing.assert_array_equal(moved, [beads[1][0] - size // 2, beads[1][0] + 2 - size // 2])
    # The crops are the frame's pixels at their origins: tracked offline with the same code and
    # settings, crop position + origin is where live tracking found the bead in that frame. (Not
    # for every row: live fits start from the previous frame's result, and a defocused bead's
    # fit can settle elsewhere from another start; a wrong origin or frame would miss them all.)
    live = {(int(t[1]), int(t[2])): (t[6], t[7]) for t in tracks}
    both = [k for k in np.flatnonzero(~edge) if (rois["frame"][k], rois["bead"][k]) in live]
    assert len(both) > len(crops) // 2
    offline = track_xyz(crops[both], settings=settings)
    found = np.column_stack([offline.x + rois["x0"][both], offline.y + rois["y0"][both]])
    expected = np.array([live[rois["frame"][k], rois["bead"][k]] for k in both])
    error = np.abs(found - expected).max(axis=1)
    assert np.nanmedian(error) < 1e-3 and np.mean(error < 0.01) > 0.6, np.sort(error)


def test_disk_slower_than_the_stream_stops_the_recording_not_acquisition(
    start_daemon, instance_name, small_sim_config, tmp_path
):
    # A 16-frame ring; the recorder sleeps 50 ms per frame: 20 frames/s for a 50 frames/s stream.
    config = _config(
        tmp_path, small_sim_config, "[recording]\ntest_video_write_delay_s = 0.05\n", stacks=8
    )
    _start(start_daemon, instance_name, config)
    with connect(instance_name) as client:
        client.call("add_beads", rois=[[64, 64]])
        path = Path(client.call("record_start", folder=str(tmp_path), mode="full_video")["file"])
        status = wait_for(lambda: not (s := client.call("record_status"))["running"] and s)
        assert status["stop_reason"] == "error"
        assert "the disk is slower than the stream" in status["last_error"]
        assert "16 frames behind" in status["last_error"]
        # acquisition and tracking go on
        before = client.status()
        wait_for(
            lambda: (
                (now := client.status())["camera"]["frames_acquired"]
                > before["camera"]["frames_acquired"] + 20
                and now["tracking"]["rows_written"] > before["tracking"]["rows_written"] + 20
            ),
            timeout=30,
        )
        # and the next recording works
        client.call("record_start", folder=str(tmp_path), name="after", duration_s=0.3)
        after = wait_for(lambda: not (s := client.call("record_status"))["running"] and s)
        assert after["stop_reason"] == "duration_reached" and after["last_error"] is None
    with open_recording(path) as r:
        assert r.stop_reason == "error" and r.closed_cleanly
        errors = [text for _t, level, _s, text in r.log() if level == "error"]
        assert any("the disk is slower than the stream" in t for t in errors)
        index = r.video_index()["frame"]
        assert len(index) > 0 and np.all(np.diff(index) >= 1)
        assert len(r.video_frames()) == len(index)
