"""Stuck or tethered (magscope_app.tracking.classify) from bead motion: the simulated world's
Brownian motion at low and high force, and motion the simulator does not make."""

from __future__ import annotations

import numpy as np
import pytest
from magscope_app.hardware.simulated.world import World, WorldParams

from magscope_app.buffers.layouts import TRACK_COLUMNS, TrackFlags
from magscope_app.tracking.classify import classify_motion, classify_tracks, detrended_rms

COL = {name: i for i, name in enumerate(TRACK_COLUMNS)}
RATE = 100.0  # frames/s


def rows_from(t, x, y, z, flags=None):
    """Track rows (frames × beads, TRACK_COLUMNS) of positions (frames, beads) in nm."""
    frames, beads = x.shape
    out = np.zeros((frames, beads, len(TRACK_COLUMNS)))
    out[..., COL["time"]] = t[:, None]
    out[..., COL["frame"]] = np.arange(frames)[:, None]
    out[..., COL["bead"]] = np.arange(beads)[None, :]
    out[..., COL["x_nm"]], out[..., COL["y_nm"]], out[..., COL["z_nm"]] = x, y, z
    if flags is not None:
        out[..., COL["flags"]] = flags
    return out.reshape(-1, len(TRACK_COLUMNS))


@pytest.mark.parametrize("magnet_mm", [10.0, 1.0, 0.3])  # 0.02, 15 and 30 pN
def test_simulated_world_stuck_and_tethered(magnet_mm):
    """5 s of the simulated world's beads at 100 frames/s (5 ms exposures), plus tracking noise
    (1 nm lateral, 3 nm axial rms), a few failed fits; with and without z."""
    params = WorldParams(n_beads=30, n_reference_beads=10, seed=2)
    world = World(params, (102400.0, 102400.0), 100.0, np.random.default_rng(2))
    t = 1000.0 + np.arange(int(5 * RATE)) / RATE
    samples = [world.step(ti - 1000.0, 0.005, magnet_mm, 0.0) for ti in t]
    rng = np.random.default_rng(3)
    x, y, z = (np.array([getattr(s, k) for s in samples]) for k in ("x_nm", "y_nm", "z_nm"))
    x, y = x + rng.normal(0, 1, x.shape), y + rng.normal(0, 1, y.shape)
    z = z + rng.normal(0, 3, z.shape)
    flags = np.where(rng.random(x.shape) < 0.02, int(TrackFlags.FIT_FAILED), 0)
    x[flags > 0] += 500.0  # a failed fit is far off: it must not count
    truth = np.where(world.is_reference, "stuck", "tethered")
    for zz in (z, np.full_like(z, np.nan)):
        motions = classify_tracks(rows_from(t, x, y, zz, flags), list(range(40)), seconds=5.0)
        kinds = np.array([motions[b].kind for b in range(40)])
        assert np.mean(kinds == truth) >= 0.95, motions
    assert all(np.isnan(motions[b].axial_nm) for b in range(40))


def test_motion_not_from_the_simulator():
    rng = np.random.default_rng(4)
    t = np.arange(300) / 100.0
    # a stuck bead drifting 30 nm/s with 2 nm noise: drift does not make it tethered
    drift = 30.0 * t
    stuck = classify_motion(t, drift + rng.normal(0, 2, 300), rng.normal(0, 2, 300), seconds=3.0)
    assert stuck.kind == "stuck" and stuck.lateral_nm < 4
    # white lateral motion of 8 nm rms (a bead at high force, faster than the camera)
    fast = classify_motion(t, rng.normal(0, 6, 300), rng.normal(0, 6, 300), seconds=3.0)
    assert fast.kind == "tethered"
    # laterally quiet but moving 40 nm in z: tethered
    z = 40.0 * np.sin(2 * np.pi * 1.3 * t)
    axial = classify_motion(t, rng.normal(0, 1, 300), rng.normal(0, 1, 300), z, seconds=3.0)
    assert axial.kind == "tethered" and axial.axial_nm > 20
    # thresholds are arguments
    loose = classify_motion(t, rng.normal(0, 6, 300), rng.normal(0, 6, 300), seconds=3.0,
                            max_lateral_nm=20.0)  # fmt: skip
    assert loose.kind == "stuck"
    # too few samples, or too short a span: unknown, with the reason
    short = classify_motion(t[:50], t[:50], t[:50], seconds=3.0)
    assert short.kind == "unknown" and "50 clean samples over 0.49 s" in short.reason
    assert detrended_rms(t, 5.0 * t + 1.0) == pytest.approx(0.0, abs=1e-9)
    # a bead without rows is unknown
    assert classify_tracks(np.zeros((0, len(TRACK_COLUMNS))), [3], seconds=3.0)[3].kind == (
        "unknown"
    )
