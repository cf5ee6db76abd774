"""The simulated camera: image model, bit depth, pacing, ground truth, settings."""

from __future__ import annotations

import json

import numpy as np
import pytest
from magscope_app.hardware import HardwareError, SettingError
from magscope_app.hardware.simulated import LocalWorldControl, SimulatedCamera, expected_roi


def _camera(control=None, **kw) -> SimulatedCamera:
    defaults = dict(width=256, height=256, n_beads=3, n_reference_beads=1, seed=2)
    defaults.update(kw)
    return SimulatedCamera(control=control or LocalWorldControl(), **defaults)


def test_frame_shape_dtype_and_values_within_bit_depth():
    for bits, dtype in ((8, np.uint8), (10, np.uint16), (12, np.uint16), (16, np.uint16)):
        camera = _camera(bits=bits, gain=1.0 if bits == 8 else 0.25, illumination=400.0)
        frame = camera.render_next()
        assert frame.image.shape == (256, 256)
        assert frame.image.dtype == dtype
        assert int(frame.image.max()) <= 2**bits - 1
        camera.close()


def test_saturation_clips_to_the_bit_depth():
    camera = _camera(bits=10, gain=1.0, illumination=2000.0)  # 10 000 photons ≫ 1023 ADU
    image = camera.render_next().image
    assert image.max() == 1023
    camera.close()


def _residuals(camera, frame, bead, dx=0.0):
    """(image − model) / σ in a 61×61 ROI around ``bead``, the model shifted by ``dx`` px."""
    truth = camera.truth_for(frame.number)
    x, y = truth.x_px[bead], truth.y_px[bead]
    cx, cy = round(x), round(y)
    roi = frame.image[cy - 30 : cy + 31, cx - 30 : cx + 31].astype(np.float64)
    background = camera.get_setting("illumination") * camera.get_setting("exposure")
    photons = expected_roi(
        (61, 61), x - cx + 30 + dx, y - cy + 30, truth.z_rel_nm[bead], background, camera.optics
    )
    gain, offset = camera.get_setting("gain"), camera.get_setting("offset")
    sigma = gain * np.sqrt(photons + camera.get_setting("read_noise") ** 2)
    return (roi - offset - gain * photons) / sigma


def test_rendered_bead_matches_the_optics_model_at_the_true_position():
    control = LocalWorldControl()
    control.set_position("magnet_height", 2.0)
    camera = _camera(control, width=512, height=512, illumination=2000.0, read_noise=3.0)
    frame = camera.render_next()
    truth = camera.truth_for(frame.number)
    for bead in range(truth.x_px.size):
        r = _residuals(camera, frame, bead)
        assert abs(r.mean()) < 0.1, bead
        assert r.std() == pytest.approx(1.0, abs=0.1), bead  # photon + read noise, nothing else
        # the same model 1 px off does not fit: the test can fail
        assert _residuals(camera, frame, bead, dx=1.0).std() > 3.0
    camera.close()


def test_truth_follows_focus_and_magnets_from_the_control_block():
    control = LocalWorldControl()
    camera = _camera(control)
    control.set_position("magnet_height", 10.0)
    control.set_position("focus", 0.0)
    low = camera.truth_for(camera.render_next().number)
    control.set_position("magnet_height", 1.0)
    control.set_position("focus", 700.0)
    high = camera.truth_for(camera.render_next().number)
    assert np.all(high.force_pN[:3] > 10 * low.force_pN[:3])
    assert high.focus_nm == 700.0 and high.magnet_height_mm == 1.0
    np.testing.assert_allclose(high.z_rel_nm, high.z_nm - 700.0)
    assert high.is_reference.tolist() == [False, False, False, True]
    camera.close()


