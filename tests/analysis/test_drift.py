"""Drift from reference beads: robust mean, a bad reference bead rejected and reported."""

from __future__ import annotations

import numpy as np
import pytest
from magscope_app.hardware.simulated.world import World, WorldParams

from magscope_app.analysis.drift import reference_drift


def synthetic(rng, n_frames=2000, n_beads=5, noise=2.0, axes=3):
    t = np.arange(n_frames)
    drift = np.stack(
        [0.05 * t, -0.03 * t + 20 * np.sin(t / 300), 10 * np.cos(t / 500) - 10][:axes], axis=-1
    )
    anchors = rng.uniform(0, 50_000, (n_beads, axes))
    positions = anchors + drift[:, None] + noise * rng.standard_normal((n_frames, n_beads, axes))
    return positions, drift


def test_one_bad_reference_bead_is_rejected_and_the_drift_recovered():
    rng = np.random.default_rng(1)
    positions, drift = synthetic(rng)
    # bead 3 comes loose at frame 800 and wanders off (0.2 nm per frame and a random walk)
    positions[800:, 3] += np.cumsum(0.2 + rng.standard_normal((1200, 3)), axis=0)
    estimate = reference_drift(positions, bead_ids=[10, 11, 12, 13, 14])
    assert estimate.rejected == (13,) and estimate.used == (10, 11, 12, 14)
    assert estimate.scatter_nm[3] > 5 * np.median(estimate.scatter_nm)
    error = estimate.correction_nm - (drift - drift[:10].mean(axis=0))
    assert np.sqrt(np.mean(error**2)) < 2.0  # 2 nm noise averaged over 4 beads: ~1 nm
    # without the rejection the mean would follow the loose bead
    naive = np.mean(positions - np.median(positions[:10], axis=0), axis=1)
    assert np.sqrt(np.mean((naive - drift) ** 2)) > 5 * np.sqrt(np.mean(error**2))
    corrected = estimate.apply(positions)
    assert np.std(corrected[:, 0, 0]) < 4.0 and np.std(positions[:, 0, 0]) > 20.0


def test_good_beads_are_all_used_and_lost_frames_are_tolerated():
    rng = np.random.default_rng(2)
    positions, drift = synthetic(rng, axes=2)
    positions[100:400, 1] = np.nan  # the tracker lost bead 1 for a while
    positions[:, 4] = np.nan  # bead 4 never tracked
    estimate = reference_drift(positions)
    assert estimate.used == (0, 1, 2, 3) and estimate.rejected == (4,)
    assert estimate.correction_nm.shape == (2000, 2) and np.all(np.isfinite(estimate.correction_nm))
    error = estimate.correction_nm - (drift - drift[:10].mean(axis=0))
    assert np.sqrt(np.mean(error**2)) < 2.0


def test_two_dimensional_input_and_too_few_beads_to_judge():
    rng = np.random.default_rng(3)
    positions, _ = synthetic(rng, n_beads=2, axes=1)
    positions[:, 1, 0] += np.linspace(0, 300, 2000)  # bad, but two beads cannot tell which
    estimate = reference_drift(positions[:, :, 0])
    assert estimate.correction_nm.shape == (2000,)
    assert estimate.used == (0, 1) and estimate.rejected == ()


def test_simulated_world_reference_beads_give_its_drift():
    params = WorldParams(
        n_beads=4, n_reference_beads=4, seed=6, drift_velocity_nm_per_s=(3.0, -2.0, 1.0)
    )
    world = World(params, (51200.0, 51200.0), 100.0, np.random.default_rng(6))
    samples = [world.step(i * 0.1, 0.005, 3.0, 0.0) for i in range(600)]
    rng = np.random.default_rng(7)
    xyz = np.stack([[s.x_nm, s.y_nm, s.z_nm] for s in samples]).transpose(0, 2, 1)
    xyz = xyz + 1.5 * rng.standard_normal(xyz.shape)  # tracking noise
    truth = np.array([s.drift_nm for s in samples])
    estimate = reference_drift(xyz[:, 4:], bead_ids=range(4, 8))
    assert estimate.used == (4, 5, 6, 7)
    error = estimate.correction_nm - (truth - truth[:10].mean(axis=0))
    assert np.sqrt(np.mean(error**2)) < 1.5
    tethered = estimate.apply(xyz[:, :4])
    slope = np.polyfit(np.arange(600) * 0.1, tethered[:, 0, 0], 1)[0]
    assert abs(slope) < 0.5  # the 3 nm/s drift is gone


@pytest.mark.parametrize(
    ("positions", "kw", "message"),
    [
        (np.zeros(10), {}, "n_frames, n_beads"),
        (np.zeros((10, 3)), {"bead_ids": [1, 2]}, "bead ids"),
        (np.full((10, 3), np.nan), {}, "no reference bead"),
        (np.zeros((10, 3)), {"threshold": 0.5}, "threshold"),
    ],
)
def test_bad_input_is_named(positions, kw, message):
    with pytest.raises(ValueError, match=message):
        reference_drift(positions, **kw)
