"""Force-versus-magnet-height curve: fit, uncertainty, inverse, ramps, HDF5 round trip."""

from __future__ import annotations

import warnings

import h5py
import numpy as np
import pytest

from magscope_app.analysis.force_curve import (
    fit_force_curve,
    load_force_curve,
    save_force_curve,
)

HEIGHTS = np.linspace(0.5, 6.0, 8)


def true_force(h):
    """Not the simulator's law (a single exponential): two decay lengths."""
    return 60.0 * np.exp(-h / 0.6) + 20.0 * np.exp(-h / 2.0)


def noisy_curve(rng, relative=0.03, **kw):
    forces = true_force(HEIGHTS)
    errors = relative * forces
    return fit_force_curve(
        HEIGHTS, forces + errors * rng.standard_normal(forces.size), errors, **kw
    )


def test_double_exponential_recovers_the_force_and_its_error_covers_it():
    rng = np.random.default_rng(1)
    grid = np.linspace(0.5, 6.0, 23)
    inside = []
    for _ in range(60):
        curve = noisy_curve(rng)
        predicted, sigma = curve.force(grid), curve.force_error(grid)
        np.testing.assert_allclose(predicted, true_force(grid), rtol=0.1)  # 3 % noise per point
        assert np.all(np.abs(predicted - true_force(grid)) < 4 * sigma)
        assert np.all(sigma > 0) and np.all(sigma < 0.05 * predicted)
        inside.append(np.abs(predicted - true_force(grid)) <= sigma)
    assert 0.55 < np.mean(inside) < 0.85  # 1σ bands: ~68 %
    assert curve.params[1] == pytest.approx(0.6, rel=0.3)
    assert curve.params[3] == pytest.approx(2.0, rel=0.3)


def test_single_exponential_data_single_and_double_fits():
    forces = 40.0 * np.exp(-HEIGHTS / 1.0)
    one = fit_force_curve(HEIGHTS, forces * (1 + 0.01 * np.sin(7 * HEIGHTS)), terms=1)
    assert one.params[0] == pytest.approx(40.0, rel=0.03)
    assert one.params[1] == pytest.approx(1.0, rel=0.02)
    assert one.params[2] == 0.0
    two = fit_force_curve(HEIGHTS, forces, 0.02 * forces)  # degenerate d1 = d2: still a good curve
    np.testing.assert_allclose(two.force(HEIGHTS), forces, rtol=1e-3)
    assert np.all(np.isfinite(two.force_error(HEIGHTS)))
    with_offset = fit_force_curve(HEIGHTS, forces + 0.5, 0.02 * forces, terms=1, offset=True)
    assert with_offset.params[4] == pytest.approx(0.5, abs=0.1)


def test_inverse_gives_the_height_and_refuses_forces_outside_the_range():
    curve = noisy_curve(np.random.default_rng(2))
    heights = np.linspace(0.5, 6.0, 12)
    np.testing.assert_allclose(curve.height_for(curve.force(heights)), heights, atol=1e-9)
    low, high = curve.force_range_pN
    assert low == pytest.approx(float(curve.force(6.0))) and high == pytest.approx(
        float(curve.force(0.5))
    )
    assert float(curve.height_for(5.0)) == pytest.approx(
        float(curve.height_for(np.array([5.0]))[0])
    )
    with pytest.raises(ValueError, match=r"force 500 pN is outside the calibrated range"):
        curve.height_for(500.0)
    with pytest.raises(ValueError, match="outside"):
        curve.height_for(np.array([5.0, low / 2]))


def test_constant_rate_ramp_up_and_down():
    curve = noisy_curve(np.random.default_rng(3))
    times, heights, forces = curve.ramp(1.0, 11.0, 0.5, step_s=0.2)
    assert times[-1] == pytest.approx(20.0) and forces[-1] == 11.0
    np.testing.assert_allclose(np.diff(forces) / np.diff(times), 0.5)
    np.testing.assert_allclose(curve.force(heights), forces, rtol=1e-9)
    assert np.all(np.diff(heights) < 0)  # the magnets come down to pull harder
    times, heights, forces = curve.ramp(11.0, 1.0, 2.0, step_s=1.0)
    assert forces[0] == 11.0 and forces[-1] == 1.0 and np.all(np.diff(heights) > 0)
    with pytest.raises(ValueError, match="outside"):
        curve.ramp(1.0, 1000.0, 1.0)
    with pytest.raises(ValueError, match="rate"):
        curve.ramp(1.0, 2.0, 0.0)


def test_save_and_load_round_trip_next_to_the_luts(tmp_path):
    curve = noisy_curve(np.random.default_rng(4))
    path = tmp_path / "luts.h5"
    with h5py.File(path, "w") as f:
        f.create_group("zlut")
        save_force_curve(f.create_group("force_curve"), curve)
        save_force_curve(f["force_curve"], curve)  # overwriting is fine
    with h5py.File(path, "r") as f:
        loaded = load_force_curve(f["force_curve"])
        with pytest.raises(ValueError, match="holds no force curve"):
            load_force_curve(f["zlut"])
    np.testing.assert_array_equal(loaded.params, curve.params)
    np.testing.assert_array_equal(loaded.covariance, curve.covariance)
    np.testing.assert_array_equal(loaded.forces_pN, curve.forces_pN)
    assert loaded.height_range_mm == curve.height_range_mm
    assert float(loaded.height_for(3.0)) == pytest.approx(float(curve.height_for(3.0)))


def test_bad_input_is_named():
    with pytest.raises(ValueError, match="too few"):
        fit_force_curve(HEIGHTS[:4], true_force(HEIGHTS[:4]))
    with pytest.raises(ValueError, match="> 0"):
        fit_force_curve(HEIGHTS, -true_force(HEIGHTS))
    with pytest.raises(ValueError, match="same length"):
        fit_force_curve(HEIGHTS, true_force(HEIGHTS)[:3])
    with pytest.raises(ValueError, match="terms"):
        fit_force_curve(HEIGHTS, true_force(HEIGHTS), terms=3)


def test_two_terms_on_one_exponential_fall_back_to_one():
    """Points one exponential describes drive a second term to a degenerate decay (→ 0) with an
    overflowing amplitude; the fit returns the single exponential instead, finite everywhere."""
    rng = np.random.default_rng(4)
    heights = np.linspace(3.2, 4.6, 5)
    forces = 38.0 * np.exp(-heights / 1.0) * (1 + 0.05 * rng.standard_normal(5))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        curve = fit_force_curve(heights, forces, 0.05 * forces, terms=2)
        force = curve.force(np.linspace(3.2, 4.6, 50))
    assert curve.params[2] == 0.0  # a2: one term
    assert np.all(np.isfinite(force)) and np.all(np.isfinite(curve.covariance))
    assert curve.force(4.0) == pytest.approx(38.0 * np.exp(-4.0), rel=0.1)
