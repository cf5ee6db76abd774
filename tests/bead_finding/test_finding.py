"""The bead finder (magscope_app.tracking.finding) against the simulated microscope's ground truth
and on bead images the simulator does not make.

Recall and precision count beads fully inside the image (their ROI inside the frame): a true bead
is found when a candidate (accepted, or rejected only because of its ROI) lies within 2 px of it;
a candidate is right when a true bead lies within 2 px. Position error is the distance of the
candidate to the truth, before any tracking.
"""

from __future__ import annotations

import numpy as np
import pytest
from _bead_images import FAMILIES, frame, place
from magscope_app.hardware.simulated import LocalWorldControl, SimulatedCamera

from magscope_app.tracking.finding import OUTSIDE, find_beads, roi_leaves_frame, rois_overlap

ROI = 64


def sim_frame(n_beads: int, size: int, focus_nm: float, seed: int = 0):
    """(frame, true x px, true y px) of the simulated microscope with the focus at
    ``focus_nm`` (the beads' centres lie ~500–700 nm above the surface at the default force)."""
    camera = SimulatedCamera(
        width=size, height=size, n_beads=n_beads, n_reference_beads=0, seed=seed,
        simulation={"default_focus_nm": focus_nm},
    )  # fmt: skip
    try:
        f = camera.render_next()
        truth = camera.truth_for(f.number)
    finally:
        camera.close()
    return f.image, truth.x_px, truth.y_px


def score(result, tx, ty, shape, roi=ROI):
    """(recall, precision, position errors of the found beads) for beads fully inside."""
    h, w = shape
    inside = np.array([not roi_leaves_frame(x, y, roi, w, h) for x, y in zip(tx, ty, strict=True)])
    found = result.accepted + [c for c in result.rejected if c.reason == "overlaps candidate"]
    fx = np.array([c.x for c in found])
    fy = np.array([c.y for c in found])
    d = np.hypot(fx[:, None] - tx[None, :], fy[:, None] - ty[None, :])
    errors = d.min(axis=0)[inside]
    recall = float(np.mean(errors < 2.0))
    fx_inside = np.array([not roi_leaves_frame(c.x, c.y, roi, w, h) for c in found])
    precision = float(np.mean(d[fx_inside].min(axis=1) < 2.0))
    return recall, precision, errors[errors < 2.0]


def check_overlaps(result, roi=ROI):
    """Accepted beads have ROIs of their own; every "overlaps candidate" is true."""
    beads = result.accepted + [
        c for c in result.rejected if c.reason in (OUTSIDE, "overlaps candidate")
    ]

    def overlaps(c):
        return any(o is not c and rois_overlap((c.x, c.y), (o.x, o.y), roi) for o in beads)

    assert not any(overlaps(c) for c in result.accepted)
    assert all(overlaps(c) for c in result.rejected if c.reason == "overlaps candidate")


@pytest.mark.parametrize("focus_nm", [600.0, 1600.0, -400.0])
@pytest.mark.parametrize(("n_beads", "size"), [(20, 1024), (200, 1536)])
def test_simulated_beads_found_in_and_out_of_focus(n_beads, size, focus_nm):
    image, tx, ty = sim_frame(n_beads, size, focus_nm)
    result = find_beads(image, ROI)
    recall, precision, errors = score(result, tx, ty, image.shape)
    assert recall >= 0.98 and precision >= 0.98, (recall, precision)
    assert errors.max() < 1.0
    assert np.sqrt(np.mean(errors**2)) < 0.3
    check_overlaps(result)
    assert len(result.accepted) >= n_beads / 2


def test_default_simulated_microscope_gives_all_its_beads():
    """The default simulated camera (1024² px) with 100 beads, 3 of them stuck: "Find beads"
    accepts at least 98, each on a true bead (their 64-px ROIs are placed apart)."""
    camera = SimulatedCamera(n_beads=97, n_reference_beads=3, control=LocalWorldControl())
    try:
        f = camera.render_next()
        truth = camera.truth_for(f.number)
    finally:
        camera.close()
    assert f.image.shape == (1024, 1024)
    result = find_beads(f.image, ROI)
    assert len(result.accepted) >= 98, [c.reason for c in result.rejected]
    fx = np.array([c.x for c in result.accepted])
    fy = np.array([c.y for c in result.accepted])
    d = np.hypot(fx[:, None] - truth.x_px[None, :], fy[:, None] - truth.y_px[None, :])
    assert d.min(axis=1).max() < 1.0
    assert len(set(d.argmin(axis=1))) == len(result.accepted)
    assert np.all(d.min(axis=0)[truth.is_reference] < 1.0)  # the stuck ones too


