"""Precision of the tracker against the Cramér–Rao bound of the simulated microscope's images.

Images: optics.expected_roi with Poisson noise, 64 x 64 ROIs, background 1,000 and 10,000 photons
per pixel; fixed seeds. Bounds from the model's Fisher information (see _tracking_images.crlb_xyz).
"""

from __future__ import annotations

import numpy as np
import pytest
from _tracking_images import CENTRE, SHAPE, crlb_xyz, noisy_rois, random_centres
from magscope_app.hardware.simulated.optics import expected_roi

from magscope_app.tracking import make_zlut, track_xyz

BACKGROUNDS = (1_000, 10_000)
Z_PLANES = np.arange(41) * 50.0 - 1000.0  # 41 planes, 50 nm apart
FRAMES_PER_PLANE = 10


@pytest.mark.parametrize("background", BACKGROUNDS)
@pytest.mark.parametrize("z_nm", [-800.0, 0.0, 800.0])
def test_xy_precision_near_cramer_rao_bound(background, z_nm):
    rng = np.random.default_rng(1000 + int(z_nm) + background)
    xs, ys = random_centres(rng, 250)
    result = track_xyz(noisy_rois(rng, xs, ys, z_nm, background))
    assert result.ok.all()
    bound_x, bound_y, _ = crlb_xyz(CENTRE, CENTRE, z_nm, background)
    ratio_x = np.std(result.x - xs) / bound_x
    ratio_y = np.std(result.y - ys) / bound_y
    print(f"bg={background} z={z_nm}: xy std / CRLB = {ratio_x:.3f}, {ratio_y:.3f}")
    assert ratio_x <= 1.3 and ratio_y <= 1.3
    # and not better than physics allows (a broken test would make this pass trivially)
    assert ratio_x > 0.8 and ratio_y > 0.8


def test_xy_unbiased_over_sub_pixel_offsets():
    fractions = np.linspace(0.0, 0.9, 7)
    fx, fy = np.meshgrid(fractions, fractions)
    xs = 31.0 + fx.ravel()
    ys = 31.0 + fy.ravel()
    for z_nm in (-900.0, 0.0, 900.0):
        clean = np.stack(
            [expected_roi(SHAPE, x, y, z_nm, 1000.0) for x, y in zip(xs, ys, strict=True)]
        )
        result = track_xyz(clean)
        assert np.max(np.abs(result.x - xs)) <= 0.01
        assert np.max(np.abs(result.y - ys)) <= 0.01
    # with noise: mean error over many frames at each of a few offsets
    rng = np.random.default_rng(7)
    for frac in (0.0, 0.25, 0.5, 0.75):
        xs = np.full(60, 31.0 + frac)
        ys = np.full(60, 32.0 - frac)
        result = track_xyz(noisy_rois(rng, xs, ys, 0.0, 1000))
        assert abs(np.mean(result.x - xs)) <= 0.01
        assert abs(np.mean(result.y - ys)) <= 0.01


@pytest.mark.parametrize("offset_px", [3.0, 16.0])
def test_off_centre_beads_are_tracked(offset_px):
    """No failure for beads 3 px and a quarter ROI (16 px) off-centre, in any direction."""
    rng = np.random.default_rng(int(offset_px))
    angles = np.linspace(0, 2 * np.pi, 24, endpoint=False)
    xs = CENTRE + offset_px * np.cos(angles) + rng.uniform(-0.5, 0.5, angles.size)
    ys = CENTRE + offset_px * np.sin(angles) + rng.uniform(-0.5, 0.5, angles.size)
    for background in BACKGROUNDS:
        result = track_xyz(noisy_rois(rng, xs, ys, 0.0, background))
        assert result.ok.all()
        assert np.max(np.hypot(result.x - xs, result.y - ys)) < 0.05


@pytest.fixture(scope="module", params=BACKGROUNDS)
def sweep_lut(request):
    """A Z-LUT recorded like a focus sweep: per plane, noisy frames at random sub-pixel centres."""
    background = request.param
    rng = np.random.default_rng(background)
    stacks = []
    for z in Z_PLANES:
        xs, ys = random_centres(rng, FRAMES_PER_PLANE)
        stacks.append(noisy_rois(rng, xs, ys, z, background))
    return background, make_zlut(Z_PLANES, stacks)


def test_z_precision_near_cramer_rao_bound(sweep_lut):
    background, lut = sweep_lut
    rng = np.random.default_rng(background + 1)
    step = Z_PLANES[1] - Z_PLANES[0]
    for z_nm in (-880.0, -410.0, 23.0, 515.0, 870.0):
        xs, ys = random_centres(rng, 200)
        result = track_xyz(noisy_rois(rng, xs, ys, z_nm, background), lut)
        assert np.isfinite(result.z).all()
        err = result.z - z_nm
        bound = crlb_xyz(CENTRE, CENTRE, z_nm, background)[2]
        ratio = np.std(err) / bound
        print(f"bg={background} z={z_nm}: z std / CRLB = {ratio:.3f}, bias {np.mean(err):.3f} nm")
        assert ratio <= 1.5
        assert ratio > 0.8
        assert abs(np.mean(err)) <= 0.1 * step


def test_z_no_nans_inside_lut_range(sweep_lut):
    background, lut = sweep_lut
    rng = np.random.default_rng(background + 2)
    zs = rng.uniform(Z_PLANES[0], Z_PLANES[-1], 600)
    xs, ys = random_centres(rng, zs.size)
    result = track_xyz(noisy_rois(rng, xs, ys, zs, background), lut)
    assert np.mean(np.isnan(result.z)) < 0.005
    good = np.isfinite(result.z)
    # every bead lands near its height (no jumps to a wrong plane)
    assert (
        np.max(np.abs(result.z[good] - zs[good]))
        < 10 * crlb_xyz(CENTRE, CENTRE, 1000, background)[2]
    )


def test_z_of_off_centre_bead_uses_covered_bins(sweep_lut):
    """Off-centre beads (outer annuli partly outside the ROI): z stays accurate."""
    background, lut = sweep_lut
    rng = np.random.default_rng(background + 3)
    for offset, max_ratio in (((8.0, -5.0), 2.0), ((-12.0, 10.0), 4.0)):
        xs, ys = random_centres(rng, 100, offset=offset)
        result = track_xyz(noisy_rois(rng, xs, ys, 300.0, background), lut)
        err = result.z - 300.0
        assert np.isfinite(err).all()
        bound = crlb_xyz(CENTRE + offset[0], CENTRE + offset[1], 300.0, background)[2]
        print(f"bg={background} offset={offset}: z std / CRLB = {np.std(err) / bound:.2f}")
        assert np.std(err) <= max_ratio * bound
        assert abs(np.mean(err)) <= 5.0


def test_z_outside_lut_range_is_nan(sweep_lut):
    background, lut = sweep_lut
    rng = np.random.default_rng(background + 4)
    xs, ys = random_centres(rng, 20)
    below = track_xyz(noisy_rois(rng, xs, ys, Z_PLANES[0] - 150.0, background), lut)
    above = track_xyz(noisy_rois(rng, xs, ys, Z_PLANES[-1] + 150.0, background), lut)
    assert np.isnan(below.z).all() and np.isnan(above.z).all()
    assert below.ok.all()
