"""Re-tracking recordings written from a bead model of this test (no daemon, no simulator):
the right beads in every frame as the ROIs change, positions against the truth, full and ROI
video alike, the reader's video helpers, and the files and errors around a re-track."""

from __future__ import annotations

import json
import subprocess
import sys

import h5py
import numpy as np
import pytest
from _synthetic import MOVE_AT, N_FRAMES, PIXEL_NM, REMOVE_AT, rois_at, time_of, truth, write

from magscope_app.analysis import (
    RetrackError,
    default_out,
    find_recordings,
    read_retrack,
    retrack,
    retrack_many,
)
from magscope_app.buffers.layouts import TrackFlags
from magscope_app.recording import RecordingWriter, open_recording, verify
from magscope_app.tracking import ZLUT, TrackingSettings


@pytest.fixture(params=["full", "roi"])
def recording(request, tmp_path):
    return write(tmp_path / f"{request.param}.h5", request.param)


def test_reader_video_chunks_and_roi_states(recording):
    with open_recording(recording) as r:
        assert r.video_length() == N_FRAMES and r.camera_shape() == (128, 160)
        chunks = list(r.iter_video(7))
        assert [len(c) for c in chunks] == [7, 7, 7, 3]
        times = np.concatenate([c.time for c in chunks])
        assert np.allclose(times, [time_of(k) for k in range(N_FRAMES)], rtol=0, atol=1e-6)
        assert np.array_equal(np.concatenate([c.frame for c in chunks]), 100 + np.arange(24))
        index, states = r.roi_states(times)
        for k in range(N_FRAMES):
            assert states[index[k]] == rois_at(k)
        assert len(states) == 3  # start, the move, the removal
        if r.video_mode == "roi":
            chunk = r.video_chunk(MOVE_AT, REMOVE_AT + 1)
            assert chunk.origins is not None and chunk.beads is not None
            assert chunk.frames.shape == (
                REMOVE_AT + 1 - MOVE_AT,
                3,
                32,
                32,
            )  # a slot per bead cropped
            x0, _x1, y0, _y1 = rois_at(MOVE_AT)[3]
            assert tuple(chunk.origins[0, 0]) == (x0, y0)  # slot 0: bead 3, moved ROI
            assert np.isnan(chunk.origins[-1, 2]).all()  # bead 7 removed: slot empty
        else:
            assert r.video_chunk(0, 2).origins is None


def test_retrack_follows_roi_changes_and_finds_the_truth(recording):
    progress = []
    outcome = retrack(recording, chunk_frames=5, progress=progress.append)
    assert outcome.status == "done" and outcome.frames == N_FRAMES and outcome.beads == 3
    assert progress[-1].frames_done == progress[-1].frames_total == N_FRAMES
    assert [p.frames_done for p in progress] == sorted(p.frames_done for p in progress)
    t = read_retrack(outcome.out)
    assert len(t["frame"]) == 3 * REMOVE_AT + 2 * (N_FRAMES - REMOVE_AT)
    for k in range(N_FRAMES):
        rows = t["frame"] == 100 + k
        assert list(t["bead"][rows]) == sorted(truth(k))  # the beads of that frame, by id
        assert np.allclose(t["time"][rows], time_of(k), rtol=0, atol=1e-6)
        for bead, (x, y) in truth(k).items():
            i = np.flatnonzero(rows & (t["bead"] == bead))[0]
            edge = bead == 9  # its ROI crosses the frame's left edge
            assert bool(int(t["flags"][i]) & TrackFlags.AT_EDGE) == edge
            assert int(t["flags"][i]) & TrackFlags.Z_INVALID  # no Z-LUT in this recording
            if not edge:
                assert abs(t["x_px"][i] - x) < 0.1 and abs(t["y_px"][i] - y) < 0.1, (k, bead)
                assert t["x_nm"][i] == pytest.approx(t["x_px"][i] * PIXEL_NM)
    with h5py.File(outcome.out, "r") as f:  # the result links to the recording and says how
        group = f[outcome.group]
        assert group.attrs["complete"] and group.attrs["zlut_source"] == "recording"
        settings = json.loads(group.attrs["settings"])
        assert settings["radial_max_px"] == 15.0 and settings["xy_radius_px"] == 22.0
        assert json.loads(group.attrs["description"])["roi_sizes"] == [32]
        assert f["recording/video/index"].shape[0] == N_FRAMES  # external link
    assert verify(recording).ok  # the recording itself is unchanged


def test_chunking_does_not_change_the_result_and_reruns_are_skipped(tmp_path):
    path = write(tmp_path / "rec.h5", "full")
    a = retrack(path, chunk_frames=3, out=tmp_path / "a.h5")
    b = retrack(path, chunk_frames=100, out=tmp_path / "b.h5")
    ta, tb = read_retrack(a.out), read_retrack(b.out)
    assert all(np.array_equal(ta[c], tb[c], equal_nan=True) for c in ta)
    again = retrack(path, chunk_frames=7, out=tmp_path / "a.h5")
    assert again.status == "skipped" and again.group == a.group
    other = retrack(path, settings={"xy_iterations": 6}, out=tmp_path / "a.h5")
    assert other.status == "done" and other.group != a.group
    with h5py.File(tmp_path / "a.h5", "r") as f:
        assert sorted(f["retrack"]) == ["0", "1"]


