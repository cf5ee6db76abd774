"""Quality report: accepts good LUTs, rejects LUTs that cannot resolve z with the failing
criterion, and predicts the z precision tracking actually reaches."""

from __future__ import annotations

import json

import numpy as np
import pytest
from _zlut_sweep import FOCUS_NM, GOOD, GOOD_DIM, NOISE, STATIC, noisy_rois

from magscope_app.tracking import TrackingSettings, track_xyz
from magscope_app.zlut import (
    QualityReport,
    QualityThresholds,
    assess_luts,
    build_luts,
)


def test_good_beads_are_usable(report):
    assert GOOD in report.usable and GOOD_DIM in report.usable
    q = report.beads[GOOD]
    assert q.reasons == () and q.reason == ""
    assert q.n_planes == FOCUS_NM.size
    assert q.contrast > 0.1
    assert q.neighbour_correlation_min > 0.9
    assert q.separable_fraction == 1.0 and q.ambiguous_fraction == 0.0
    assert 0 < q.sigma_z_nm < 5
    # fewer photons: worse precision, by about sqrt(10)
    assert 2 < report.beads[GOOD_DIM].sigma_z_nm / q.sigma_z_nm < 5


def test_empty_roi_is_rejected_with_reasons(report):
    q = report.beads[NOISE]
    assert not q.usable and NOISE not in report.usable
    assert any(r.startswith("contrast ") and "min_contrast" in r for r in q.reasons)
    assert any("ambiguous_fraction" in r for r in q.reasons)
    assert NOISE in report.rejected and "contrast" in report.rejected[NOISE]


def test_lut_without_z_dependence_cannot_resolve_z(report):
    q = report.beads[STATIC]
    assert not q.usable
    # the profiles themselves look fine; the failing criteria are the z-resolving ones
    assert q.contrast > 0.1 and q.neighbour_correlation_min > 0.9
    assert np.isinf(q.sigma_z_nm)
    assert any(r.startswith("sigma_z_nm inf > max_sigma_z_nm") for r in q.reasons)
    assert any(r.startswith("separable_fraction") for r in q.reasons)


def test_too_few_planes_is_rejected(sweep):
    keep = (sweep["bead_ids"] == GOOD) & (sweep["step_indices"] % 10 == 0)  # 5 planes
    short = {k: v[keep] for k, v in sweep.items()}
    report = assess_luts(
        build_luts(short, TrackingSettings()), thresholds=QualityThresholds(min_planes=6)
    )
    assert report.usable == []
    assert "n_planes 5 < min_planes 6" in report.beads[GOOD].reasons
    no_lut = {
        k: v[(sweep["bead_ids"] == GOOD) & (sweep["step_indices"] < 2)] for k, v in sweep.items()
    }
    report = assess_luts(build_luts(no_lut, TrackingSettings()))
    assert not report.beads[GOOD].usable
    assert report.beads[GOOD].reason.startswith("no LUT: too few planes")


def test_thresholds_decide(built):
    strict = assess_luts(built, thresholds=QualityThresholds(max_sigma_z_nm=0.5))
    assert GOOD not in strict.usable
    assert any("sigma_z_nm" in r and "max_sigma_z_nm 0.5" in r for r in strict.beads[GOOD].reasons)
    with pytest.raises(AttributeError):
        QualityThresholds().min_planes = 3  # frozen


@pytest.mark.parametrize(("bead", "background"), [(GOOD, 1000.0), (GOOD_DIM, 100.0)])
def test_predicted_precision_matches_tracking(built, report, bead, background):
    rng = np.random.default_rng(int(background))
    q = report.beads[bead]
    for z in (-700.0, 60.0, 640.0):
        result = track_xyz(noisy_rois(rng, z, 150, background), built[bead])
        actual = float(np.std(result.z))
        predicted = q.sigma_z_at(z)
        print(f"bead {bead} z={z}: predicted {predicted:.3f} nm, actual {actual:.3f} nm")
        assert 0.5 < predicted / actual < 2.0


def test_report_to_dict_is_json_and_round_trips(report):
    data = json.loads(json.dumps(report.to_dict(), allow_nan=False))
    assert data["usable"] == report.usable
    assert data["beads"][str(STATIC)]["sigma_z_nm"] == "inf"
    back = QualityReport.from_dict(data)
    assert back.usable == report.usable
    assert back.thresholds == report.thresholds
    assert back.beads[GOOD].sigma_z_nm == pytest.approx(report.beads[GOOD].sigma_z_nm)
    assert back.beads[STATIC].reasons == report.beads[STATIC].reasons
    assert np.isinf(back.beads[STATIC].sigma_z_nm)


def test_format_report_names_beads_and_reasons(report):
    text = report.format_report()
    print(text)
    assert text.splitlines()[0] == "Z-LUT quality: 2 of 4 bead(s) usable"
    line = next(s for s in text.splitlines() if s.split()[:2] == [str(STATIC), "NO"])
    assert "inf" in line
    assert "cannot resolve z" in text


def test_without_sweep_scatter_only_profile_measures_are_judged(built):
    report = assess_luts(dict(built))  # e.g. LUTs loaded from a file or imported
    good, static = report.beads[GOOD], report.beads[STATIC]
    assert good.usable and good.sigma_z_nm is None and good.separable_fraction is None
    assert not static.usable  # still caught: its planes are not single-valued in z
    assert [r.split()[0] for r in static.reasons] == ["ambiguous_fraction"]
