"""Force calibration against the simulated world's ground truth, and its focus drift."""

from __future__ import annotations

import numpy as np
import pytest
from magscope_app.hardware.simulated.world import World, WorldParams

from magscope_app.analysis import force as fo


def _world(**kw) -> World:
    params = WorldParams(
        n_beads=3,
        n_reference_beads=2,
        seed=4,
        drift_velocity_nm_per_s=(0.0, 0.0, 0.0),
        drift_diffusion_nm2_per_s=0.0,
        **kw,
    )
    return World(params, (51200.0, 51200.0), 100.0, np.random.default_rng(4))


@pytest.mark.parametrize(
    ("height_mm", "contour_nm", "rate", "exposure", "n_frames"),
    [
        (6.0, 600.0, 100.0, 0.005, 20_000),  # ~0.1 pN
        (2.5, 2000.0, 100.0, 0.005, 12_000),  # ~3 pN
        (0.7, 2000.0, 400.0, 0.0025, 12_000),  # ~20 pN
    ],
)
def test_world_beads_calibrate_to_their_true_force_in_both_pendulum_geometries(
    height_mm, contour_nm, rate, exposure, n_frames
):
    """x is along the field (short pendulum), y across it (long pendulum, arm L + R)."""
    world = _world(contour_length_nm=contour_nm)
    samples = [world.step(i / rate, exposure, height_mm, 0.0) for i in range(n_frames)]
    x = np.array([s.x_nm[:3] for s in samples]).T
    y = np.array([s.y_nm[:3] for s in samples]).T
    truth, extension = samples[-1].force_pN[:3], samples[-1].extension_nm[:3]
    radius = world.params.bead_radius_nm
    for bead in range(3):
        args = (rate, exposure, extension[bead], radius)
        along = fo.calibrate_spectrum(x[bead], *args, "short")
        across = fo.calibrate_spectrum(y[bead], *args, "long")
        assert along.force_pN == pytest.approx(truth[bead], rel=0.10)
        assert across.force_pN == pytest.approx(truth[bead], rel=0.10)
        # x really is the short pendulum: the long-pendulum arm would be wrong by (L + R)/L
        wrong = fo.calibrate_spectrum(x[bead], *args, "long")
        assert wrong.force_pN > 1.15 * truth[bead]
        allan = fo.calibrate_allan(y[bead], *args, "long")
        assert allan.force_pN == pytest.approx(truth[bead], rel=0.10)


def test_focus_drift_moves_every_bead_relative_to_the_focus_at_the_configured_rate():
    world = _world(focus_drift_nm_per_min=50.0)
    first = world.step(0.0, 0.005, 5.0, 0.0)
    later = world.step(120.0, 0.005, 5.0, 0.0)
    assert later.drift_nm[2] - first.drift_nm[2] == pytest.approx(100.0)
    np.testing.assert_allclose(later.z_nm[3:] - first.z_nm[3:], 100.0)  # reference beads
    still = _world()
    assert still.step(120.0, 0.005, 5.0, 0.0).drift_nm[2] == 0.0
