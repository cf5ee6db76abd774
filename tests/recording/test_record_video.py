"""The recorder's video source on real shared memory (no daemon): every frame and every bead crop
written exactly, in order, with the crop origins; an overrun reported, never a silent gap; the
``[recording]`` config section and the video ring's size."""

from __future__ import annotations

import multiprocessing
import sys
from pathlib import Path

import numpy as np
import pytest

from magscope_app.buffers import BeadRoiBuffer, RecorderOverrun, VideoBuffer
from magscope_app.config import ConfigError, load_daemon_config
from magscope_app.recording import RecordingWriter, open_recording
from magscope_app.services._recording_files import RecordingSettings, video_ring_stacks
from magscope_app.workers._record_sources import RoiWatcher
from magscope_app.workers._record_video import VideoGap, VideoRecording

H, W, SIZE = 40, 56, 16


@pytest.fixture
def shared(instance_name):
    """A 4 × 2 frame VideoBuffer and a BeadRoiBuffer, unlinked afterwards."""
    locks = {"VideoBuffer": multiprocessing.Lock(), "BeadRoiBuffer": multiprocessing.Lock()}
    video = VideoBuffer(
        create=True, locks=locks, n_stacks=4, n_images=2, height=H, width=W, bits=16,
        instance=instance_name,
    )  # fmt: skip
    rois = BeadRoiBuffer(create=True, locks=locks, capacity=8, instance=instance_name)
    yield video, rois
    video.unlink()
    rois.unlink()


def _write(video: VideoBuffer, frames: np.ndarray, first: int) -> None:
    """The camera and the tracking workers: store frames, consume every complete stack."""
    for k, frame in enumerate(frames):
        video.write_image_and_timestamp(frame, 1000.0 + first + k, first + k)
        while video.check_read_stack():
            video.read_stack_no_return()


def test_roi_video_crops_are_the_frame_pixels_at_their_origins(shared, tmp_path):
    video, roi_buffer = shared
    rng = np.random.default_rng(3)
    frames = rng.integers(1, 4096, (30, H, W), dtype=np.uint16)
    # inside; clipped at the left/top edge (origin x1 - SIZE < 0); clipped at the right edge
    roi_buffer.add_beads({0: (10, 26, 12, 28), 3: (0, 6, 0, 11), 5: (44, 56, 20, 36)})
    _write(video, frames[:3], 0)  # before the recording: not recorded
    watcher = RoiWatcher(roi_buffer)
    watcher.snapshot()
    source = VideoRecording(video, "roi", watcher, crop_size=SIZE, compression="gzip")
    assert source.first_frame_after == 2
    with RecordingWriter(tmp_path / "roi.h5", instance="t", video=source.spec) as writer:
        for start in range(3, 30, 3):  # three frames per pass; the ring holds eight
            _write(video, frames[start : start + 3], start)
            if start == 15:
                roi_buffer.update_beads({0: (12, 28, 12, 28)})  # a bead moved
                watcher.changes()
            assert source.pump(writer, budget_s=None) == 3
        source.close()
    with open_recording(tmp_path / "roi.h5") as r:
        np.testing.assert_array_equal(r.video_index()["frame"], np.arange(3, 30))
        np.testing.assert_array_equal(r.video_index()["time"], 1000.0 + np.arange(3, 30))
        crops, index = r.video_rois(), r.video_roi_index()
    assert len(crops) == 3 * 27
    np.testing.assert_array_equal(index["bead"], np.tile([0, 3, 5], 27))
    for crop, frame, x0, y0 in zip(crops, index["frame"], index["x0"], index["y0"], strict=True):
        x0, y0 = int(x0), int(y0)
        expected = np.zeros((SIZE, SIZE), np.uint16)
        ys, xs = slice(max(y0, 0), min(y0 + SIZE, H)), slice(max(x0, 0), min(x0 + SIZE, W))
        expected[ys.start - y0 : ys.stop - y0, xs.start - x0 : xs.stop - x0] = frames[
            int(frame), ys, xs
        ]
        np.testing.assert_array_equal(crop, expected)
    origins = set(zip(index["bead"], index["x0"], index["y0"], strict=True))
    assert origins == {(0, 10, 12), (0, 12, 12), (3, -10, -5), (5, 44, 20)}


