"""Write real recordings to tmp_path and read them back: contents, order, metadata, errors."""

from __future__ import annotations

import math
import sys
import threading

import h5py
import numpy as np
import pytest

import magscope_app
from magscope_app.recording import (
    FORMAT_VERSION,
    RecordingError,
    RecordingWriter,
    StopReason,
    VideoSpec,
    inspect_summary,
    open_recording,
    schema,
    summarize,
    verify,
)
from magscope_app.tracking import ZLUT, TrackingSettings

N_BEADS = 5


def track_rows(frame: int, beads=range(N_BEADS)) -> np.ndarray:
    """Rows whose values encode frame and bead, so order and content can be checked."""
    return np.array(
        [[100.0 + frame * 1e-3, frame, b, frame * 10 + b, -b, 0.5 * frame, b + 0.25, frame, 0]
         for b in beads],
        dtype=float,
    )  # fmt: skip


def shuffled_batches(n_frames: int, seed: int = 0) -> list[np.ndarray]:
    """All rows of n_frames frames, in scrambled batches (frames split across batches)."""
    rng = np.random.default_rng(seed)
    rows = np.concatenate([track_rows(f) for f in range(n_frames)])
    # local disorder: each row moves at most ~3 frames away, like parallel workers
    keys = rows[:, 1] + rng.uniform(0, 3, len(rows))
    rows = rows[np.argsort(keys)]
    return np.array_split(rows, n_frames // 2)


def test_tracks_are_written_in_frame_order_and_read_per_bead(tmp_path):
    path = tmp_path / "rec.h5"
    n_frames = 400
    with RecordingWriter(path, instance="t", reorder_window=8) as w:
        for batch in shuffled_batches(n_frames):
            w.append_tracks(batch)
    with open_recording(path) as r:
        stored = r.track_rows()
        expected = np.concatenate([track_rows(f) for f in range(n_frames)])
        np.testing.assert_array_equal(stored, expected)  # frame order, then bead
        assert r.late_rows == 0
        assert list(r.bead_ids()) == list(range(N_BEADS))
        t3 = r.tracks(3)
        assert set(t3) == set(schema.TRACK_COLUMNS)
        np.testing.assert_array_equal(t3["frame"], np.arange(n_frames))
        np.testing.assert_array_equal(t3["x_nm"], np.arange(n_frames) * 10 + 3)
        np.testing.assert_array_equal(t3["y_px"], np.arange(n_frames))


def test_late_rows_are_written_not_dropped(tmp_path):
    path = tmp_path / "late.h5"
    with RecordingWriter(path, instance="t", reorder_window=2) as w:
        for f in range(10):
            w.append_tracks(track_rows(f, beads=[0]))
        w.append_tracks(track_rows(1, beads=[1]))  # far too late
    with open_recording(path) as r:
        assert r.late_rows == 1
        assert len(r.track_rows()) == 11
        np.testing.assert_array_equal(r.tracks(0)["frame"], np.arange(10))
        np.testing.assert_array_equal(r.tracks(1)["frame"], [1])
        assert r.tracks()["frame"].tolist() == sorted(r.tracks()["frame"].tolist())


def test_everything_else_round_trips(tmp_path):
    path = tmp_path / "all.h5"
    lut_settings = TrackingSettings(radial_step_px=1.0, radial_max_px=4.0)  # 5 bins
    lut = ZLUT(np.linspace(0, 900, 10), np.arange(1.0, 51.0).reshape(10, 5), lut_settings)
    settings = {"camera": {"exposure_ms": 1.0}, "beads": [1, 2]}
    hardware = {"camera": "simulated", "motors": ["magnet_z", "focus"]}
    with RecordingWriter(
        path, instance="scope7", motors={"magnet_z": "mm", "focus": "um"}, settings=settings,
        hardware=hardware, rois={1: (0, 32, 10, 42), 2: (100, 132, 5, 37)}, zluts={2: lut},
        start_time=99.0,
    ) as w:  # fmt: skip
        w.append_frames(np.array([[100.0, 0, 0], [100.001, 1, 0], [100.003, 3, 1]]))
        w.append_motor("focus", np.array([[100.0, 1.5, 2.0, 1.0], [100.1, 2.0, 2.0, 0.0]]))
        w.append_motor("magnet_z", [100.05, 3.0, 3.0, 0.0])
        w.add_zlut(1, np.arange(3.0), np.ones((3, 2)), {"step_nm": 50}, time=101.0)
        w.add_zlut(2, np.arange(5.0), np.full((5, 3), 7.0), '{"v": 2}', time=102.0)
        w.set_roi(1, 2, 34, 10, 42, time=103.0)
        w.remove_roi(2, time=104.0)
        w.log("magnets moved", "info", "script", time=105.0)
        w.log("bead 2 lost", "warning", "tracking", time=106.0)
        w.close(StopReason.SCRIPT_END, stop_time=110.0)
    with open_recording(path) as r:
        m = r.metadata
        assert m["format"] == schema.FORMAT_NAME and m["format_version"] == FORMAT_VERSION
        assert m["software_version"] == magscope_app.__version__
        assert m["instance"] == "scope7"
        assert (m["start_time"], m["stop_time"], m["stop_reason"]) == (99.0, 110.0, "script_end")
        assert math.isnan(m["recovered_time"]) and m["checksum"].startswith("sha256:")
        assert r.closed_cleanly and r.stop_reason == "script_end"
        assert r.config() == settings and r.hardware() == hardware
        fr = r.frames()
        np.testing.assert_array_equal(fr["frame"], [0, 1, 3])
        np.testing.assert_array_equal(fr["lost"], [0, 0, 1])
        assert r.motor_names() == ["focus", "magnet_z"] and r.motor_unit("magnet_z") == "mm"
        np.testing.assert_array_equal(r.motor("focus")["position"], [1.5, 2.0])
        np.testing.assert_array_equal(r.motor("magnet_z")["time"], [100.05])
        with pytest.raises(KeyError):
            r.motor("rotation")
        luts = r.zluts()
        assert [(x.bead, x.time) for x in luts] == [(2, 99.0), (1, 101.0), (2, 102.0)]
        np.testing.assert_array_equal(luts[0].profiles, lut.profiles)
        np.testing.assert_array_equal(luts[0].z, lut.z_nm)
        assert TrackingSettings(**luts[0].settings) == lut_settings
        newest = r.zlut(2)
        assert (
            newest is not None and newest.profiles.shape == (5, 3) and newest.settings == {"v": 2}
        )
        assert r.zlut(9) is None
        assert r.rois(at=99.5) == {1: (0, 32, 10, 42), 2: (100, 132, 5, 37)}
        assert r.rois() == {1: (2, 34, 10, 42)}
        assert len(r.roi_log()["time"]) == 4
        assert r.log() == [
            (105.0, "info", "script", "magnets moved"),
            (106.0, "warning", "tracking", "bead 2 lost"),
        ]
    text = inspect_summary(path)
    assert "scope7" in text and "script_end" in text and "closed cleanly" in text
    assert "focus (2 samples)" in text
    s = summarize(path)
    assert s["frames"] == 3 and s["frames_lost"] == 1 and s["zluts"] == 3


@pytest.mark.parametrize("compression", [None, "none", "gzip", "lzf", "blosc-lz4"])
def test_full_frame_video_round_trips_losslessly(tmp_path, compression):
    if compression == "blosc-lz4":
        pytest.importorskip("hdf5plugin")
    path = tmp_path / "video.h5"
    spec = VideoSpec("full", (48, 64), compression=compression, gzip_level=3)
    rng = np.random.default_rng(5)  # 12-bit camera noise on a background: hard to compress
    frames = (100 + rng.poisson(900, (5, 48, 64))).clip(0, 4095).astype(np.uint16)
    frames[2, 10:20, 10:20] = 4095
    with RecordingWriter(path, instance="t", video=spec) as w:
        w.append_video(frames[:3], [1.0, 2.0, 3.0], [10, 11, 12])
        w.append_video(frames[3], [4.0], [13])
        w.append_video(frames[4:], [5.0], [14])
        with pytest.raises(ValueError, match="not 'roi'"):
            w.append_roi_video([6.0], [15], np.zeros((0, 48, 64)), np.zeros((0, 4)))
        with pytest.raises(ValueError, match="1 video frames but 2 times"):
            w.append_video(frames[0], [6.0, 7.0], [15, 16])
    with open_recording(path) as r:
        assert r.has_video and r.video_mode == "full" and r.metadata["video"] == "full"
        np.testing.assert_array_equal(r.video_frames(), frames)
        np.testing.assert_array_equal(r.video_index()["frame"], [10, 11, 12, 13, 14])
        with pytest.raises(RecordingError, match="no roi video"):
            r.video_rois()
    with h5py.File(path, "r") as f:
        ds = f[schema.VIDEO_FRAMES]
        expected = None if compression == "none" else compression
        assert ds.chunks == (1, 48, 64) and ds.attrs["compression"] == (expected or "none")
        if compression == "blosc-lz4":
            assert "32001" in ds._filters  # the Blosc filter (HDF5 registered filter id)
        else:
            assert ds.compression == expected and ds.shuffle == (expected is not None)
    assert verify(path).status == "ok"


def test_blosc_without_hdf5plugin_says_how_to_get_it(tmp_path, monkeypatch):
    pytest.importorskip("hdf5plugin")
    path = tmp_path / "blosc.h5"
    frames = np.arange(2 * 8 * 8, dtype=np.uint16).reshape(2, 8, 8)
    spec = VideoSpec("full", (8, 8), "uint16", "blosc-lz4")
    with RecordingWriter(path, instance="t", video=spec) as w:
        w.append_video(frames, [1.0, 2.0], [0, 1])
    monkeypatch.setitem(sys.modules, "hdf5plugin", None)  # as if it were not installed
    with pytest.raises(RecordingError, match=r"needs the optional package hdf5plugin: pip inst"):
        RecordingWriter(tmp_path / "b2.h5", instance="t", video=spec)
    assert not (tmp_path / "b2.h5").exists()
    with open_recording(path) as r:
        np.testing.assert_array_equal(r.video_index()["frame"], [0, 1])  # the rest reads
        with pytest.raises(RecordingError, match=r"reading this video \(blosc-lz4\) needs"):
            r.video_frames()
    with pytest.raises(RecordingError, match="hdf5plugin"):
        verify(path)


def test_roi_video_one_crop_per_bead_and_frame(tmp_path):
    path = tmp_path / "roi.h5"
    spec = VideoSpec("roi", (8, 8), dtype="uint8", compression="lzf")
    crops = np.random.default_rng(0).integers(0, 255, (5, 8, 8), dtype=np.uint8)
    rois = np.array([[0, 1, 3, 4], [0, 2, 20, -2], [1, 1, 3, 5], [1, 2, 20, -2], [3, 7, 0, 0]])
    with RecordingWriter(path, instance="t", video=spec) as w:
        w.append_roi_video([1.0, 2.0], [0, 1], crops[:4], rois[:4])
        w.append_roi_video([3.0, 4.0], [2, 3], crops[4:], rois[4:])  # frame 2 without beads
        with pytest.raises(ValueError, match="must be one of frame_numbers"):
            w.append_roi_video([5.0], [4], crops[:1], rois[:1])
        with pytest.raises(ValueError, match="2 ROI crops but 1 ROI rows"):
            w.append_roi_video([5.0], [4], crops[:2], [[4, 1, 0, 0]])
        with pytest.raises(ValueError, match="not 'full'"):
            w.append_video(np.zeros((8, 8)), [5.0], [4])
    with open_recording(path) as r:
        assert r.video_mode == "roi"
        np.testing.assert_array_equal(r.video_rois(), crops)
        np.testing.assert_array_equal(r.video_rois(1, 3), crops[1:3])
        index = r.video_roi_index()
        np.testing.assert_array_equal(np.column_stack([index[c] for c in index]), rois)
        np.testing.assert_array_equal(r.video_index()["frame"], [0, 1, 2, 3])
        with pytest.raises(RecordingError, match="no full video"):
            r.video_frames()
    with h5py.File(path, "r") as f:
        assert f[schema.VIDEO_ROIS].chunks == (4096, 8, 8)  # 256 KiB of crops per chunk


def test_bad_video_specs_are_refused():
    with pytest.raises(ValueError, match="compression must be one of none, lzf, gzip, blosc-lz4"):
        VideoSpec("full", (4, 4), compression="zip")
    with pytest.raises(ValueError, match="video mode"):
        VideoSpec("movie", (4, 4))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="gzip_level"):
        VideoSpec("full", (4, 4), compression="gzip", gzip_level=12)