def test_xy_stage_shifts_every_bead_in_the_image():
    """+1 µm of stage_x / −2 µm of stage_y move the stuck bead's image by +10 / −20 px (100 nm
    pixels), and the image itself: the bead's ring is drawn where the truth says."""
    control = LocalWorldControl()
    camera = _camera(control, simulation={"drift_velocity_nm_per_s": [0.0, 0.0, 0.0]})
    first = camera.render_next()
    before = camera.truth_for(first.number)
    assert before.stage_um.tolist() == [0.0, 0.0]  # no stage motor: the field stays
    control.set_position("stage_x", 1.0)
    control.set_position("stage_y", -2.0)
    frame = camera.render_next()
    after = camera.truth_for(frame.number)
    assert after.stage_um.tolist() == [1.0, -2.0]
    ref = 3  # the stuck bead: the stage moves it (and the random drift, by < 1 nm)
    assert after.x_px[ref] - before.x_px[ref] == pytest.approx(10.0, abs=0.01)
    assert after.y_px[ref] - before.y_px[ref] == pytest.approx(-20.0, abs=0.01)

    def window(image, x, y):
        x, y = round(x), round(y)
        return image[y - 16 : y + 17, x - 16 : x + 17].astype(float).ravel()

    was = window(first.image, before.x_px[ref], before.y_px[ref])
    moved = window(frame.image, after.x_px[ref], after.y_px[ref])
    stayed = window(frame.image, before.x_px[ref], before.y_px[ref])
    assert np.corrcoef(was, moved)[0, 1] > 0.9  # the ring moved with the stage
    assert np.corrcoef(was, stayed)[0, 1] < 0.5
    camera.close()


def test_ground_truth_ring_and_json():
    camera = _camera(truth_history=4)
    frames = [camera.render_next() for _ in range(6)]
    assert [f.number for f in frames] == list(range(6))
    assert camera.truth_for(0) is None and camera.truth_for(1) is None
    assert camera.truth_for(5) is camera.latest_truth()
    data = json.loads(json.dumps(camera.truth_dict()))
    assert data["number"] == 5 and len(data["x_px"]) == 4
    assert set(camera.bead_layout()) >= {"anchor_x_px", "is_reference"}
    camera.close()


def test_same_seed_same_frames():
    a, b = _camera(seed=7), _camera(seed=7)
    for _ in range(3):
        np.testing.assert_array_equal(a.render_next().image, b.render_next().image)
    c = _camera(seed=8)
    assert not np.array_equal(a.render_next().image, c.render_next().image)
    for cam in (a, b, c):
        cam.close()


def test_read_frame_paces_to_the_frame_rate():
    camera = _camera(frame_rate=0.5, exposure=1.0)  # one frame every 2 s
    with pytest.raises(HardwareError):
        camera.read_frame(0.1)
    camera.start()
    first = camera.read_frame(5.0)  # ready 1 ms after start
    assert first is not None and first.number == 0
    assert camera.read_frame(0.01) is None  # the next one is 2 s away
    camera.stop()
    camera.close()


def test_frame_timestamps_follow_the_schedule():
    camera = _camera(frame_rate=200.0, exposure=2.0)
    frames = [camera.render_next() for _ in range(5)]
    stamps = np.array([f.timestamp for f in frames])
    np.testing.assert_allclose(np.diff(stamps), 1 / 200.0, atol=1e-6)  # epoch-sized floats
    camera.close()


def test_settings_validated_and_size_only_while_stopped():
    camera = _camera()
    camera.start()
    with pytest.raises(SettingError, match="stop the camera"):
        camera.set_setting("width", 128)
    with pytest.raises(SettingError):
        camera.set_setting("exposure", 1e6)
    camera.stop()
    camera.set_setting("width", 128)
    camera.set_setting("bits", 8)
    frame = camera.render_next()
    assert frame.image.shape == (256, 128) and frame.image.dtype == np.uint8
    assert camera.width == 128 and camera.bits == 8
    camera.set_setting("frame_rate", 500.0)  # exposure is clamped to the frame period
    assert camera.get_setting("exposure") <= 2.0
    camera.close()
