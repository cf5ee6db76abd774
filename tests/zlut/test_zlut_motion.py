"""The bead's own motion while the focus is still: measured from a sweep's profiles (axial) and
from track rows (lateral, recent), and the plain-words hint and warning it leads to.

Known amounts: the synthetic beads' z fluctuates frame to frame by a Gaussian of known standard
deviation around each plane, in ring images of the simulator's optics model and in analytic
profiles the simulator does not make (damped cosine rings with another z dependence and
Gaussian noise); track rows are drawn with a known lateral spread.
"""

from __future__ import annotations

import numpy as np
import pytest
from _zlut_sweep import GOOD, NOISE, STATIC, noisy_rois

from magscope_app.buffers.layouts import TRACK_COLUMNS, TrackFlags
from magscope_app.tracking import TrackingSettings, track_xyz
from magscope_app.zlut import (
    BeadMotion,
    BeadQuality,
    QualityReport,
    assess_luts,
    build_luts,
    lateral_rms_by_bead,
    motion_hint,
    recent_motion,
    sweep_motion_warning,
)

FOCUS = np.arange(21) * 50.0 - 500.0  # 21 planes, 50 nm apart
FRAMES = 20
COL = {name: i for i, name in enumerate(TRACK_COLUMNS)}


def _sweep(profiles_of, motions: dict[int, float], rng) -> dict:
    """Sweep rows of beads whose z fluctuates by ``motions[bead]`` nm (sd) around each plane;
    ``profiles_of(z_rel (n,)) -> (profiles (n, n_bins), valid (n,))``."""
    cols = {k: [] for k in ("bead_ids", "step_indices", "timestamps", "motor_z_values")}
    profiles, valid = [], []
    for step, focus in enumerate(FOCUS):
        for bead, sd in motions.items():
            p, ok = profiles_of(-focus + rng.normal(0.0, sd, FRAMES))
            profiles.append(p)
            valid.append(ok)
            cols["bead_ids"] += [bead] * FRAMES
            cols["step_indices"] += [step] * FRAMES
            cols["timestamps"] += list(step + 0.01 * np.arange(FRAMES))
            cols["motor_z_values"] += [focus] * FRAMES
    out = {k: np.asarray(v) for k, v in cols.items()}
    out["valid_flags"] = np.concatenate(valid)
    out["profiles"] = np.vstack(profiles)
    return out


@pytest.fixture(scope="module")
def image_built():
    """LUTs from ring images of the optics model: bead 1 at rest, bead 2 moving 150 nm (sd)."""
    rng = np.random.default_rng(7)

    def profiles_of(z):
        result = track_xyz(noisy_rois(rng, z, len(z)), settings=TrackingSettings())
        return result.profiles, result.ok

    return build_luts(_sweep(profiles_of, {1: 0.0, 2: 150.0}, rng), TrackingSettings())


@pytest.fixture(scope="module")
def image_report(image_built):
    return assess_luts(image_built, lateral_motion={1: 3.0, 2: 400.0})


def test_axial_motion_of_a_bead_at_rest_and_of_a_moving_bead(image_report):
    still, moving = image_report.beads[1], image_report.beads[2]
    assert still.usable and still.hint == ""
    assert still.axial_motion_nm < 5.0, "a bead at rest: only the photon noise (~1 nm)"
    assert 0.75 * 150 < moving.axial_motion_nm < 1.25 * 150
    assert moving.lateral_motion_nm == 400.0
    assert not moving.usable
    amount = f"{moving.axial_motion_nm:.0f}"
    assert moving.hint.startswith(f"bead 2 moved {amount} nm (rms) in z and 400 nm sideways")
    assert moving.hint.endswith("raise the force (lower the magnets) or use stuck beads")
    assert image_report.hints == {2: moving.hint}
    text = image_report.format_report()
    assert f"=> {moving.hint}" in text and "motion z/xy" in text


def test_report_with_motion_round_trips_through_json(image_report):
    again = QualityReport.from_dict(image_report.to_dict())
    assert again.beads[2].hint == image_report.beads[2].hint
    assert again.beads[2].axial_motion_nm == image_report.beads[2].axial_motion_nm
    assert again.beads[1].lateral_motion_nm == 3.0
    assert BeadQuality.from_dict({"bead_id": 4, "usable": True}).hint == ""  # an older file


def _analytic_profiles(n_bins: int, rng, noise: float):
    """Damped cosine rings whose period grows with z (not the simulator's Fresnel model), with
    white Gaussian noise of ``noise`` (relative to the background of 1)."""
    r = np.arange(n_bins, dtype=np.float64)

    def profiles_of(z):
        period = 6.0 + 4.0 * (np.asarray(z)[:, None] + 1500.0) / 1000.0  # bins
        rings = 1.0 - 0.3 * np.exp(-r / (0.6 * n_bins)) * np.cos(2 * np.pi * r / period + 0.5)
        return rings + rng.normal(0.0, noise, rings.shape), np.ones(len(z), bool)

    return profiles_of


@pytest.mark.parametrize("sd", [0.0, 40.0, 120.0])
def test_axial_motion_on_profiles_the_simulator_does_not_make(sd):
    rng = np.random.default_rng(int(sd) + 1)
    settings = TrackingSettings()
    sweep = _sweep(_analytic_profiles(settings.n_bins, rng, noise=0.003), {5: sd}, rng)
    q = assess_luts(build_luts(sweep, settings)).beads[5]
    assert q.axial_motion_nm == pytest.approx(sd, abs=max(0.15 * sd, 3.0)), q


