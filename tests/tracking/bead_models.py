"""Bead-image families written to test the tracker (independent of the simulator's renderer).

Each family is a radially symmetric intensity ``background * f(r, z)`` sampled at pixel centres,
with ``f = 1`` far from the bead; ``z`` (nm) runs from focus (0) to the far end of the LUT range
(:data:`Z_RANGE_NM`), and the rings change with it so that a Z-LUT can tell heights apart:

* ``bright_bessel``: bright centre, Bessel (J0) rings whose period (8–13 px) and Gaussian
  envelope grow with defocus;
* ``dark_bessel``: the same kind of rings with a dark centre (period 8.5–13 px);
* ``large_sphere``: a dark centre with cosine rings whose period (17–25 px) is larger than a
  quarter of a 64-px ROI (the first dark ring is wider than any smoothing window);
* ``low_contrast``: Fresnel-like chirped rings (phase ``pi r^2 / q(z)`` plus a phase that turns
  the centre from bright to dark and back over the range) at contrast 0.1.

Ring periods stay above ~7 px where the envelope is bright: finer rings are still tracked
without loss at 1,000 and 10,000 photons/px (and within 1.25 x the bound at 1,000), but at
10,000 the tracker's linear-spline radial model limits the xy precision to 1.4–1.7 x the bound
for periods of 5–6 px and about 4 x for 3.5–4 px.

Coordinates: x = column, y = row, px, origin at the centre of pixel (0, 0). Everything is
vectorised over beads: ``expected_rois`` makes (n, h, w) float64 images in one call. The
Cramér–Rao bound is computed from the model's Fisher information with numerical derivatives of
the expected counts (:func:`crlb_xyz`). Used by tests/tracking/test_bead_models.py and
scripts/bench_tracking_models.py.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from magscope_app.tracking import ZLUT, TrackingSettings, make_zlut, track_xyz

SHAPE = (64, 64)
CENTRE = 31.5  # centre of a 64-px ROI in pixel coordinates
Z_RANGE_NM = (0.0, 2000.0)
#: The z bands the statistics are given for (nm).
Z_BANDS = tuple((z, z + 250.0) for z in np.arange(0.0, 2000.0, 250.0))
#: Planes of the Z-LUTs: the whole range and a little beyond, so that z stays inside it.
LUT_PLANES_NM = np.arange(-100.0, 2100.1, 20.0)
#: Bead offsets from the ROI centre (px, each of x and y uniform in +-this).
MAX_OFFSET_PX = 3.0


def bessel_j0(x: np.ndarray) -> np.ndarray:
    """J0(x) to ~1e-7 (Abramowitz & Stegun 9.4.1 and 9.4.3), any array shape."""
    x = np.abs(np.asarray(x, dtype=np.float64))
    out = np.empty_like(x)
    small = x <= 3.0
    t = (x[small] / 3.0) ** 2
    out[small] = 1.0 + t * (
        -2.2499997
        + t * (1.2656208 + t * (-0.3163866 + t * (0.0444479 + t * (-0.0039444 + t * 0.00021))))
    )
    xl = x[~small]
    u = 3.0 / xl
    f0 = 0.79788456 + u * (
        -0.00000077
        + u
        * (-0.0055274 + u * (-0.00009512 + u * (0.00137237 + u * (-0.00072805 + u * 0.00014476))))
    )
    theta = (
        xl
        - 0.78539816
        + u
        * (
            -0.04166397
            + u
            * (
                -0.00003954
                + u * (0.00262573 + u * (-0.00054125 + u * (-0.00029333 + u * 0.00013558)))
            )
        )
    )
    out[~small] = f0 * np.cos(theta) / np.sqrt(xl)
    return out


@dataclass(frozen=True)
class BeadModel:
    """One family: ``f(r, z) = 1 + sign * contrast * envelope(r, z) * rings(r, z)``.

    ``kind``: "bessel" (J0(2 pi r / period)), "cosine" (cos(2 pi r / period)) or "chirp"
    (cos(pi r^2 / chirp_q + pi z / 1000)). Period (px), envelope 1/e half-width (px) and the chirp
    scale ``chirp_q`` (px²) grow linearly from their value at z = 0 to the one at z = 2,000 nm.
    """

    name: str
    kind: str
    sign: float
    contrast: float
    period_px: tuple[float, float] = (0.0, 0.0)
    envelope_px: tuple[float, float] = (8.0, 16.0)
    chirp_q_px2: tuple[float, float] = (0.0, 0.0)

    def relative_intensity(self, r_px: np.ndarray, z_nm: np.ndarray) -> np.ndarray:
        """``f(r, z)``: intensity relative to the background; z broadcasts against r."""
        s = np.asarray(z_nm, dtype=np.float64) / (Z_RANGE_NM[1] - Z_RANGE_NM[0])

        def grow(pair):
            return pair[0] + (pair[1] - pair[0]) * s

        width = grow(self.envelope_px)
        envelope = np.exp(-np.square(r_px) / (2.0 * np.square(width)))
        if self.kind == "bessel":
            rings = bessel_j0(2.0 * np.pi * r_px / grow(self.period_px))
        elif self.kind == "cosine":
            rings = np.cos(2.0 * np.pi * r_px / grow(self.period_px))
        elif self.kind == "chirp":
            rings = np.cos(np.pi * np.square(r_px) / grow(self.chirp_q_px2) + np.pi * s * 2.0)
        else:
            raise ValueError(f"unknown kind {self.kind!r}")
        return 1.0 + self.sign * self.contrast * envelope * rings

    def expected_rois(self, xs, ys, zs, background: float, shape=SHAPE) -> np.ndarray:
        """Expected photons per pixel (n, h, w) of beads at (xs, ys) px and heights zs (nm)."""
        xs, ys, zs = np.broadcast_arrays(
            *(np.atleast_1d(np.asarray(a, dtype=np.float64)) for a in (xs, ys, zs))
        )
        rows = np.arange(shape[0], dtype=np.float64)[None, :, None]
        cols = np.arange(shape[1], dtype=np.float64)[None, None, :]
        r = np.hypot(cols - xs[:, None, None], rows - ys[:, None, None])
        return background * self.relative_intensity(r, zs[:, None, None])

    def noisy_rois(self, rng, xs, ys, zs, background: float, shape=SHAPE) -> np.ndarray:
        """Poisson-noise ROIs (n, h, w), int64."""
        return rng.poisson(self.expected_rois(xs, ys, zs, background, shape))

    def crlb_xyz(self, xs, ys, zs, background: float, shape=SHAPE) -> np.ndarray:
        """Cramér–Rao bounds (std) of (x px, y px, z nm), shape (n, 3), one per bead.

        Fisher information ``I_ij = sum over pixels d(mu)/d(theta_i) d(mu)/d(theta_j) / mu`` of
        the expected counts ``mu``, with central-difference derivatives.
        """
        xs, ys, zs = (np.atleast_1d(np.asarray(a, dtype=np.float64)) for a in (xs, ys, zs))
        hxy, hz = 1e-3, 0.5
        mu = self.expected_rois(xs, ys, zs, background, shape)
        grads = [
            (self.expected_rois(xs + hxy, ys, zs, background, shape)
             - self.expected_rois(xs - hxy, ys, zs, background, shape)) / (2 * hxy),
            (self.expected_rois(xs, ys + hxy, zs, background, shape)
             - self.expected_rois(xs, ys - hxy, zs, background, shape)) / (2 * hxy),
            (self.expected_rois(xs, ys, zs + hz, background, shape)
             - self.expected_rois(xs, ys, zs - hz, background, shape)) / (2 * hz),
        ]  # fmt: skip
        fisher = np.empty((xs.size, 3, 3))
        for i in range(3):
            for j in range(i, 3):
                fisher[:, i, j] = fisher[:, j, i] = np.sum(grads[i] * grads[j] / mu, axis=(1, 2))
        return np.sqrt(np.diagonal(np.linalg.inv(fisher), axis1=1, axis2=2))


MODELS = {
    m.name: m
    for m in (
        BeadModel("bright_bessel", "bessel", +1.0, 0.5, period_px=(8, 13), envelope_px=(6, 14)),
        BeadModel("dark_bessel", "bessel", -1.0, 0.5, period_px=(8.5, 13), envelope_px=(7, 16)),
        BeadModel("large_sphere", "cosine", -1.0, 0.5, period_px=(17, 25), envelope_px=(11, 18)),
        BeadModel("low_contrast", "chirp", +1.0, 0.1, envelope_px=(10, 18), chirp_q_px2=(45, 90)),
    )
}


def random_beads(rng, n: int, z_band: tuple[float, float], max_offset_px: float = MAX_OFFSET_PX):
    """n beads uniformly within +-max_offset_px of the ROI centre in x and y and uniformly in
    the z band (nm): (xs, ys, zs)."""
    xs = CENTRE + rng.uniform(-max_offset_px, max_offset_px, n)
    ys = CENTRE + rng.uniform(-max_offset_px, max_offset_px, n)
    zs = rng.uniform(z_band[0], z_band[1], n)
    return xs, ys, zs


def model_zlut(model: BeadModel, settings: TrackingSettings | None = None) -> ZLUT:
    """A Z-LUT of ``model`` like a focus sweep without noise: per plane of
    :data:`LUT_PLANES_NM`, the profiles of four images (the bead at the ROI centre and half a
    pixel off in x, y and both) averaged, made with the project's profile code (make_zlut)."""
    dx = np.array([0.0, 0.5, 0.0, 0.5])
    dy = np.array([0.0, 0.0, 0.5, 0.5])
    stacks = [
        model.expected_rois(CENTRE + dx, CENTRE + dy, np.full(4, z), 1000.0) for z in LUT_PLANES_NM
    ]
    return make_zlut(LUT_PLANES_NM, stacks, settings)


