"""Tracking service pieces without a daemon: [tracking] config, ROI cropping, latency summary."""

from __future__ import annotations

import numpy as np
import pytest

from magscope_app.buffers.layouts import TrackFlags
from magscope_app.config import ConfigError
from magscope_app.services.tracking import latency_summary
from magscope_app.tracking_config import TrackingConfig
from magscope_app.workers._crop import RoiCropper
from magscope_app.workers.tracking import LATENCY_EDGES_S


def test_tracking_config_defaults_and_pixel_size_sources():
    default = TrackingConfig.from_table({}, "f.toml")
    assert (default.workers, default.roi_size, default.pixel_size_source) == (2, 64, "default")
    sim = TrackingConfig.from_table({}, "f.toml", {"pixel_size_nm": 80.0})
    assert (sim.pixel_size_nm, sim.pixel_size_source) == (80.0, "simulation")
    own = TrackingConfig.from_table(
        {"pixel_size_nm": 65, "workers": 3, "roi_size": 32, "radial_max_px": 16.0},
        "f.toml",
        {"pixel_size_nm": 80.0},
    )
    assert (own.pixel_size_nm, own.pixel_size_source, own.workers) == (65.0, "tracking", 3)
    assert own.settings.radial_max_px == 16.0


@pytest.mark.parametrize(
    ("table", "key"),
    [
        ({"workers": -1}, "tracking.workers"),
        ({"workers": 1.5}, "tracking.workers"),
        ({"roi_size": 17}, "tracking.roi_size"),
        ({"roi_size": 512}, "tracking.roi_size"),
        ({"pixel_size_nm": 0}, "tracking.pixel_size_nm"),
        ({"xy_iterations": "many"}, "tracking.xy_iterations"),
        ({"radial_step_px": -1.0}, "tracking"),
        ({"colour": "red"}, "tracking"),
    ],
)
def test_tracking_config_errors_name_the_key(table, key):
    with pytest.raises(ConfigError) as info:
        TrackingConfig.from_table(table, "f.toml")
    assert str(info.value).startswith(f"f.toml: {key}:")


def test_cropper_pads_edge_rois_with_the_frame_median():
    frame = np.arange(100 * 120, dtype=np.uint16).reshape(100, 120)
    cropper = RoiCropper(100, 120, 16)
    # inside; clipped at the left (intended x0 = -6); touching the bottom edge
    rois = np.array([[50, 66, 40, 56], [0, 10, 20, 36], [30, 46, 84, 100]])
    cropper.set_rois(np.array([3, 4, 9]), rois)
    crops = cropper.crop(frame)
    assert crops.shape == (3, 16, 16)
    np.testing.assert_array_equal(crops[0], frame[40:56, 50:66])
    np.testing.assert_array_equal(crops[1][:, 6:], frame[20:36, 0:10])
    assert np.all(crops[1][:, :6] == np.median(frame[::8, ::8]))
    np.testing.assert_array_equal(crops[2], frame[84:100, 30:46])
    assert cropper.origin_x.tolist() == [50, -6, 30]
    at_edge = int(TrackFlags.AT_EDGE)
    assert cropper.edge_flags.tolist() == [0, at_edge, at_edge]


def test_latency_summary_reads_the_histogram():
    hist = np.zeros(len(LATENCY_EDGES_S) + 1, dtype=np.int64)
    assert latency_summary(hist)["median"] is None
    hist[np.searchsorted(LATENCY_EDGES_S, 0.010)] = 99
    hist[np.searchsorted(LATENCY_EDGES_S, 0.500)] = 1
    summary = latency_summary(hist)
    assert summary["samples"] == 100
    assert 9.0 < summary["median"] < 11.0
    assert 9.0 < summary["p99"] < 11.0