def test_without_video_append_video_is_refused(tmp_path):
    w = RecordingWriter(tmp_path / "nv.h5", instance="t")
    with pytest.raises(RecordingError, match="without video"):
        w.append_video(np.zeros((4, 4)), [1.0], [1])
    w.close()
    with open_recording(tmp_path / "nv.h5") as r:
        assert not r.has_video


def test_exception_in_with_block_closes_with_reason_error(tmp_path):
    path = tmp_path / "err.h5"
    with pytest.raises(ZeroDivisionError), RecordingWriter(path, instance="t") as w:
        w.append_tracks(track_rows(0))
        1 / 0  # noqa: B018
    with open_recording(path) as r:
        assert r.stop_reason == "error"
        assert len(r.track_rows()) == N_BEADS  # flushed at close, in order


def test_close_is_idempotent_and_appends_after_close_fail(tmp_path):
    w = RecordingWriter(tmp_path / "c.h5", instance="t")
    assert w.close(StopReason.DURATION_REACHED) == tmp_path / "c.h5"
    w.close()
    with pytest.raises(RecordingError, match="closed"):
        w.append_tracks(track_rows(0))
    with open_recording(tmp_path / "c.h5") as r:
        assert r.stop_reason == "duration_reached"


def test_bad_input_is_rejected_with_clear_errors(tmp_path):
    with RecordingWriter(tmp_path / "b.h5", instance="t", motors=["focus"]) as w:
        with pytest.raises(KeyError, match="focus"):
            w.append_motor("magnet", [1.0, 2.0, 3.0, 0.0])
        with pytest.raises(ValueError, match="shape"):
            w.append_tracks(np.zeros((2, 4)))
        with pytest.raises(ValueError, match="profiles"):
            w.add_zlut(1, np.arange(3.0), np.ones((4, 2)))
    w = RecordingWriter(tmp_path / "b2.h5", instance="t")
    with pytest.raises(ValueError, match="stop reason must be one of user, script_end"):
        w.close("nope")
    w.close("user")  # still open after the refused close


