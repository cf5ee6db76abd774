"""Physics of the simulated world: force, worm-like chain, twist, Brownian motion, drift."""

from __future__ import annotations

import numpy as np
import pytest
from magscope_app.hardware.simulated import physics
from magscope_app.hardware.simulated.world import World, WorldParams, simulation_params

KT = physics.thermal_energy(296.15)


def test_force_decreases_with_magnet_height():
    heights = np.linspace(0.3, 20.0, 50)
    force = physics.magnet_force(heights, 40.0, 1.0)
    assert np.all(np.diff(force) < 0)
    assert force[0] == pytest.approx(40.0 * np.exp(-0.3))


def test_wlc_extension_is_monotonic_and_inverts_the_force():
    forces = np.geomspace(0.005, 80.0, 400)
    extension = physics.wlc_extension(forces, 1000.0, 50.0, KT)
    assert np.all(np.diff(extension) > 0)
    assert np.all((extension > 0) & (extension < 1000.0))
    np.testing.assert_allclose(physics.wlc_force(extension, 1000.0, 50.0, KT), forces, rtol=1e-9)


def test_wlc_matches_marko_siggia_limits():
    # low force: entropic spring F = 3kT/(2 Lp Lc) * l; high force: 1 - l/Lc = sqrt(kT/(4 F Lp))
    low = physics.wlc_extension(1e-4, 1000.0, 50.0, KT)
    assert low == pytest.approx(1e-4 * 2 * 50.0 * 1000.0 / (3 * KT), rel=1e-2)
    high = physics.wlc_extension(50.0, 1000.0, 50.0, KT)
    assert 1 - high / 1000.0 == pytest.approx(np.sqrt(KT / (4 * 50.0 * 50.0)), rel=0.05)


def test_wlc_stiffness_is_the_slope_of_the_force():
    ext = np.array([200.0, 600.0, 900.0])
    h = 1e-3
    slope = (
        physics.wlc_force(ext + h, 1000.0, 50.0, KT) - physics.wlc_force(ext - h, 1000.0, 50.0, KT)
    ) / (2 * h)
    np.testing.assert_allclose(physics.wlc_stiffness(ext, 1000.0, 50.0, KT), slope, rtol=1e-5)


def _hat(force: float, turns: np.ndarray, free=None) -> np.ndarray:
    f = np.full(turns.shape, force)
    l0 = physics.wlc_extension(f, 1000.0, 50.0, KT)
    return physics.supercoiled_extension(
        l0,
        f,
        turns,
        np.full(turns.shape, 1000.0),
        50.0,
        100.0,
        KT,
        0.5,
        None if free is None else np.full(turns.shape, free),
    )


def test_extension_drops_past_buckling_symmetrically_at_low_force():
    turns = np.linspace(-30, 30, 121)
    ext = _hat(0.3, turns)
    assert ext[60] == pytest.approx(physics.wlc_extension(0.3, 1000.0, 50.0, KT))
    assert ext[-1] < 0.5 * ext[60]  # far past buckling
    np.testing.assert_allclose(ext, ext[::-1], rtol=1e-12)
    # flat plateau around 0, then monotonic decrease
    assert ext[61] == pytest.approx(ext[60], rel=1e-3)
    assert np.all(np.diff(ext[60:]) <= 1e-12)


def test_negative_turns_melt_instead_of_buckling_at_high_force():
    turns = np.array([-20.0, 0.0, 20.0])
    ext = _hat(2.0, turns)
    assert ext[0] == pytest.approx(ext[1])
    assert ext[2] < ext[1] - 100.0


def test_nicked_tether_ignores_twist():
    turns = np.array([0.0, 40.0])
    ext = _hat(0.3, turns, free=True)
    assert ext[0] == ext[1]


def _world(seed=3, **kw) -> World:
    params = WorldParams(n_beads=8, n_reference_beads=2, seed=seed, **kw)
    return World(params, (51200.0, 51200.0), 100.0, np.random.default_rng(seed))