def test_new_luts_are_used_and_must_fit(tmp_path):
    path = write(tmp_path / "rec.h5", "roi")
    settings = TrackingSettings(radial_max_px=15.0, xy_radius_px=22.0)
    profiles = np.linspace(1.0, 2.0, 5)[:, None] * np.ones(settings.n_bins)
    lut = ZLUT(np.linspace(0.0, 400.0, 5), profiles * 2000.0, settings)
    outcome = retrack(path, zlut={3: lut})
    with h5py.File(outcome.out, "r") as f:
        group = f[outcome.group]
        assert group.attrs["zlut_source"] == "given ZLUTs"
        assert np.array_equal(group["zlut/3/z_nm"][()], lut.z_nm)
    t = read_retrack(outcome.out)
    no_lut = t["bead"] != 3
    assert (t["flags"][no_lut].astype(int) & TrackFlags.Z_INVALID).all()
    other = ZLUT(lut.z_nm, np.ones((5, TrackingSettings().n_bins)), TrackingSettings())
    with pytest.raises(RetrackError, match="radial profile"):
        retrack(path, zlut={3: lut}, settings={"radial_step_px": 0.5})
    with pytest.raises(RetrackError, match="radial profile"):
        retrack(path, zlut=other, settings={"radial_max_px": 15.0})


def test_errors_name_the_problem(tmp_path):
    path = write(tmp_path / "rec.h5", "full")
    with pytest.raises(RetrackError, match="unknown tracking setting"):
        retrack(path, settings={"xy_iteration": 3})
    with pytest.raises(RetrackError, match="must be an integer"):
        retrack(path, settings={"xy_iterations": 2.5})
    no_video = tmp_path / "tracks_only.h5"
    with RecordingWriter(no_video, instance="x", min_free_bytes=None):
        pass
    with pytest.raises(RetrackError, match="has no video"):
        retrack(no_video)
    cut = tmp_path / "cut.h5"
    cut.write_bytes(path.read_bytes()[:4000])
    with pytest.raises(RetrackError, match="corrupt or cut short"):
        retrack(cut)
    with pytest.raises(RetrackError, match="no such file"):
        retrack(tmp_path / "missing.h5")
    with pytest.raises(RetrackError, match=r"Z-LUT file .* cannot be read"):
        retrack(path, zlut=cut)
    not_ours = tmp_path / "other.h5"
    with h5py.File(not_ours, "w") as f:
        f["x"] = 1
    with pytest.raises(RetrackError, match="not a re-track file"):
        retrack(path, out=not_ours)
    # A folder: recordings with video only (no Z-LUT, re-track or tracks-only files), each once.
    retrack(path)
    assert find_recordings([tmp_path, path]) == [cut, path]
    assert default_out(path).exists() and verify(path).ok


def test_cli_one_file_and_one_line_errors(tmp_path):
    path = write(tmp_path / "rec.h5", "roi")

    def cli(*args):
        return subprocess.run(
            [sys.executable, "-m", "magscope_app", "retrack", *map(str, args)],
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip

    done = cli(path, "--settings", "xy_iterations=5", "--chunk", "8")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"done {path} -> {default_out(path)}:/retrack/0")
    assert "100%" in done.stderr and "24/24 frames" in done.stderr  # the progress bar
    again = cli(path, "--settings", "xy_iterations=5")
    assert again.returncode == 0 and again.stdout.startswith("skipped")
    for args, text in [
        (("--settings", "xy_iteration=5"), "unknown tracking setting"),
        (("--settings", "xy_iterations"), "expected NAME=VALUE"),
        (("--settings", "xy_iterations=many"), "is not a number"),
        (("--zlut", tmp_path / "none.h5"), "does not exist"),
    ]:
        bad = cli(path, *args)
        assert bad.returncode == 1 and text in bad.stderr, bad.stderr
        assert "Traceback" not in bad.stderr and bad.stderr.strip().count("\n") == 0, bad.stderr


def _damage_video_chunk(path, index: int) -> None:
    """Overwrite the stored bytes of video frame ``index`` (the metadata stays intact)."""
    with h5py.File(path, "r") as f:
        row = int(np.searchsorted(f["video/roi_index"][:, 0], 100 + index))  # its first crop
        info = f["video/rois"].id.get_chunk_info_by_coord((row, 0, 0))
    with open(path, "r+b") as raw:
        raw.seek(info.byte_offset)
        raw.write(b"\xff" * info.size)


def test_a_task_that_fails_loses_only_its_file(tmp_path):
    good = write(tmp_path / "good.h5", "roi")
    damaged = write(tmp_path / "damaged.h5", "roi", seed=1)  # lzf: a damaged chunk cannot decode
    _damage_video_chunk(damaged, 20)
    with pytest.raises(RetrackError, match=r"damaged\.h5: cannot read video frames \d+:\d+"):
        retrack(damaged, chunk_frames=8)
    with h5py.File(default_out(damaged), "r") as f:
        assert len(f["retrack"]) == 0  # the partial result is removed
    outcomes = retrack_many([damaged, good], chunk_frames=8, workers=2, processes=False)
    assert [o.status for o in outcomes] == ["failed", "done"]
    assert outcomes[0].message.startswith("cannot read video frames ")
    assert len(read_retrack(outcomes[1].out)["frame"]) == 3 * REMOVE_AT + 2 * (N_FRAMES - REMOVE_AT)