def test_existing_file_is_never_overwritten(tmp_path):
    path = tmp_path / "x.h5"
    path.write_bytes(b"precious")
    with pytest.raises(RecordingError, match="already exists") as e:
        RecordingWriter(path, instance="t")
    assert str(path) in str(e.value)
    assert path.read_bytes() == b"precious"


def test_unwritable_folder_raises_recording_error_naming_the_path(tmp_path):
    blocker = tmp_path / "not_a_folder"
    blocker.write_text("")
    path = blocker / "sub" / "rec.h5"
    with pytest.raises(RecordingError) as e:
        RecordingWriter(path, instance="t")
    assert str(path) in str(e.value) and "cannot create" in str(e.value)
    path = blocker / "rec.h5"
    with pytest.raises(RecordingError, match="not a folder"):
        RecordingWriter(path, instance="t")


def test_missing_parent_folders_are_created(tmp_path):
    path = tmp_path / "a" / "b" / "rec.h5"
    RecordingWriter(path, instance="t").close()
    with open_recording(path) as r:
        assert r.stop_reason == "user"


def test_reader_rejects_non_recordings(tmp_path):
    with h5py.File(tmp_path / "other.h5", "w") as f:
        f["x"] = 1
    with pytest.raises(RecordingError, match="not a magscope-recording"):
        open_recording(tmp_path / "other.h5")
    (tmp_path / "junk.h5").write_bytes(b"junk")
    with pytest.raises(RecordingError, match="not an HDF5 file"):
        open_recording(tmp_path / "junk.h5")


