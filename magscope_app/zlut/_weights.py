"""The tracker's bin weights of a LUT, shared by the quality measures and the motion measure."""

from __future__ import annotations

import numpy as np

from magscope_app.tracking import ZLUT, profile_gram


class ProfileWeights:
    """The tracker's bin weights ``W`` for one LUT (tridiagonal: the profile spline's Gram matrix
    over the LUT's mean intensity, see :func:`magscope_app.tracking.profile_gram`), and quadratic
    forms with it. Under photon noise one row's profile has covariance ``s² W⁻¹``."""

    def __init__(self, lut: ZLUT) -> None:
        gd, go = profile_gram(lut.settings)
        mu = np.abs(lut.profiles.mean(axis=0))
        mu = np.maximum(mu, 1e-6 * max(float(mu.max()), 1e-300))
        self.wd = gd / mu
        self.wo = go / np.sqrt(mu[:-1] * mu[1:])
        self.n_bins = mu.size

    def dot(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """Row-wise ``aᵀ W b`` of (…, n_bins) arrays."""
        return (
            np.sum(self.wd * a * b, axis=-1)
            + np.sum(self.wo * a[..., :-1] * b[..., 1:], axis=-1)
            + np.sum(self.wo * a[..., 1:] * b[..., :-1], axis=-1)
        )

    def perp_sq(self, v: np.ndarray, ref: np.ndarray) -> np.ndarray:
        """Squared W-norm of ``v`` without its component along ``ref`` (row-wise)."""
        return self.dot(v, v) - self.dot(v, ref) ** 2 / self.dot(ref, ref)
