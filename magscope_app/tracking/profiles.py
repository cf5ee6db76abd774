"""Sub-pixel radial profiles: a least-squares linear spline in the distance from the centre."""

from __future__ import annotations

import numpy as np

from . import _kernels
from .settings import TrackingSettings


def _checked_stack(rois: np.ndarray) -> np.ndarray:
    """``rois`` as an (n, h, w) array of its own dtype (no copy); validates shape and dtype."""
    arr = np.asarray(rois)
    if arr.ndim == 2:
        arr = arr[None]
    if arr.ndim != 3:
        raise ValueError(f"rois must have shape (n, h, w), got {arr.shape}")
    if arr.shape[1] < 4 or arr.shape[2] < 4:
        raise ValueError(f"ROIs must be at least 4 x 4 pixels, got {arr.shape[1:]}")
    if not (np.issubdtype(arr.dtype, np.integer) or np.issubdtype(arr.dtype, np.floating)):
        raise ValueError(f"rois must be of an integer or float dtype, got {arr.dtype}")
    return arr


def _as_stack(rois: np.ndarray) -> np.ndarray:
    """(n, h, w) float64 C-contiguous view or copy of ``rois``; validates the shape."""
    return np.ascontiguousarray(_checked_stack(rois), dtype=np.float64)


def profile_gram(settings: TrackingSettings) -> tuple[np.ndarray, np.ndarray]:
    """Normal matrix of the profile spline for a fully covered disc, per unit pixel density.

    Returns (diag (n_bins,), off (n_bins - 1,)): the tridiagonal Gram matrix of the linear-spline
    basis under a uniform pixel density (pixels per px²). The inverse is, up to the noise
    variance, the covariance of a profile; Z-LUT look-ups use it as the precision of the nodes.
    """
    n = settings.n_bins
    dr = settings.radial_step_px
    r = settings.radii_px
    diag = 2 * np.pi * r * dr * (2.0 / 3.0)
    diag[0] = 2 * np.pi * dr * dr / 12.0
    diag[-1] = 2 * np.pi * (r[-1] * dr / 3.0 - dr * dr / 12.0)
    off = 2 * np.pi * (r[: n - 1] * dr / 6.0 + dr * dr / 12.0)
    return diag, off


def radial_profiles(
    rois: np.ndarray, x: np.ndarray, y: np.ndarray, settings: TrackingSettings | None = None
) -> np.ndarray:
    """Radial profiles of ROIs (n, h, w) about centres ``x`` (column), ``y`` (row) in px.

    Returns float64 (n, settings.n_bins): the profile's value (ROI intensity unit) at radii
    ``settings.radii_px``; NaN at nodes whose annulus lies mostly outside the ROI, and for NaN
    centres. This is the same code live tracking uses about its fitted centres.
    """
    settings = settings or TrackingSettings()
    stack = _as_stack(rois)
    xs = np.ascontiguousarray(np.broadcast_to(np.asarray(x, np.float64), stack.shape[:1]))
    ys = np.ascontiguousarray(np.broadcast_to(np.asarray(y, np.float64), stack.shape[:1]))
    out = np.empty((stack.shape[0], settings.n_bins))
    _kernels.profiles_at(
        stack,
        xs,
        ys,
        settings.radial_step_px,
        settings.n_bins,
        settings.profile_regularization,
        settings.min_coverage,
        out,
    )
    return out