def test_swmr_mode_and_chunked_resizable_datasets(tmp_path):
    path = tmp_path / "s.h5"
    w = RecordingWriter(path, instance="t", motors=["focus"])
    try:
        assert w._f.swmr_mode  # the contract with readers
        for name in (schema.TRACKS, schema.FRAMES, schema.LOG, schema.ROIS, "/motors/focus"):
            ds = w._f[name]
            assert ds.chunks is not None and ds.maxshape[0] is None
    finally:
        w.close()


def test_flush_if_due_and_stats(tmp_path):
    path = tmp_path / "f.h5"
    w = RecordingWriter(path, instance="t", flush_interval=0.0, beads_per_frame=N_BEADS)
    try:
        for f in range(120):
            w.append_tracks(track_rows(f))
        assert w.flush_if_due()  # interval 0: always due
        st = w.stats()
        assert st["tracks"] + st["tracks_reorder_pending"] == 120 * N_BEADS
        with open_recording(path) as r:  # same process, SWMR read
            assert len(r.track_rows()) == st["tracks"] > 0
    finally:
        w.close()
    w2 = RecordingWriter(tmp_path / "f2.h5", instance="t", flush_interval=3600)
    try:
        assert not w2.flush_if_due()
    finally:
        w2.close()


def test_threads_open_one_recording_at_once(tmp_path):
    """Threads of one process (e.g. a Dask worker's) open the same file together: HDF5 refuses a
    SWMR open while another thread's integrity probe holds the file open without SWMR, so the
    opens take turns; every one succeeds."""
    path = tmp_path / "rec.h5"
    with RecordingWriter(path, instance="t") as w:
        w.append_tracks(np.concatenate([track_rows(f) for f in range(20)]))
    errors: list[str] = []

    def open_many() -> None:
        for _ in range(40):
            try:
                with open_recording(path) as r:
                    assert len(r.track_rows()) == 20 * N_BEADS
            except RecordingError as exc:
                errors.append(str(exc))

    threads = [threading.Thread(target=open_many) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
