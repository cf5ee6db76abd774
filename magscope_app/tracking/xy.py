"""XY tracking: a dark-spot first guess refined by a Gauss–Newton fit of the radial model."""

from __future__ import annotations

import numpy as np

from . import _kernels
from .profiles import _as_stack
from .settings import TrackingSettings

#: The coarse stage of the xy fit (every other row and column, a quarter of the pixels) runs
#: until a step is shorter than this (px); the fit then continues on every pixel.
_COARSE_TOLERANCE_PX = 0.1
#: ... and uses the pixels within this fraction of ``xy_radius_px`` only (the central rings
#: centre the bead well enough for the full fit, at a third of the cost per step).
_COARSE_RADIUS_FRACTION = 0.5
_NO_XY0 = np.empty((0, 2))


def _as_xy0(xy0, n: int) -> np.ndarray:
    if xy0 is None:
        return _NO_XY0
    arr = np.ascontiguousarray(xy0, dtype=np.float64)
    if arr.shape == (2,) and n == 1:
        arr = arr[None]
    if arr.shape != (n, 2):
        raise ValueError(f"xy0 must have shape ({n}, 2) (x, y per ROI), got {arr.shape}")
    return arr


def track_xy(
    rois: np.ndarray,
    settings: TrackingSettings | None = None,
    *,
    xy0: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Bead centres and radial profiles of a stack of ROIs.

    ``rois``: (n, h, w) of any integer or float dtype (one ROI (h, w) is accepted too).
    ``xy0``: optional (n, 2) starting centres (x, y) in px, e.g. the previous frame's result of
    each bead; rows with NaN (or outside the ROI) use the first guess below.

    Method: the darkest point of the box-filtered image, refined by a thresholded centroid of the
    central dark spot (robust anywhere in the ROI), then Gauss–Newton steps of a Poisson-weighted
    least-squares fit of ``I(p) = S(|p - c|)``, where the radial profile ``S`` is re-fitted to the
    image about each new centre (a linear spline, see :func:`radial_profiles`). Radial symmetry
    is the only assumption, so no calibration is needed. The first steps use every other row
    and column within half the fit radius; the steps that set the result use every pixel. The
    output profile is fitted about the final centre.

    Returns ``(x, y, profiles, failed)``: x (column) and y (row) in px with the origin at the
    centre of pixel (0, 0), float64 (n,), NaN where the fit failed; profiles (n, n_bins) about
    the fitted centres; failed, bool (n,): no dark spot, a singular fit, or the centre left the ROI.
    """
    settings = settings or TrackingSettings()
    stack = _as_stack(rois)
    n = stack.shape[0]
    x = np.empty(n)
    y = np.empty(n)
    profiles = np.empty((n, settings.n_bins))
    status = np.empty(n, dtype=np.int8)
    _kernels.track_xy_profiles(
        stack,
        settings.xy_step_px,
        settings.n_xy_nodes,
        settings.radial_step_px,
        settings.n_bins,
        settings.profile_regularization,
        settings.xy_iterations,
        settings.xy_tolerance_px,
        _COARSE_TOLERANCE_PX,
        min(settings.n_xy_nodes, round(_COARSE_RADIUS_FRACTION * (settings.n_xy_nodes - 1)) + 1),
        settings.guess_smooth_px,
        float(settings.guess_window_px),
        settings.min_coverage,
        _as_xy0(xy0, n),
        x,
        y,
        profiles,
        status,
    )
    return x, y, profiles, status != _kernels.OK
