"""The tracking API: ZLUT validation, per-bead LUTs, flags, dtypes, the profile fast path."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from _tracking_images import CENTRE, noisy_rois, random_centres
from magscope_app.hardware.simulated.optics import expected_roi

from magscope_app.buffers.layouts import TrackFlags
from magscope_app.tracking import (
    ZLUT,
    TrackingSettings,
    ZLUTSet,
    make_zlut,
    radial_profiles,
    track_xyz,
)

SETTINGS = TrackingSettings()
Z_PLANES = np.arange(-300.0, 301.0, 50.0)


def _clean_lut(z_offset=0.0, settings=SETTINGS) -> ZLUT:
    """A LUT from noise-free images; ``z_offset`` shifts the heights it reports."""
    stacks = [expected_roi((64, 64), CENTRE, CENTRE, z, 1000.0)[None] for z in Z_PLANES]
    lut = make_zlut(Z_PLANES, stacks, settings)
    return ZLUT(lut.z_nm + z_offset, lut.profiles, settings)


@pytest.fixture(scope="module")
def lut() -> ZLUT:
    return _clean_lut()


def _reference_profile(roi, cx, cy, settings):
    """Plain numpy: least-squares linear spline in r (first-difference penalty), dense solve."""
    n, dr = settings.n_bins, settings.radial_step_px
    rows, cols = np.indices(roi.shape)
    u = np.hypot(cols - cx, rows - cy).ravel() / dr
    keep = u < n - 1
    u, values = u[keep], roi.ravel()[keep].astype(float)
    k = u.astype(int)
    f = u - k
    basis = np.zeros((u.size, n))
    basis[np.arange(u.size), k] = 1 - f
    basis[np.arange(u.size), k + 1] = f
    diff = np.diff(np.eye(n), axis=0)
    a = basis.T @ basis + settings.profile_regularization * diff.T @ diff
    return np.linalg.solve(a, basis.T @ values)


def test_profile_kernel_matches_numpy_reference():
    rng = np.random.default_rng(3)
    roi = rng.poisson(expected_roi((64, 64), 30.3, 33.7, 100.0, 1000.0))
    fast = radial_profiles(roi[None], 30.3, 33.7)[0]
    ref = _reference_profile(roi, 30.3, 33.7, SETTINGS)
    assert fast.shape == (SETTINGS.n_bins,)
    np.testing.assert_allclose(fast, ref, rtol=1e-9, atol=1e-6)
    # the profile of a clean image is the model's intensity at the node radii
    clean = expected_roi((64, 64), 30.3, 33.7, 100.0, 1000.0)
    prof = radial_profiles(clean[None], 30.3, 33.7)[0]
    model = expected_roi((1, 200), 0.0, 0.0, 100.0, 1000.0)[0]  # row 0: r = column index
    at_integer_radii = prof[:: round(1 / SETTINGS.radial_step_px)][3:30]
    np.testing.assert_allclose(at_integer_radii, model[3:30], rtol=0.03)


def test_corner_bead_profile_has_nan_outer_nodes():
    roi = expected_roi((64, 64), 5.0, 6.0, 0.0, 1000.0)
    prof = radial_profiles(roi[None], 5.0, 6.0)[0]
    assert np.isfinite(prof[:20]).all()
    assert np.isnan(prof[-10:]).all()


@pytest.mark.parametrize("dtype", [np.uint16, np.int32, np.float32, np.float64])
def test_any_integer_or_float_dtype(dtype, lut):
    rng = np.random.default_rng(4)
    xs, ys = random_centres(rng, 5)
    rois = noisy_rois(rng, xs, ys, 120.0, 1000)
    ref = track_xyz(rois.astype(np.float64), lut)
    res = track_xyz(rois.astype(dtype), lut)
    np.testing.assert_allclose(res.x, ref.x, atol=1e-9)
    np.testing.assert_allclose(res.z, ref.z, atol=1e-6)
    assert res.x.dtype == res.y.dtype == res.z.dtype == np.float64
    assert res.profiles.shape == (5, SETTINGS.n_bins)
    assert np.all(res.flags == 0) and res.ok.all()


def test_without_lut_z_is_nan_and_flagged():
    rois = expected_roi((64, 64), 31.2, 30.9, 0.0, 1000.0)[None]
    res = track_xyz(rois)
    assert np.isnan(res.z).all()
    assert res.flags[0] == TrackFlags.Z_INVALID
    assert res.ok.all()
    assert abs(res.x[0] - 31.2) < 1e-3 and abs(res.y[0] - 30.9) < 1e-3


def test_failed_fit_is_flagged(lut):
    flat = np.full((2, 64, 64), 1000.0)
    flat[1] = np.nan
    res = track_xyz(flat, lut)
    assert not res.ok.any()
    assert np.isnan(res.x).all() and np.isnan(res.y).all() and np.isnan(res.z).all()
    assert np.all(res.flags == TrackFlags.FIT_FAILED | TrackFlags.Z_INVALID)


def test_lookup_recovers_height_and_ignores_intensity_scale(lut):
    truth = np.array([-280.0, -123.4, 0.0, 77.7, 290.0])
    rois = np.stack([expected_roi((64, 64), 31.7, 31.2, z, 1000.0) for z in truth])
    res = track_xyz(rois, lut)
    np.testing.assert_allclose(res.z, truth, atol=0.5)
    brighter = track_xyz(rois * 1.7, lut)
    np.testing.assert_allclose(brighter.z, res.z, atol=1e-3)
    # a single profile gives a scalar
    assert np.isclose(lut.lookup(res.profiles[1]), res.z[1])


def test_lookup_outside_range_is_nan(lut):
    rois = np.stack([expected_roi((64, 64), 31.5, 31.5, z, 1000.0) for z in (-500.0, 500.0)])
    res = track_xyz(rois, lut)
    assert np.isnan(res.z).all()
    assert np.all(res.flags == TrackFlags.Z_INVALID)


def test_per_bead_luts_through_zlutset_and_mapping(lut):
    shifted = _clean_lut(z_offset=1000.0)
    rois = np.stack([expected_roi((64, 64), 31.5, 31.5, 100.0, 1000.0)] * 3)
    res = track_xyz(rois, ZLUTSet({7: shifted}, default=lut), bead_ids=[3, 7, 9])
    np.testing.assert_allclose(res.z, [100.0, 1100.0, 100.0], atol=0.5)
    res = track_xyz(rois, {7: shifted}, bead_ids=[3, 7, 9])  # no default: others get NaN
    assert np.isnan(res.z[[0, 2]]).all() and abs(res.z[1] - 1100.0) < 0.5
    assert res.flags.tolist() == [TrackFlags.Z_INVALID, 0, TrackFlags.Z_INVALID]
    with pytest.raises(ValueError, match="bead_ids"):
        track_xyz(rois, {7: shifted}, bead_ids=[1, 2])


def test_lut_is_only_valid_with_its_settings(lut):
    other = TrackingSettings(radial_step_px=0.5)
    rois = expected_roi((64, 64), 31.5, 31.5, 0.0, 1000.0)[None]
    with pytest.raises(ValueError, match="settings"):
        track_xyz(rois, lut, settings=other)
    with pytest.raises(ValueError, match="same profile settings"):
        ZLUTSet({1: lut}, default=_clean_lut(settings=other))
    assert lut.settings == SETTINGS
    # the xy-fit settings do not change the profiles: the LUT stays valid with other values
    xy_only = replace(SETTINGS, xy_iterations=2, xy_tolerance_px=1e-3, guess_tolerance_px=0.3)
    result = track_xyz(rois, lut, settings=xy_only)
    assert result.ok.all() and abs(result.z[0]) < 5.0


def test_zlut_validation():
    n = SETTINGS.n_bins
    good = np.ones((5, n))
    z = np.arange(5) * 50.0
    with pytest.raises(ValueError, match="planes"):
        ZLUT(z[:4], good)
    with pytest.raises(ValueError, match="at least 3"):
        ZLUT(z[:2], good[:2])
    with pytest.raises(ValueError, match="monotonic"):
        ZLUT(np.array([0.0, 50.0, 50.0, 100.0, 150.0]), good)
    bad = good.copy()
    bad[2, 4] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        ZLUT(z, bad)
    with pytest.raises(ValueError, match="bins"):
        ZLUT(z, np.ones((5, n + 1)))
    with pytest.raises(ValueError, match="1-D"):
        ZLUT(z[:, None], good)
    # decreasing heights are accepted and sorted
    lut = ZLUT(z[::-1], good)
    assert lut.z_range == (0.0, 200.0)


def test_settings_validation():
    with pytest.raises(ValueError):
        TrackingSettings(radial_step_px=0)
    with pytest.raises(ValueError):
        TrackingSettings(radial_max_px=0.5)
    with pytest.raises(ValueError):
        TrackingSettings(xy_iterations=0)
    with pytest.raises(ValueError, match="guess_tolerance_px"):
        TrackingSettings(guess_tolerance_px=0)
    with pytest.raises(ValueError, match="xy_tolerance_sigma"):
        TrackingSettings(xy_tolerance_sigma=-1)
    s = TrackingSettings()
    assert s.n_bins == len(s.radii_px) and s.radii_px[-1] == pytest.approx(s.radial_max_px)


def test_rois_shape_is_checked():
    with pytest.raises(ValueError, match="shape"):
        track_xyz(np.zeros((2, 3, 64, 64)))


def test_xy0_warm_start_matches_first_guess(lut):
    rng = np.random.default_rng(11)
    xs, ys = random_centres(rng, 8, spread=2.0)
    rois = noisy_rois(rng, xs, ys, 50.0, 1000)
    cold = track_xyz(rois, lut)
    xy0 = np.stack([xs + 0.3, ys - 0.2], axis=1)
    xy0[2] = np.nan  # falls back to the first guess
    xy0[3] = (-5.0, 10.0)  # outside the ROI: first guess too
    warm = track_xyz(rois, lut, xy0=xy0)
    assert warm.ok.all()
    # both stop within the tolerance of the same fixed point
    np.testing.assert_allclose(warm.x, cold.x, atol=2e-3)
    np.testing.assert_allclose(warm.y, cold.y, atol=2e-3)
    np.testing.assert_allclose(warm.z, cold.z, atol=2.0)
    with pytest.raises(ValueError, match="xy0"):
        track_xyz(rois, lut, xy0=xy0[:3])
