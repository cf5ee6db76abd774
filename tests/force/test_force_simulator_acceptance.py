"""Issue 13 §3 acceptance on the simulated microscope's own bead dynamics (no images).

The simulated world (:class:`~magscope_app.hardware.simulated.world.World`, what the simulated
camera renders) is stepped frame by frame at a camera's frame rate and exposure: each frame is the
bead's position averaged over the exposure (blur), sampled at the frame rate (aliasing). The
sample drifts (the world's default drift: constant velocity plus a random walk) and beads differ
(force and contour length spread). Positions are drift corrected with the reference beads, the
extension is the beads' mean height over the references', and each tethered bead is calibrated
by the daemon's own per-bead code (both lateral axes, blurred and aliased spectrum). Forces span
0.1–20 pN; each magnet height has a frame rate that resolves its corner frequency and enough
frames for the slow beads at 0.1 pN (the world steps ~40 µs a frame for all beads at once).
The issue's "1σ covers the error in ≥ 2/3 of beads" is counted over all 200 calibrations: an
honest 1σ covers 68.3 %, give or take 3.3 % (one binomial standard error) for 200 values, so the
test asks the count to be at least 2/3 within two standard errors (a literal ≥ 2/3 would fail an
honest 1σ a third of the time), and the errors' RMS in σ to lie within 0.8–1.25 (an error that
is too generous or too small shows there).
"""

from __future__ import annotations

import numpy as np
from magscope_app.hardware.simulated.world import World, WorldParams

from magscope_app.services import _force_traces as traces

N_TETHERED, N_REFERENCE = 40, 3
#: (magnet height mm, frame rate Hz, exposure s, frames): ~0.1, 0.5, 2, 8 and 20 pN.
HEIGHTS = [
    (6.0, 10.0, 0.005, 12_000),  # 20 min at 0.1 pN: fc ≈ 1–2 Hz
    (4.4, 40.0, 0.005, 12_000),
    (3.0, 100.0, 0.005, 10_000),
    (1.6, 200.0, 0.0025, 10_000),
    (0.7, 400.0, 0.0025, 10_000),  # fc ≈ 200–300 Hz
]


def _calibrate_world(world: World, height_mm, rate, exposure, n_frames, t0):
    """Each tethered bead's calibration dict and its true force at one magnet height."""
    samples = [world.step(t0 + i / rate, exposure, height_mm, 0.0) for i in range(n_frames)]
    xyz = np.stack([np.array([s.x_nm, s.y_nm, s.z_nm]) for s in samples])  # (frames, 3, beads)
    refs = world.is_reference
    corrected = xyz[:, :, ~refs] - xyz[:, :, refs].mean(axis=2, keepdims=True)
    # a bead on the surface is as high as the references (both centres one radius above it)
    surface = 0.0
    frames = np.arange(n_frames)
    options = {"surface_z_nm": surface, "axis": "xy", "method": "spectrum", "drag": "free",
               "bead_radius_nm": world.params.bead_radius_nm, "kt_pN_nm": world.kt,
               "viscosity_pN_s_per_nm2": world.params.viscosity_pN_s_per_nm2}  # fmt: skip
    results = []
    for bead in range(N_TETHERED):
        trace = {"frame": frames, "time": t0 + frames / rate, "missing": np.array(0),
                 "x": corrected[:, 0, bead], "y": corrected[:, 1, bead],
                 "z": corrected[:, 2, bead]}  # fmt: skip
        results.append(traces.calibrate_bead(trace, exposure_s=exposure, **options))
    return results, samples[-1].force_pN[:N_TETHERED], t0 + n_frames / rate


def test_calibrated_forces_match_the_simulators_true_force_from_0p1_to_20_pN():
    params = WorldParams(n_beads=N_TETHERED, n_reference_beads=N_REFERENCE, seed=13)
    world = World(params, (102_400.0, 102_400.0), 100.0, np.random.default_rng(13))
    assert params.drift_velocity_nm_per_s != (0.0, 0.0, 0.0) and params.force_spread > 0
    t = 0.0
    ratios, pulls, true_forces = [], [], []
    for height, rate, exposure, n_frames in HEIGHTS:
        results, truth, t = _calibrate_world(world, height, rate, exposure, n_frames, t)
        for result, force in zip(results, truth, strict=True):
            assert result["flag"] is None or "corner" in result["flag"], (height, result)
            ratios.append(result["force_pN"] / force)
            pulls.append((result["force_pN"] - force) / result["force_error_pN"])
            true_forces.append(force)
    ratios, pulls, true_forces = np.array(ratios), np.array(pulls), np.array(true_forces)
    assert true_forces.min() < 0.12 and true_forces.max() > 18.0  # the range of the issue
    assert np.all(np.abs(ratios - 1.0) < 0.10), ratios.reshape(len(HEIGHTS), -1).round(3)
    covered = np.mean(np.abs(pulls) <= 1.0)
    standard_error = np.sqrt(2 / 3 * 1 / 3 / pulls.size)
    assert covered >= 2 / 3 - 2 * standard_error, (covered, pulls.round(2))
    # … and the errors are neither generous nor too small: their RMS is ~1σ
    assert 0.8 < np.sqrt(np.mean(pulls**2)) < 1.25, pulls.round(2)
