"""The force service's arithmetic and files on data the simulator does not make: an Ornstein–
Uhlenbeck trace integrated here on a fine grid and averaged over each exposure, track rows with
lost frames, worm-like-chain points with noise, and an HDF5 file holding other groups."""

from __future__ import annotations

import h5py
import numpy as np
import pytest

from magscope_app.analysis import wlc
from magscope_app.analysis.force import DEFAULT_KT_PN_NM
from magscope_app.analysis.force_curve import fit_force_curve
from magscope_app.analysis.force_extension import ForceExtension, _grouped_means, _with_fits
from magscope_app.buffers.layouts import TRACK_COLUMNS
from magscope_app.services import _force_traces as traces
from magscope_app.zlut import LUTFileError, load_force_curves, save_force_curves

KT = DEFAULT_KT_PN_NM


def _blurred_ou(n_frames, rate, exposure, variance, tau, rng, substeps=20):
    """Frames of an OU process: exact steps on a fine grid, each frame the mean over its
    exposure (the last ``exposure`` of every frame interval)."""
    dt = 1.0 / (rate * substeps)
    a = np.exp(-dt / tau)
    noise = rng.standard_normal(n_frames * substeps) * np.sqrt(variance * (1 - a * a))
    x = np.empty(n_frames * substeps)
    value = 0.0
    for i in range(x.size):
        value = a * value + noise[i]
        x[i] = value
    open_steps = max(round(exposure * rate * substeps), 1)
    return x.reshape(n_frames, substeps)[:, -open_steps:].mean(axis=1)


def _rows(frames, x, y, z, bead=0, rate=100.0):
    rows = np.zeros((frames.size, len(TRACK_COLUMNS)))
    col = {c: i for i, c in enumerate(TRACK_COLUMNS)}
    rows[:, col["time"]] = 1000.0 + frames / rate
    rows[:, col["frame"]] = frames
    rows[:, col["bead"]] = bead
    rows[:, col["x_nm"]], rows[:, col["y_nm"]], rows[:, col["z_nm"]] = x, y, z
    return rows


def test_trace_fills_a_few_lost_frames_and_refuses_many():
    frames = np.arange(1000, dtype=float)
    values = frames * 2.0
    kept = np.delete(np.arange(1000), [10, 11, 500])
    rows = _rows(frames[kept], values[kept], values[kept], values[kept])
    trace = traces.bead_trace(rows, 0)
    assert trace["frame"].size == 1000 and int(trace["missing"]) == 3
    assert np.allclose(trace["x"], values), "lost frames are interpolated"
    assert traces.frame_rate(trace) == pytest.approx(100.0)
    sparse = _rows(frames[::2], values[::2], values[::2], values[::2])
    with pytest.raises(ValueError, match="frames missing"):
        traces.bead_trace(sparse, 0)


def test_both_axes_calibrate_to_the_force_and_combine():
    rng = np.random.default_rng(11)
    rate, exposure, n = 100.0, 0.008, 6000
    force, extension, radius, drag = 2.0, 800.0, 500.0, 1.2e-5
    k_x, k_y = force / extension, force / (extension + radius)
    x = _blurred_ou(n, rate, exposure, KT / k_x, drag / k_x, rng)
    y = _blurred_ou(n, rate, exposure, KT / k_y, drag / k_y, rng)
    frames = np.arange(n, dtype=float)
    rows = _rows(frames, x + 0.01 * frames, y, np.full(n, 300.0), rate=rate)  # slow drift in x
    trace = traces.bead_trace(rows, 0)
    common = {"surface_z_nm": 300.0 - extension, "exposure_s": exposure, "method": "spectrum",
              "drag": "free", "bead_radius_nm": radius, "kt_pN_nm": KT,
              "viscosity_pN_s_per_nm2": 1e-9}  # fmt: skip
    results = {axis: traces.calibrate_bead(trace, axis=axis, **common) for axis in ("x", "y", "xy")}
    for axis, result in results.items():
        assert result["extension_nm"] == pytest.approx(extension)
        assert result["force_pN"] == pytest.approx(force, rel=0.12), axis
        assert abs(result["force_pN"] - force) < 3 * result["force_error_pN"], axis
    combined = results["xy"]["force_error_pN"]
    assert combined < min(results["x"]["force_error_pN"], results["y"]["force_error_pN"])
    assert set(results["xy"]["fits"]) == {"x spectrum", "y spectrum"}
    with pytest.raises(ValueError, match="surface position"):
        traces.calibrate_bead(trace, axis="x", **{**common, "surface_z_nm": 400.0})


def test_surface_is_a_low_percentile_not_the_noisiest_minimum():
    rng = np.random.default_rng(2)
    z = np.concatenate([-900.0 + 3.0 * rng.standard_normal(2000), [np.nan, -960.0]])
    assert traces.surface_position(z) == pytest.approx(-907.0, abs=3.0)
    assert np.isnan(traces.surface_position(np.full(5, np.nan)))


def test_wlc_fits_recover_the_chain_below_and_above_five_pN():
    rng = np.random.default_rng(5)
    force = np.geomspace(0.3, 15.0, 30)
    extension = wlc.bouchiat_extension(force, 3000.0, 45.0, KT)
    high = force >= 5.0
    extension[high] = wlc.odijk_extension(force[high], 3000.0, 45.0, 1000.0, KT)
    # groups of noisy rows, as the recording gives them
    heights = np.repeat(np.arange(force.size, dtype=float), 200)
    noisy = np.repeat(extension, 200) + 20.0 * rng.standard_normal(heights.size)
    _, mean, sem = _grouped_means(heights, noisy, 1.0)
    assert np.allclose(mean, extension, atol=5.0) and np.all(sem < 3.0)
    point = ForceExtension(0, force, mean, sem, 0.02 * force, np.arange(force.size))
    fitted = _with_fits(point, 5.0, KT)
    assert fitted.low.persistence_nm == pytest.approx(45.0, rel=0.1)
    assert fitted.low.contour_nm == pytest.approx(3000.0, rel=0.02)
    assert fitted.high.contour_nm == pytest.approx(3000.0, rel=0.02)
    assert fitted.low.persistence_error_nm >= 0.02 * fitted.low.persistence_nm, (
        "the force curve's 2 % scale error is part of the persistence length's"
    )


def test_force_curves_go_into_a_lut_file_and_come_back(tmp_path):
    path = tmp_path / "zlut.h5"
    with h5py.File(path, "w") as f:
        f.create_dataset("beads/0/z_nm", data=np.arange(3.0))
    heights = np.linspace(1.0, 4.0, 5)
    curve = fit_force_curve(heights, 30 * np.exp(-heights), 0.5 * np.exp(-heights), terms=1)
    save_force_curves(path, {3: curve, None: curve}, {3: -812.5})
    save_force_curves(path, {3: curve, None: curve}, {3: -812.5})  # replaces, no error
    curves, surfaces = load_force_curves(path)
    assert set(curves) == {3, None} and surfaces == {3: -812.5}
    assert np.allclose(curves[3].force(2.0), curve.force(2.0))
    with h5py.File(path, "r") as f:
        assert "beads/0/z_nm" in f, "the LUTs stay"
    other = tmp_path / "other.h5"
    h5py.File(other, "w").close()
    with pytest.raises(LUTFileError, match="no force curve"):
        load_force_curves(other)
    with pytest.raises(LUTFileError, match="cannot read"):
        load_force_curves(tmp_path / "missing.h5")