def _track_rows(rng, beads: dict[int, float], seconds: float, rate: float = 100.0) -> np.ndarray:
    """Track rows of beads whose x and y scatter by ``beads[b]`` nm (sd each) at ``rate`` Hz."""
    times = 1000.0 + np.arange(int(seconds * rate)) / rate
    rows = []
    for bead, sd in beads.items():
        block = np.zeros((len(times), len(TRACK_COLUMNS)))
        block[:, COL["time"]] = times
        block[:, COL["bead"]] = bead
        block[:, COL["x_nm"]] = 5000.0 + rng.normal(0.0, sd, len(times))
        block[:, COL["y_nm"]] = 7000.0 + rng.normal(0.0, sd, len(times))
        block[:, COL["z_nm"]] = np.nan
        rows.append(block)
    return np.vstack(rows)


def test_lateral_spread_from_track_rows():
    rng = np.random.default_rng(3)
    rows = _track_rows(rng, {0: 100.0, 1: 2.0}, seconds=2.0)
    rows[::50, COL["x_nm"]] += 1e5  # failed fits far off: flagged, so left out
    rows[::50, COL["flags"]] = int(TrackFlags.FIT_FAILED)
    spread = lateral_rms_by_bead(rows, 1000.5, 1001.5)
    assert set(spread) == {0, 1}
    assert spread[0] == pytest.approx(100.0 * np.sqrt(2), rel=0.1)
    assert spread[1] == pytest.approx(2.0 * np.sqrt(2), rel=0.1)
    assert lateral_rms_by_bead(rows, 2000.0, 2001.0) == {}


def test_recent_motion_uses_z_with_a_lut_and_xy_without():
    rng = np.random.default_rng(4)
    rows = _track_rows(rng, {0: 100.0, 1: 2.0, 2: 100.0}, seconds=5.0)
    old = rows[:, COL["time"]] < 1003.0
    rows[old & (rows[:, COL["bead"]] == 1), COL["x_nm"]] += rng.normal(0, 1e3, 300)  # earlier
    with_lut = rows[:, COL["bead"]] == 2
    rows[with_lut, COL["z_nm"]] = 800.0 + rng.normal(0.0, 30.0, with_lut.sum())
    motion = recent_motion(rows, seconds=1.5)
    assert motion[0].kind == "xy" and motion[0].rms_nm == pytest.approx(141.4, rel=0.15)
    assert motion[1].kind == "xy" and motion[1].rms_nm < 4.0, "only the newest 1.5 s count"
    assert motion[2].kind == "z" and motion[2].rms_nm == pytest.approx(30.0, rel=0.2)
    assert recent_motion(np.empty((0, len(TRACK_COLUMNS))), 1.5) == {}


def test_sweep_warning_names_the_beads_that_move_more_than_the_step():
    motion = {0: BeadMotion("xy", 320.0), 1: BeadMotion("z", 60.0), 2: BeadMotion("xy", 1.0)}
    text = sweep_motion_warning(motion, -50.0, 1.5)
    assert text.startswith("2 of 3 beads move more than the plane step (50 nm)")
    assert "bead 0: 320 nm rms sideways over the last 1.5 s; beads 0, 1)" in text
    assert text.endswith("raise the force (lower the magnets) or use stuck beads")
    assert sweep_motion_warning(motion, 500.0, 1.5) is None
    assert sweep_motion_warning({}, 50.0, 1.5) is None


def test_hint_only_when_the_beads_own_motion_explains_the_rejection():
    assert motion_hint(7, 50.0, 20.0, 40.0) == "", "less than half a step"
    assert motion_hint(7, 50.0, None, None) == ""
    assert motion_hint(7, None, 500.0, 500.0) == "", "no plane step known"
    assert motion_hint(7, 50.0, 30.0, 3.0) == "", "z spread without a tether's swing"
    assert motion_hint(7, 50.0, 180.0, None).startswith("bead 7 moved 180 nm (rms) in z within")
    moved = motion_hint(7, -50.0, 180.0, 300.0)
    assert moved.startswith("bead 7 moved 180 nm (rms) in z and 300 nm sideways within a plane")
    assert "(plane step 50 nm): raise the force (lower the magnets) or use stuck beads" in moved
    assert motion_hint(7, 50.0, 10.0, 80.0).startswith("bead 7 moved 80 nm (rms) sideways and")
    jumps = motion_hint(7, 50.0, None, 460.0)
    assert jumps.startswith("bead 7: its tracked position spread 460 nm (rms) sideways")
    assert "resolved no z" in jumps and "check its ROI" in jumps and "force" not in jumps


def test_a_bead_without_lut_gets_a_hint_from_its_lateral_spread(image_built):
    rejected, lateral = {9: "too few planes"}, {9: 250.0}
    alone = assess_luts({}, rejected=rejected, lateral_motion=lateral)
    assert alone.beads[9].hint == "", "no plane step known: no hint"
    report = assess_luts(dict(image_built), rejected=rejected, lateral_motion=lateral)
    assert report.beads[9].lateral_motion_nm == 250.0
    assert report.beads[9].hint.startswith("bead 9: its tracked position spread 250 nm (rms)")


def test_no_motion_hint_when_something_else_spoils_the_lut(report):
    """The shared sweep (conftest.py): an empty ROI and a bead whose image ignores the focus are
    rejected for what they are, not for motion; the good beads held still."""
    for bead in (NOISE, STATIC):
        q = report.beads[bead]
        assert not q.usable and q.hint == "" and q.axial_motion_nm is None, q
    assert report.beads[GOOD].axial_motion_nm < 5.0
    assert report.hints == {}
