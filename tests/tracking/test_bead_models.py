"""XY and Z tracking on bead images the simulator does not make (tests/tracking/bead_models.py).

Four families (bright centre with Bessel rings, dark centre with rings, a defocused sphere whose
ring period exceeds a quarter of the ROI, low-contrast chirped rings), each over the whole LUT
range (0–2,000 nm, eight bands of 250 nm), 64 x 64 ROIs, beads within +-3 px of the ROI centre,
Poisson noise at 1,000 and 10,000 photons/px; 250 ROIs per band, fixed seeds. The Z-LUT of each
family is made from noiseless images with the project's profile code (make_zlut); the bounds
come from each model's Fisher information.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from bead_models import CENTRE, MODELS, Z_BANDS, evaluate, model_zlut, random_beads

from magscope_app.tracking import TrackingSettings, track_xyz
from magscope_app.tracking.xy import symmetry_centres

BACKGROUNDS = (1_000, 10_000)
ROIS_PER_BAND = 250


@pytest.fixture(scope="module")
def luts():
    return {name: model_zlut(model) for name, model in MODELS.items()}


@pytest.mark.parametrize("background", BACKGROUNDS)
@pytest.mark.parametrize("family", sorted(MODELS))
def test_family_meets_targets_in_every_z_band(family, background, luts):
    stats = evaluate(MODELS[family], background, ROIS_PER_BAND, seed=background, lut=luts[family])
    assert [s.z_band for s in stats] == list(Z_BANDS)
    for s in stats:
        print(
            f"{family} bg={background} z={s.z_band}: lost {s.lost:.3f}, wrong {s.wrong} "
            f"({s.wrong_unflagged} unflagged), xy/CRLB {s.xy_ratio:.2f}, z/CRLB {s.z_ratio:.2f}, "
            f"xy bias {s.xy_bias:.4f} px, z bias {s.z_bias:.2f} nm, z NaN {s.z_nan:.3f}"
        )
        assert s.lost < 0.005  # xy more than 0.5 px off, or NaN
        assert s.wrong_unflagged <= 0.01 * s.wrong  # a wrong fit is flagged, never returned
        assert 0.8 < s.xy_ratio <= 1.3
        assert 0.8 < s.z_ratio <= 1.5
        assert s.xy_bias <= 0.01
        assert abs(s.z_bias) <= 5.0
        assert s.z_nan < 0.005


@pytest.mark.parametrize("family", sorted(MODELS))
def test_symmetry_guess_ignores_what_the_bead_looks_like(family):
    """The first guess finds the centre of the image and of its negative (dark for bright)
    alike: it uses the symmetry only."""
    rng = np.random.default_rng(5)
    model = MODELS[family]
    xs, ys, zs = random_beads(rng, 200, (0.0, 2000.0))
    clean = model.expected_rois(xs, ys, zs, 1000.0)
    for image in (clean, 2000.0 - clean):  # the negative: bright and dark swapped
        gx, gy = symmetry_centres(rng.poisson(image))
        assert np.max(np.hypot(gx - xs, gy - ys)) < 0.35
        result = track_xyz(rng.poisson(image))
        assert result.ok.all()
        assert np.max(np.hypot(result.x - xs, result.y - ys)) < 0.2


def test_guess_finds_beads_anywhere_in_the_roi():
    """Beads up to 20 px from the centre: the circular correlation's two candidate centres
    (``s / 2`` and ``(s + 64) / 2``) are told apart."""
    rng = np.random.default_rng(6)
    model = MODELS["dark_bessel"]
    angles = rng.uniform(0, 2 * np.pi, 200)
    radii = rng.uniform(0.0, 20.0, 200)
    xs = CENTRE + radii * np.cos(angles)
    ys = CENTRE + radii * np.sin(angles)
    rois = model.noisy_rois(rng, xs, ys, rng.uniform(0, 2000, 200), 1000.0)
    gx, gy = symmetry_centres(rois)
    assert np.max(np.hypot(gx - xs, gy - ys)) < 0.35


def test_fit_that_leaves_the_symmetry_centre_is_flagged():
    """The check after the fit: a result farther than guess_tolerance_px from the symmetry
    centre comes back as FIT_FAILED with NaN x, y, z; the others are unchanged."""
    rng = np.random.default_rng(7)
    model = MODELS["low_contrast"]
    xs, ys, zs = random_beads(rng, 300, (0.0, 2000.0))
    rois = model.noisy_rois(rng, xs, ys, zs, 1000.0)
    guess_x, guess_y = symmetry_centres(rois)
    free = track_xyz(rois, settings=replace(TrackingSettings(), guess_tolerance_px=np.inf))
    assert free.ok.all()
    tolerance = float(np.median(np.hypot(free.x - guess_x, free.y - guess_y)))
    checked = track_xyz(rois, settings=replace(TrackingSettings(), guess_tolerance_px=tolerance))
    far = np.hypot(free.x - guess_x, free.y - guess_y) > tolerance
    assert 100 < far.sum() < 200
    np.testing.assert_array_equal(checked.ok, ~far)
    assert np.isnan(checked.x[far]).all() and np.isnan(checked.z[far]).all()
    np.testing.assert_array_equal(checked.x[~far], free.x[~far])


def test_stale_start_is_replaced_by_the_symmetry_centre():
    """xy0 far from the bead (e.g. the previous frame's centre of a bead that jumped): the fit
    starts from the symmetry centre and tracks the bead."""
    rng = np.random.default_rng(8)
    model = MODELS["bright_bessel"]
    xs, ys, zs = random_beads(rng, 50, (0.0, 2000.0))
    rois = model.noisy_rois(rng, xs, ys, zs, 1000.0)
    xy0 = np.stack([xs + 4.0, ys - 3.0], axis=1)
    result = track_xyz(rois, xy0=xy0)
    assert result.ok.all()
    assert np.max(np.hypot(result.x - xs, result.y - ys)) < 0.2
