"""The live drift on synthetic positions (not the simulator's): a fixed zero over a rolling
window, lateral and axial rejection, unknown z; and the /drift table of a recording file."""

from __future__ import annotations

import json

import numpy as np

from magscope_app.analysis.drift import reference_drift
from magscope_app.recording import RecordingWriter, open_recording
from magscope_app.services.locks import _robust_drift


def _references(rng, n_frames=200, n_beads=4, noise=1.0):
    """Positions (n_frames, n_beads, 3) of stuck beads on a drift, the drift, and the zeros."""
    t = np.arange(n_frames, dtype=float)
    drift = np.column_stack([3.0 * t, -2.0 * t, 0.5 * t + 5 * np.sin(t / 20)])
    zeros = rng.uniform(1000, 30_000, (n_beads, 3))
    positions = zeros + drift[:, None] + noise * rng.standard_normal((n_frames, n_beads, 3))
    return positions, drift, zeros


def test_given_zero_keeps_the_drift_absolute_over_a_rolling_window():
    rng = np.random.default_rng(4)
    positions, drift, zeros = _references(rng)
    window = positions[150:]  # the live estimate only sees the last 50 frames
    estimate = reference_drift(window, origin_nm=zeros)
    assert np.allclose(estimate.correction_nm, drift[150:], atol=1.5)
    without = reference_drift(window)  # zero at the window's start instead
    assert np.abs(without.correction_nm - drift[150:]).mean() > 100


def test_lateral_and_axial_outliers_are_rejected_and_unknown_z_is_nan():
    rng = np.random.default_rng(5)
    positions, drift, zeros = _references(rng, n_beads=5)
    positions[:, 1, 0] += np.cumsum(rng.standard_normal(200)) * 5  # came loose sideways
    positions[:, 2, 2] += 40 * rng.standard_normal(200)  # z fit gone bad
    refs = [10, 11, 12, 13, 14]
    correction, used, rejected = _robust_drift(positions, zeros, refs, judged=[0, 1, 2, 3])
    assert used == (10, 13) and rejected == (11, 12)  # 14 not judged yet: neither
    assert np.sqrt(np.mean((correction - drift) ** 2)) < 1.5  # 1 nm noise, 2 beads

    no_z = positions.copy()
    no_z[:, :, 2] = np.nan
    zeros_no_z = zeros.copy()
    zeros_no_z[:, 2] = np.nan
    correction, used, rejected = _robust_drift(no_z, zeros_no_z, refs, judged=[0, 2, 3, 4])
    assert used == (10, 12, 13, 14) and rejected == ()
    assert np.sqrt(np.mean((correction[:, :2] - drift[:, :2]) ** 2)) < 1.5
    assert np.isnan(correction[:, 2]).all()

    nothing = _robust_drift(positions, zeros, refs, judged=[])
    assert nothing[1:] == ((), ()) and np.isnan(nothing[0]).all()


def test_drift_table_and_references_in_the_recording(tmp_path):
    path = tmp_path / "drift.h5"
    rows = np.column_stack([100.0 + np.arange(5) * 0.02, np.arange(5), np.arange(5) * 1.5,
                            -np.arange(5.0), np.full(5, np.nan), np.full(5, 3)])  # fmt: skip
    with RecordingWriter(path, instance="t") as writer:
        writer.append_drift(rows[:2])
        writer.log("drift references " + json.dumps({"reference": [1, 2, 3], "used": [1, 2],
                                                     "rejected": [3]}), source="locks")  # fmt: skip
        writer.log("drift references not json", source="someone else")
        writer.append_drift(rows[2:])
    with open_recording(path) as r:
        drift = r.drift()
        assert np.array_equal(drift["frame"], np.arange(5))
        assert np.allclose(drift["dx_nm"], rows[:, 2]) and np.isnan(drift["dz_nm"]).all()
        assert r.drift_references() == [{"time": r.drift_references()[0]["time"],
                                         "reference": [1, 2, 3], "used": [1, 2],
                                         "rejected": [3]}]  # fmt: skip
        assert len(r.tracks()["frame"]) == 0
