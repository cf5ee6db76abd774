"""XY tracking: a point-symmetry first guess refined by a Gauss–Newton fit of the radial model."""

from __future__ import annotations

import numpy as np

from . import _kernels
from .profiles import _as_stack, _checked_stack
from .settings import TrackingSettings

_NO_XY0 = np.empty((0, 2))
#: ROIs tracked per batch: small batches keep the work arrays (a float copy of the ROIs, the
#: FFTs of the first guess) in the cache and reused by the allocator; whole stacks of 100 ROIs
#: at once cost twice as much, mostly in page faults.
_CHUNK = 16


def _as_xy0(xy0, n: int) -> np.ndarray:
    if xy0 is None:
        return _NO_XY0
    arr = np.ascontiguousarray(xy0, dtype=np.float64)
    if arr.shape == (2,) and n == 1:
        arr = arr[None]
    if arr.shape != (n, 2):
        raise ValueError(f"xy0 must have shape ({n}, 2) (x, y per ROI), got {arr.shape}")
    return arr


def symmetry_centres(rois: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Centres of point symmetry of ROIs (n, h, w): the first guess of :func:`track_xy`.

    Each row of a radially symmetric image is mirror-symmetric about the bead's x (and so is
    any sum of rows), each column about its y. The correlation of pairs of rows with their
    mirror images (by FFT, summed over the ROI) therefore peaks at twice x, and likewise for y;
    the peak is refined to sub-pixel by a parabola. Only the symmetry is used: bright or dark
    centres and any ring period (down to ~3.5 px) give the same result.
    Returns (x, y) in px, float64 (n,) each; typically within 0.02–0.3 px of the bead centre.
    """
    stack = _as_stack(rois)
    n, h, w = stack.shape
    # pairs of rows (columns) summed: half the FFTs; rings of 3.5 px period stay resolved
    row_pairs = np.empty((n, h // 2, w))
    col_pairs = np.empty((n, w // 2, h))
    _kernels.line_pairs(stack, row_pairs, col_pairs)
    x = np.empty(n)
    y = np.empty(n)
    for lines, out in ((row_pairs, x), (col_pairs, y)):
        spectra = np.fft.rfft(lines, axis=2)
        power = np.empty((n, spectra.shape[2]), dtype=spectra.dtype)
        _kernels.spectrum_power(spectra, power)
        corr = np.fft.irfft(power, n=lines.shape[2], axis=-1)
        _kernels.symmetry_centres(lines, corr, out)
    return x, y


def track_xy(
    rois: np.ndarray,
    settings: TrackingSettings | None = None,
    *,
    xy0: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Bead centres and radial profiles of a stack of ROIs.

    ``rois``: (n, h, w) of any integer or float dtype (one ROI (h, w) is accepted too).
    ``xy0``: optional (n, 2) starting centres (x, y) in px, e.g. the previous frame's result of
    each bead; rows with NaN, or farther than ``settings.guess_tolerance_px`` from the symmetry
    centre, start from the symmetry centre.

    Method: the centre of point symmetry of the image (:func:`symmetry_centres`, whatever the
    bead looks like), then Gauss–Newton steps of a Poisson-weighted least-squares fit of
    ``I(p) = S(|p - c|)`` on every pixel, where the radial profile ``S`` (a linear spline) is
    fitted jointly with the centre ``c``. Radial symmetry is the only assumption, so no
    calibration is needed. The output profile is fitted about the final centre
    (:func:`radial_profiles`).

    Returns ``(x, y, profiles, failed)``: x (column) and y (row) in px with the origin at the
    centre of pixel (0, 0), float64 (n,), NaN where the fit failed; profiles (n, n_bins) about
    the fitted centres; failed, bool (n,): a featureless or singular fit, the centre left the
    ROI, or the fit ended more than ``settings.guess_tolerance_px`` from the symmetry centre (a
    local minimum of the radial model: flagged rather than returned wrong).
    """
    settings = settings or TrackingSettings()
    stack = _checked_stack(rois)
    n = stack.shape[0]
    starts = _as_xy0(xy0, n)
    x = np.empty(n)
    y = np.empty(n)
    profiles = np.empty((n, settings.n_bins))
    status = np.empty(n, dtype=np.int8)
    for i in range(0, n, _CHUNK):
        part = slice(i, i + _CHUNK)
        rois_part = np.ascontiguousarray(stack[part], dtype=np.float64)
        guess_x, guess_y = symmetry_centres(rois_part)
        _kernels.track_xy_profiles(
            rois_part,
            settings.xy_step_px,
            settings.n_xy_nodes,
            settings.radial_step_px,
            settings.n_bins,
            settings.profile_regularization,
            settings.xy_iterations,
            settings.xy_tolerance_px,
            settings.xy_tolerance_sigma,
            guess_x,
            guess_y,
            settings.guess_tolerance_px,
            settings.min_coverage,
            starts[part] if len(starts) else starts,
            x[part],
            y[part],
            profiles[part],
            status[part],
        )
    return x, y, profiles, status != _kernels.OK