@dataclass(frozen=True)
class BandStats:
    """Tracking statistics of one family, photon level and z band (see :func:`evaluate`).

    ``lost``: fraction of ROIs whose xy is NaN or more than 0.5 px off. ``wrong``: ROIs whose
    xy fit (without the checks that flag it) ends more than 0.5 px off; ``wrong_unflagged``: of
    those, the ones returned without FIT_FAILED. ``xy_ratio``, ``z_ratio``: std of the error
    over the Cramér–Rao bound (the larger of x and y); ``xy_bias`` (px, larger of x and y),
    ``z_bias`` (nm): mean errors; ``z_nan``: fraction of NaN z among the tracked ROIs.
    """

    z_band: tuple[float, float]
    n: int
    lost: float
    wrong: int
    wrong_unflagged: int
    xy_ratio: float
    z_ratio: float
    xy_bias: float
    z_bias: float
    z_nan: float


def evaluate(
    model: BeadModel, background: float, n_per_band: int, seed: int, lut: ZLUT | None = None
) -> list[BandStats]:
    """Track ``n_per_band`` noisy ROIs per z band (random offsets within +-3 px) and compare
    with the truth and with the Cramér–Rao bound (from 32 of the band's beads: the root mean
    square of their bounds)."""
    rng = np.random.default_rng(seed)
    lut = lut or model_zlut(model)
    unchecked = replace(lut.settings, guess_tolerance_px=np.inf)
    out = []
    for band in Z_BANDS:
        xs, ys, zs = random_beads(rng, n_per_band, band)
        rois = model.noisy_rois(rng, xs, ys, zs, background)
        res = track_xyz(rois, lut)
        raw = track_xyz(rois, lut, settings=unchecked)
        err = np.hypot(res.x - xs, res.y - ys)
        wrong = np.hypot(raw.x - xs, raw.y - ys) > 0.5
        crlb = model.crlb_xyz(xs[:32], ys[:32], zs[:32], background)
        bound = np.sqrt(np.mean(np.square(crlb), axis=0))
        ok = res.ok
        ex, ey, ez = (res.x - xs)[ok], (res.y - ys)[ok], (res.z - zs)[ok]
        z_ok = np.isfinite(ez)
        out.append(
            BandStats(
                z_band=band,
                n=n_per_band,
                lost=float(np.mean(~(err <= 0.5))),
                wrong=int(np.sum(wrong)),
                wrong_unflagged=int(np.sum(wrong & ok)),
                xy_ratio=float(max(np.std(ex), np.std(ey)) / bound[0]),
                z_ratio=float(np.std(ez[z_ok]) / bound[2]),
                xy_bias=float(max(abs(np.mean(ex)), abs(np.mean(ey)))),
                z_bias=float(np.mean(ez[z_ok])),
                z_nan=float(np.mean(~z_ok)),
            )
        )
    return out
