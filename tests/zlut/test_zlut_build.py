"""build_luts: per-bead LUTs from the rows of a Z-LUT sweep."""

from __future__ import annotations

import numpy as np
import pytest
from _zlut_sweep import FOCUS_NM, FRAMES, GOOD, GOOD_DIM, STATIC, noisy_rois

from magscope_app.tracking import ZLUT, TrackingSettings, track_xyz
from magscope_app.zlut import build_luts


def _rows(data, keep):
    return {k: v[keep] for k, v in data.items()}


def test_one_lut_per_bead_planes_ordered_by_z_from_motor_telemetry(sweep, built):
    assert {GOOD, GOOD_DIM, STATIC} <= set(built)
    lut = built[GOOD]
    assert isinstance(lut, ZLUT)
    # focus sweep: LUT z = -(mean motor z of the plane's rows), ascending
    mine = sweep["bead_ids"] == GOOD
    expected = sorted(
        -np.mean(sweep["motor_z_values"][mine & (sweep["step_indices"] == s)])
        for s in range(FOCUS_NM.size)
    )
    np.testing.assert_allclose(lut.z_nm, expected, rtol=0, atol=1e-9)
    assert np.all(np.diff(lut.z_nm) > 0)
    # plane profile = mean of the plane's valid rows
    step = 7
    rows = mine & (sweep["step_indices"] == step) & sweep["valid_flags"]
    plane = int(np.argmin(np.abs(lut.z_nm + FOCUS_NM[step])))
    np.testing.assert_allclose(lut.profiles[plane], sweep["profiles"][rows].mean(axis=0))
    assert built.scatter[GOOD].n_profiles.min() == FRAMES


def test_motor_sign_plus_one_keeps_motor_z(sweep):
    built = build_luts(_rows(sweep, sweep["bead_ids"] == GOOD), TrackingSettings(), motor_z_sign=1)
    assert built[GOOD].z_range[0] == pytest.approx(FOCUS_NM[0], abs=2.0)


def test_lut_tracks_the_sweep_bead(built):
    rng = np.random.default_rng(5)
    for z in (-600.0, 0.0, 450.0):
        result = track_xyz(noisy_rois(rng, z, 20), built[GOOD])
        assert abs(np.mean(result.z) - z) < 5.0


def test_invalid_rows_and_short_planes_are_dropped(sweep):
    data = _rows(sweep, sweep["bead_ids"] == GOOD)
    data["valid_flags"] = data["valid_flags"].copy()
    # step 3: only 2 valid rows left (< 3); step 4: one row valid but its profile all NaN
    data["valid_flags"][np.nonzero(data["step_indices"] == 3)[0][2:]] = False
    s4 = np.nonzero(data["step_indices"] == 4)[0]
    data["profiles"] = data["profiles"].copy()
    data["profiles"][s4[:3]] = np.nan
    data["motor_z_values"] = data["motor_z_values"].copy()
    data["motor_z_values"][s4[3:]] += 1e6  # would wreck the plane's z if a NaN row counted
    built = build_luts(data, TrackingSettings(), min_profiles_per_plane=3)
    lut = built[GOOD]
    assert lut.z_nm.size == FOCUS_NM.size - 2
    assert not np.any(np.isclose(lut.z_nm, -FOCUS_NM[3], atol=5))
    assert [s for s, _ in built.dropped_planes[GOOD]] == [3, 4]
    assert "2 valid profile(s) < 3" in built.dropped_planes[GOOD][0][1]


def test_bead_with_fewer_than_three_planes_gets_no_lut_and_a_reason(sweep):
    data = _rows(sweep, (sweep["bead_ids"] == GOOD) & (sweep["step_indices"] < 2))
    built = build_luts(data, TrackingSettings())
    assert GOOD not in built
    assert "too few planes: 2" in built.rejected[GOOD]


def test_malformed_sweep_is_refused(sweep):
    with pytest.raises(ValueError, match="bins"):
        build_luts(sweep, TrackingSettings(radial_max_px=16.0))
    bad = dict(sweep)
    del bad["motor_z_values"]
    with pytest.raises(ValueError, match="motor_z_values"):
        build_luts(bad, TrackingSettings())
    with pytest.raises(ValueError, match="min_profiles_per_plane"):
        build_luts(sweep, TrackingSettings(), min_profiles_per_plane=0)
