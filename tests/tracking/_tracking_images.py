"""Test images from the simulated microscope's optics model, and their Cramér–Rao bounds."""

from __future__ import annotations

import numpy as np
from magscope_app.hardware.simulated.optics import expected_roi

SHAPE = (64, 64)
CENTRE = 31.5  # centre of a 64-px ROI in pixel coordinates


def noisy_rois(rng, xs, ys, z_nm, background, shape=SHAPE) -> np.ndarray:
    """Poisson-noise ROIs (n, h, w), int64, of beads at (xs[i], ys[i]) px and height(s) z_nm."""
    zs = np.broadcast_to(np.asarray(z_nm, dtype=float), np.shape(xs))
    mean = np.stack(
        [expected_roi(shape, x, y, z, background) for x, y, z in zip(xs, ys, zs, strict=True)]
    )
    return rng.poisson(mean)


def random_centres(rng, n, spread=0.5, offset=(0.0, 0.0)):
    """n centres uniformly within +-spread px of the ROI centre (+ offset), as (xs, ys)."""
    xs = CENTRE + offset[0] + rng.uniform(-spread, spread, n)
    ys = CENTRE + offset[1] + rng.uniform(-spread, spread, n)
    return xs, ys


def crlb_xyz(x, y, z_nm, background, shape=SHAPE) -> np.ndarray:
    """Cramér–Rao bounds (std) of (x px, y px, z nm) for one Poisson image of the model.

    Fisher information I_ij = sum over pixels of d(mu)/d(theta_i) d(mu)/d(theta_j) / mu, with
    central-difference derivatives of the expected image.
    """
    hxy, hz = 1e-3, 0.5

    def mu(dx=0.0, dy=0.0, dz=0.0):
        return expected_roi(shape, x + dx, y + dy, z_nm + dz, background)

    m = mu()
    grads = [
        (mu(dx=hxy) - mu(dx=-hxy)) / (2 * hxy),
        (mu(dy=hxy) - mu(dy=-hxy)) / (2 * hxy),
        (mu(dz=hz) - mu(dz=-hz)) / (2 * hz),
    ]
    fisher = np.array([[np.sum(a * b / m) for b in grads] for a in grads])
    return np.sqrt(np.diag(np.linalg.inv(fisher)))
