"""Where the simulated beads sit: ROIs apart and inside the frame, deterministic, and a clear
fallback (tighter, never inside another bead's rings) or error when the frame is too small."""

from __future__ import annotations

import logging

import numpy as np
import pytest
from magscope_app.hardware import SettingError
from magscope_app.hardware.config import ConfigError, create_device, parse_config
from magscope_app.hardware.simulated import LocalWorldControl, SimulatedCamera
from magscope_app.hardware.simulated.optics import OpticsParams
from magscope_app.hardware.simulated.placement import (
    PlacementError,
    place,
    plan,
    ring_radius_px,
)
from magscope_app.hardware.simulated.world import World, WorldParams

from magscope_app.config import load_daemon_config

FLOOR = ring_radius_px(OpticsParams())


def _anchors_px(params: WorldParams, width: int, height: int, seed: int = 0) -> np.ndarray:
    world = World(params, (width * 100.0, height * 100.0), 100.0, np.random.default_rng(seed))
    return world.anchors_nm / 100.0


def _closest(xy: np.ndarray) -> float:
    """The smallest distance in x or in y (Chebyshev) between two of the points (n, 2)."""
    d = np.abs(xy[:, None, :] - xy[None, :, :]).max(axis=2)
    np.fill_diagonal(d, np.inf)
    return float(d.min())


def test_ring_radius_floor_is_where_the_rings_fade():
    assert ring_radius_px(OpticsParams()) == pytest.approx(
        38.0
    )  # 2σ of the ring envelope in focus, 100 nm pixels
    assert ring_radius_px(OpticsParams(pixel_size_nm=50.0)) == pytest.approx(76.0)


def test_small_test_microscope_keeps_every_roi_apart_and_inside():
    """256² px with 6 tethered + 1 stuck bead (tests/small_sim.toml): 70 px apart in x or y,
    40 px from the edge, stuck and tethered alike; the same seed gives the same layout."""
    params = WorldParams(n_beads=6, n_reference_beads=1, seed=1)
    xy = _anchors_px(params, 256, 256, seed=1)
    assert xy.shape == (7, 2)
    assert _closest(xy) >= 70.0
    assert xy.min() >= 40.0 and xy.max() <= 255 - 40.0
    np.testing.assert_array_equal(xy, _anchors_px(params, 256, 256, seed=1))
    assert not np.array_equal(xy, _anchors_px(params, 256, 256, seed=2))


@pytest.mark.parametrize("roi", [32, 64, 128])
def test_spacing_follows_the_roi_size(roi):
    params = WorldParams(n_beads=30, n_reference_beads=5, roi_size_px=roi)
    xy = _anchors_px(params, 1024, 1024)
    assert _closest(xy) >= roi + 6
    assert xy.min() >= roi / 2 + 8 and xy.max() <= 1023 - roi / 2 - 8


def test_every_layout_holds_its_spacing_floor_and_frame():
    """Random frames and bead counts: every pair at least the plan's spacing apart (never below
    the ring radius), inside the frame and its margin, and a tighter plan says why."""
    rng = np.random.default_rng(7)
    for _ in range(300):
        width, height = (int(v) for v in rng.integers(40, 700, 2))
        n = int(rng.integers(1, 60))
        try:
            layout = plan(n, width, height, spacing_px=70.0, floor_px=FLOOR, margin_px=40.0)
        except PlacementError:
            continue
        xy = place(layout, rng)
        assert xy.shape == (n, 2)
        if n > 1:
            assert _closest(xy) >= layout.spacing_px - 1e-9 >= FLOOR - 1e-9
        assert np.all(xy[:, 0] >= layout.margin_x) and np.all(xy[:, 1] >= layout.margin_y)
        assert np.all(xy[:, 0] <= width - 1 - layout.margin_x + 1e-9)
        assert np.all(xy[:, 1] <= height - 1 - layout.margin_y + 1e-9)
        tighter = layout.spacing_px < 70.0 or min(layout.margin_x, layout.margin_y) < 40.0
        assert bool(layout.degraded) == tighter, (width, height, n, layout)


def test_too_small_a_frame_packs_tighter_and_says_so(caplog):
    """128×256 px cannot hold 4 beads 70 px apart: they come closer (never inside each other's
    rings) and a warning names the numbers."""
    params = WorldParams(n_beads=3, n_reference_beads=1)
    with caplog.at_level(logging.WARNING, logger="magscope_app.hardware.simulated.world"):
        xy = _anchors_px(params, 128, 256)
    assert FLOOR <= _closest(xy) < 70.0
    assert "128×256 px frame cannot hold 4 beads" in caplog.text
    assert "apart, not 70" in caplog.text


def test_frame_without_room_for_the_margin_puts_beads_at_the_edge():
    xy = _anchors_px(WorldParams(n_beads=2, n_reference_beads=3), 128, 128)
    assert _closest(xy) >= FLOOR
    assert xy.min() >= 0.0 and xy.max() <= 127.0


def test_beads_that_do_not_fit_are_a_clear_error_not_fewer_beads():
    with pytest.raises(PlacementError, match=r"300 beads do not fit a 256×256 px frame at least "
                       r"38 px apart .*at most 49 do"):  # fmt: skip
        plan(300, 256, 256, spacing_px=70.0, floor_px=FLOOR, margin_px=40.0)
    with pytest.raises(ValueError, match="300 beads do not fit"):
        SimulatedCamera(width=256, height=256, n_beads=297, control=LocalWorldControl())
    config = parse_config(
        {"camera": {"driver": "simulated.camera", "width": 256, "height": 256},
         "simulation": {"n_beads": 297}}, "rig.toml",
    )  # fmt: skip
    with pytest.raises(ConfigError, match=r"^rig\.toml: camera: 300 beads do not fit"):
        create_device(config.camera, instance=None)


def test_shrinking_the_frame_below_the_beads_is_refused():
    camera = SimulatedCamera(width=512, height=512, n_beads=40, control=LocalWorldControl())
    try:
        with pytest.raises(SettingError, match="width 64: 43 beads do not fit a 64×512 px"):
            camera.set_setting("width", 64)
        assert camera.width == 512
        camera.set_setting("width", 384)  # fits: accepted
        assert camera.render_next().image.shape == (512, 384)
    finally:
        camera.close()


def test_daemon_config_places_beads_for_the_tracking_roi(tmp_path):
    path = tmp_path / "rig.toml"
    path.write_text(
        '[camera]\ndriver = "simulated.camera"\nwidth = 768\nheight = 768\n'
        "[simulation]\nn_beads = 12\nn_reference_beads = 4\n[tracking]\nroi_size = 96\n"
    )
    camera = create_device(load_daemon_config(path).camera, instance=None)
    try:
        layout = camera.bead_layout()
    finally:
        camera.close()
    xy = np.column_stack([layout["anchor_x_px"], layout["anchor_y_px"]])
    assert _closest(xy) >= 96 + 6
    assert xy.min() >= 48 + 8
    # a [simulation] roi_size_px of its own wins
    path.write_text(path.read_text().replace("[tracking]", "roi_size_px = 32\n[tracking]"))
    assert load_daemon_config(path).camera.simulation["roi_size_px"] == 32