@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("photons", [1000.0, 10000.0])
@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_other_bead_images(family, photons, seed):
    """Bright-centre rings, a dark centre, wide defocused rings and low-contrast rings, with
    Poisson and read noise, uneven illumination and hot pixels."""
    rng = np.random.default_rng([sorted(FAMILIES).index(family), int(photons), seed])
    centres = place(rng, 30, (512, 512), separation=ROI + 2, margin=ROI / 2 + 2)
    image = frame(rng, centres, FAMILIES[family], photons=photons, read_noise=2.0,
                  gradient=0.3, hot_pixels=30)  # fmt: skip
    result = find_beads(image, ROI)
    recall, precision, errors = score(result, centres[:, 0], centres[:, 1], image.shape)
    assert recall == 1.0 and precision == 1.0, (recall, precision)
    assert errors.max() < 1.0
    check_overlaps(result)


def test_noise_alone_gives_no_candidate():
    rng = np.random.default_rng(5)
    image = frame(rng, np.zeros((0, 2)), FAMILIES["bright_rings"], (1024, 1024), photons=1000.0,
                  read_noise=2.0, gradient=0.3, hot_pixels=100)  # fmt: skip
    result = find_beads(image, ROI)
    assert result.accepted == []
    assert all(c.reason.startswith("score") for c in result.rejected)


def test_flat_and_8_bit_frames():
    assert find_beads(np.zeros((256, 256), dtype=np.uint8), ROI).accepted == []
    rng = np.random.default_rng(7)
    centres = np.array([[80.3, 90.6], [170.2, 180.9]])
    # an 8-bit camera with little noise: many neighbour differences are exactly 0
    image = frame(rng, centres, FAMILIES["dark_centre"], (256, 256), photons=100.0)
    image = np.clip(np.round(image / 2.0), 0, 255).astype(np.uint8)
    result = find_beads(image, ROI)
    assert len(result.accepted) == 2
    for c in result.accepted:
        assert np.min(np.hypot(centres[:, 0] - c.x, centres[:, 1] - c.y)) < 1.0


def test_rejections_carry_their_reason():
    rng = np.random.default_rng(6)
    # 0: near the left edge; 1 and 2: 40 px apart (ROIs overlap); 3, 4, 5: free
    centres = np.array([[20.3, 200.0], [150.2, 150.7], [190.6, 150.1], [300.4, 300.2],
                        [420.0, 100.5], [100.0, 420.0]])  # fmt: skip
    image = frame(rng, centres, FAMILIES["bright_rings"], (512, 512), photons=3000.0)
    result = find_beads(image, ROI, existing={7: (420.0, 140.0)})

    def reason(x, y):
        (c,) = [c for c in result.accepted + result.rejected if np.hypot(c.x - x, c.y - y) < 2]
        return c.reason

    assert reason(20, 200) == OUTSIDE
    assert reason(150, 151) == reason(191, 150) == "overlaps candidate"
    assert reason(420, 100) == "overlaps bead 7"
    assert reason(300, 300) is None and reason(100, 420) is None
    assert len(result.accepted) == 2
    assert [c.score for c in result.accepted] == sorted((c.score for c in result.accepted),
                                                         reverse=True)  # fmt: skip

    limited = find_beads(image, ROI, max_beads=1)
    assert len(limited.accepted) == 1
    assert [c.reason for c in limited.rejected].count("beyond max 1") == 2  # 3 without bead 7
    # the mean of several frames is searched; bad input is refused
    stacked = find_beads(np.stack([image, image + 1.0]), ROI, existing={7: (420.0, 140.0)})
    assert [(round(c.x), round(c.y)) for c in stacked.accepted] == [
        (round(c.x), round(c.y)) for c in result.accepted
    ]
    with pytest.raises(ValueError, match="frames must be"):
        find_beads(np.zeros(10), ROI)