def test_brownian_variance_matches_equipartition():
    world = _world(
        drift_velocity_nm_per_s=(0.0, 0.0, 0.0),
        drift_diffusion_nm2_per_s=0.0,
        force_spread=0.0,
        contour_length_spread=0.0,
    )
    height = 4.0  # mm → ~0.7 pN: tau ~ 20 ms for x, y
    _, _, k_xy, _ = world.tether_state(height, 0.0)
    # frames far apart (independent samples), very short exposure (no blur)
    samples = np.array([world.step(t, 1e-7, height, 0.0).y_nm[:8] for t in np.arange(3000) * 1.0])
    var_x = samples.var(axis=0, ddof=1)
    ratio = var_x / (KT / k_xy)
    # 8 beads x 3000 samples: the pooled ratio has a standard error of ~0.9 %
    assert ratio.mean() == pytest.approx(1.0, abs=0.05)
    assert np.all(np.abs(ratio - 1.0) < 0.15)


def test_axial_variance_matches_wlc_slope_and_exposure_blur_reduces_it():
    world = _world(
        drift_velocity_nm_per_s=(0.0, 0.0, 0.0),
        drift_diffusion_nm2_per_s=0.0,
        force_spread=0.0,
        contour_length_spread=0.0,
    )
    height = 4.0
    _, _, _, k_z = world.tether_state(height, 0.0)
    z = np.array([world.step(t, 1e-7, height, 0.0).z_nm[:8] for t in np.arange(3000) * 1.0])
    assert (z.var(axis=0, ddof=1) / (KT / k_z)).mean() == pytest.approx(1.0, abs=0.05)
    # a long exposure averages the motion: variance shrinks by 2(α−1+e^−α)/α²
    _, variance, tau, _, _ = world._ou_parameters(height, 0.0)
    exposure = 0.02
    blurred = np.array(
        [world.step(3000.0 + t, exposure, height, 0.0).x_nm[:8] for t in np.arange(3000) * 1.0]
    )
    expected = variance[0] * physics.exposure_variance_factor(exposure, tau[0])
    assert expected.mean() < 0.8 * variance[0].mean()
    assert (blurred.var(axis=0, ddof=1) / expected).mean() == pytest.approx(1.0, abs=0.06)


def test_ou_exposure_step_has_the_exact_stationary_statistics():
    rng = np.random.default_rng(0)
    n = 200_000
    x0 = rng.standard_normal(n) * 3.0  # stationary start, variance 9
    end, mean = physics.ou_exposure_step(
        x0, np.zeros(n), np.full(n, 9.0), np.full(n, 0.5), 1.0, rng
    )
    assert end.var() == pytest.approx(9.0, rel=0.02)  # stationarity preserved
    assert mean.var() == pytest.approx(9.0 * physics.exposure_variance_factor(1.0, 0.5), rel=0.02)


def test_reference_beads_only_drift_and_world_is_reproducible():
    a, b = _world(seed=5), _world(seed=5)
    for t in np.arange(20) * 0.01:
        sa, sb = a.step(t, 0.005, 3.0, 0.0), b.step(t, 0.005, 3.0, 0.0)
        np.testing.assert_array_equal(sa.x_nm, sb.x_nm)
        np.testing.assert_array_equal(sa.z_nm, sb.z_nm)
    ref = sa.z_nm[8:]
    assert np.all(ref == ref[0])
    assert ref[0] == pytest.approx(500.0 + sa.drift_nm[2])
    assert np.all(sa.force_pN[:8] > 0) and np.all(sa.force_pN[8:] == 0)


def test_drift_moves_the_whole_sample():
    world = _world(drift_velocity_nm_per_s=(10.0, -5.0, 2.0), drift_diffusion_nm2_per_s=0.0)
    first = world.step(0.0, 0.001, 3.0, 0.0)
    later = world.step(100.0, 0.001, 3.0, 0.0)
    np.testing.assert_allclose(later.drift_nm - first.drift_nm, [1000.0, -500.0, 200.0])
    np.testing.assert_allclose(later.x_nm[8:] - first.x_nm[8:], 1000.0)


def test_twist_lowers_the_beads():
    world = _world(drift_velocity_nm_per_s=(0.0, 0.0, 0.0), drift_diffusion_nm2_per_s=0.0)
    _, relaxed, _, _ = world.tether_state(5.0, 0.0)
    _, twisted, _, _ = world.tether_state(5.0, 25.0)
    assert np.all(twisted < relaxed - 200.0)


def test_simulation_params_reject_unknown_keys():
    with pytest.raises(ValueError, match="no_such_key"):
        simulation_params({"no_such_key": 1})
    world, optics = simulation_params({"n_beads": 3, "pixel_size_nm": 80.0})
    assert world.n_beads == 3 and optics.pixel_size_nm == 80.0