def test_full_video_overrun_is_raised_with_what_was_written(shared, tmp_path):
    video, _ = shared
    frames = np.arange(20 * H * W, dtype=np.uint16).reshape(20, H, W)
    source = VideoRecording(video, "full", None)
    with RecordingWriter(tmp_path / "full.h5", instance="t", video=source.spec) as writer:
        _write(video, frames[:6], 0)
        assert source.pump(writer, budget_s=None) == 6
        assert source.max_fill == pytest.approx(6 / 8)
        _write(video, frames[6:15], 6)  # 9 frames into an 8-frame ring: the camera goes on
        with pytest.raises(RecorderOverrun, match="8 frames behind"):
            source.pump(writer, budget_s=None)
        assert source.last_frame == 5
    source.close()
    with open_recording(tmp_path / "full.h5") as r:
        np.testing.assert_array_equal(r.video_frames(), frames[:6])
        np.testing.assert_array_equal(r.video_index()["frame"], np.arange(6))


def test_frames_lost_before_the_ring_stop_the_video_after_the_frames_before(shared, tmp_path):
    video, _ = shared
    frames = np.arange(8 * H * W, dtype=np.uint16).reshape(8, H, W)
    numbers = [10, 11, 12, 15, 16]  # the camera lost frames 13 and 14
    for frame, number in zip(frames, numbers, strict=False):
        video.write_image_and_timestamp(frame, float(number), number)
        if number == 10:
            source = VideoRecording(video, "full", None)  # starts after frame 10
    with RecordingWriter(tmp_path / "gap.h5", instance="t", video=source.spec) as writer:
        with pytest.raises(VideoGap, match="frames 13 to 14 missing") as info:
            source.pump(writer, budget_s=None)
        assert (info.value.first, info.value.count) == (13, 2)
        del info
        assert source.last_frame == 12 and source.frames_written == 2
    source.close()
    with open_recording(tmp_path / "gap.h5") as r:
        np.testing.assert_array_equal(r.video_index()["frame"], [11, 12])
        np.testing.assert_array_equal(r.video_frames(), frames[1:3])


def test_roi_video_needs_beads(shared):
    video, roi_buffer = shared
    with pytest.raises(ValueError, match="ROI video needs at least one bead ROI"):
        VideoRecording(video, "roi", RoiWatcher(roi_buffer))


# -- [recording] config and the video ring --------------------------------------------------


def _config(tmp_path: Path, recording: str, frame_rate: str = "frame_rate = 50.0"):
    path = tmp_path / "c.toml"
    path.write_text(
        f"""
[camera]
driver = "simulated.camera"
width = 256
height = 256
{frame_rate}

[daemon]
video_stacks = 8
images_per_stack = 2

[recording]
{recording}
"""
    )
    return load_daemon_config(path)


def test_video_ring_holds_the_configured_seconds(tmp_path):
    assert video_ring_stacks(_config(tmp_path, "")) == 8  # [daemon] video_stacks
    assert video_ring_stacks(_config(tmp_path, "video_buffer_seconds = 3")) == 75  # 150 frames
    assert video_ring_stacks(_config(tmp_path, "video_buffer_seconds = 0.1")) == 8  # at least
    # without frame_rate in the config: the driver's default (100 frames/s)
    assert video_ring_stacks(_config(tmp_path, "video_buffer_seconds = 1", "")) == 50
    with pytest.raises(ConfigError, match="GiB of shared memory; only"):
        video_ring_stacks(_config(tmp_path, "video_buffer_seconds = 1e6"))


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ('video_compression = "zip"', "recording.video_compression: must be one of 'none'"),
        ("video_buffer_seconds = 0", "recording.video_buffer_seconds: must be a number > 0"),
        ('video_buffer_seconds = "2"', "recording.video_buffer_seconds: must be a number > 0"),
        ("test_video_write_delay_s = -1", "test_video_write_delay_s: must be a number >= 0"),
        ("folder = 3", "recording.folder: must be a text"),
        ("video_buffer = 2", "recording.video_buffer: unknown key"),
    ],
)
def test_bad_recording_settings_are_named(tmp_path, text, problem):
    with pytest.raises(ConfigError, match=problem):
        RecordingSettings.from_config(_config(tmp_path, text))


def test_blosc_compression_needs_hdf5plugin(tmp_path, monkeypatch):
    pytest.importorskip("hdf5plugin")
    config = _config(tmp_path, 'video_compression = "blosc-lz4"')
    assert RecordingSettings.from_config(config).video_compression == "blosc-lz4"
    monkeypatch.setitem(sys.modules, "hdf5plugin", None)  # as if it were not installed
    with pytest.raises(ConfigError, match=r"video_compression.*'magscope-app\[blosc\]'"):
        RecordingSettings.from_config(config)


def test_recording_settings(tmp_path):
    s = RecordingSettings.from_config(
        _config(tmp_path, 'folder = "~/recs"\nvideo_compression = "lzf"')
    )
    assert s.folder == Path("~/recs").expanduser() and s.video_compression == "lzf"
    assert s.video_buffer_seconds is None and s.test_video_write_delay_s == 0.0
