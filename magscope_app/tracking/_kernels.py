"""Compiled (numba) kernels of the tracker. Private: use :mod:`magscope_app.tracking`.

Conventions: ROIs are float64 (h, w) arrays; a centre ``(cx, cy)`` is (column, row) in pixels with
the origin at the centre of pixel (0, 0). The radial profile is a linear spline in ``r`` with
``n`` nodes ``r_k = k * dr``; it is fitted to the pixels by least squares (a tridiagonal system).
All kernels are serial: parallelism comes from running several tracking processes.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

# Failure codes of the xy fit (mapped to TrackFlags by the caller).
OK = 0
FAILED = 1


@njit(cache=True)
def line_pairs(stack, rows, cols):
    """Sums of pairs of neighbouring rows and of columns of ROIs (n, h, w), as lines.

    ``rows`` (n, h // 2, w): row 2i + row 2i + 1; ``cols`` (n, w // 2, h): column 2j + column
    2j + 1, each written as a line. A trailing odd row (column) is left out.
    """
    n, h, w = stack.shape
    for r in range(n):
        roi = stack[r]
        for i in range(h // 2):
            for j in range(w):
                rows[r, i, j] = roi[2 * i, j] + roi[2 * i + 1, j]
        for i in range(h):
            for j in range(w // 2):
                cols[r, j, i] = roi[i, 2 * j] + roi[i, 2 * j + 1]


@njit(cache=True)
def spectrum_power(spectra, out):
    """``out[r, f] = sum over lines of spectra[r, line, f]²`` (complex (n, k, nf) -> (n, nf)),
    with the lines' means (f = 0) left out."""
    n, k, nf = spectra.shape
    for r in range(n):
        out[r, 0] = 0.0
        for f in range(1, nf):
            out[r, f] = 0.0
        for i in range(k):
            for f in range(1, nf):
                v = spectra[r, i, f]
                out[r, f] += v * v


@njit(cache=True)
def _mirror_pair_sum(lines, means, s, lo, hi):
    """Sum of ``(v[j] - mean) * (v[s - j] - mean)`` over the lines ``v`` (rows of ``lines``,
    each with its own mean) and the ``j`` in [lo, hi) whose mirror ``s - j`` lies in the line."""
    k, m = lines.shape
    total = 0.0
    for i in range(k):
        v = lines[i]
        mean = means[i]
        for j in range(max(lo, s - m + 1), min(hi, s + 1)):
            total += (v[j] - mean) * (v[s - j] - mean)
    return total


@njit(cache=True)
def symmetry_centres(lines, corr, out):
    """Centres (px) of mirror symmetry of stacks of lines, from their circular correlations.

    ``lines`` (n, k, m): k lines (image rows, or sums of rows) of m pixels per ROI; ``corr``
    (n, m): for each shift s, ``sum over lines of sum_j v[j] v[(s - j) mod m]`` (each line's
    mean removed). Lines symmetric about c make ``corr`` peak at s = 2c; the peak is refined by
    a parabola through its neighbours. Of the two centres the circular correlation cannot tell
    apart (``s / 2`` and ``(s + m) / 2``), the one whose mirror pairs inside the lines agree
    best (largest sum of products) is written to ``out`` (n,); NaN when ``corr`` is not finite.
    """
    n_roi, k, m = lines.shape
    means = np.empty(k)
    for r in range(n_roi):
        c = corr[r]
        q = 0
        for t in range(1, m):
            if c[t] > c[q]:
                q = t
        cm = c[(q - 1) % m]
        c0 = c[q]
        cp = c[(q + 1) % m]
        if not math.isfinite(c0):  # NaN or infinite pixels: no guess, so no fit
            out[r] = np.nan
            continue
        d = cm - 2.0 * c0 + cp
        s = float(q)
        if d < 0.0:
            s += 0.5 * (cm - cp) / d
        for i in range(k):
            means[i] = lines[r, i].mean()
        # corr[q] sums the pairs adding up to q (pixels 0 .. q) and those adding up to q + m
        # (pixels q + 1 .. m - 1): sum the shorter part, the other is the rest
        if q + 1 <= m - q - 1:
            low = _mirror_pair_sum(lines[r], means, q, 0, q + 1)
            high = c0 - low
        else:
            high = _mirror_pair_sum(lines[r], means, q + m, q + 1, m)
            low = c0 - high
        out[r] = 0.5 * s if low >= high else 0.5 * (s + m)


@njit(cache=True)
def _solve_profile(n, reg, data_diag, off, rhs, coef, diag):
    """Add the first-difference penalty to the pixel normal equations and solve for ``coef``.

    ``data_diag`` (n), ``off`` (n - 1), ``rhs`` (n): the pixel sums (``off`` and ``rhs`` are
    overwritten); ``diag`` is a work array (n).
    """
    for k in range(n):
        diag[k] = data_diag[k]
    for k in range(n - 1):
        diag[k] += reg
        diag[k + 1] += reg
        off[k] -= reg
    # Thomas algorithm (symmetric tridiagonal): forward sweep then back substitution.
    for k in range(1, n):
        m = off[k - 1] / diag[k - 1]
        diag[k] -= m * off[k - 1]
        rhs[k] -= m * rhs[k - 1]
    coef[n - 1] = rhs[n - 1] / diag[n - 1]
    for k in range(n - 2, -1, -1):
        coef[k] = (rhs[k] - off[k] * coef[k + 1]) / diag[k]


@njit(cache=True, fastmath=True)
def fit_profile(roi, cx, cy, dr, n, reg, coef, data_diag, diag, off, rhs, ubuf):
    """Least-squares linear-spline radial profile about (cx, cy); writes ``coef`` (n,).

    ``data_diag`` receives the pixel part of the normal matrix diagonal. ``diag``, ``off``,
    ``rhs`` are work arrays of length n, n - 1, n; ``ubuf`` one of length >= w. A first-difference
    penalty of weight ``reg`` fixes nodes with no pixels.
    """
    h, w = roi.shape
    for k in range(n):
        data_diag[k] = 0.0
        rhs[k] = 0.0
    for k in range(n - 1):
        off[k] = 0.0
    nm1 = n - 1
    rmax = nm1 * dr
    rmax2 = rmax * rmax
    inv_dr = 1.0 / dr
    i0 = max(math.ceil(cy - rmax), 0)
    i1 = min(math.floor(cy + rmax) + 1, h)
    for i in range(i0, i1):
        dy = i - cy
        dy2 = dy * dy
        rem = rmax2 - dy2
        if rem < 0.0:
            continue
        half = math.sqrt(rem)
        j0 = max(math.ceil(cx - half), 0)
        j1 = min(math.floor(cx + half) + 1, w)
        # distances first (a loop the compiler vectorises), then the scatter into the nodes;
        # ubuf[q] belongs to column j0 + q
        m = j1 - j0
        for q in range(m):
            dx = j0 + q - cx
            ubuf[q] = math.sqrt(dx * dx + dy2) * inv_dr
        row = roi[i]
        for q in range(m):
            j = j0 + q
            u = ubuf[q]
            k = int(u)
            if k >= nm1:
                continue
            f = u - k
            g = 1.0 - f
            v = row[j]
            data_diag[k] += g * g
            data_diag[k + 1] += f * f
            off[k] += f * g
            rhs[k] += g * v
            rhs[k + 1] += f * v
    _solve_profile(n, reg, data_diag, off, rhs, coef, diag)


@njit(cache=True)
def _solve_tridiagonal(n, diag, off, rhs, ncols, cp, dp):
    """Solve the symmetric tridiagonal system (diag, off) for the columns of ``rhs`` in place.

    Uses the first n entries of each array; ``rhs`` is (>= n, ncols); ``cp``, ``dp`` are work
    arrays.
    """
    dp[0] = diag[0]
    for k in range(1, n):
        cp[k - 1] = off[k - 1] / dp[k - 1]
        dp[k] = diag[k] - cp[k - 1] * off[k - 1]
    for c in range(ncols):
        for k in range(1, n):
            rhs[k, c] -= cp[k - 1] * rhs[k - 1, c]
        rhs[n - 1, c] /= dp[n - 1]
        for k in range(n - 2, -1, -1):
            rhs[k, c] = (rhs[k, c] - off[k] * rhs[k + 1, c]) / dp[k]


@njit(cache=True, fastmath=True)
def _row_distances(cx, dy, rmax2, w, ubuf, ibuf):
    """Distances (px) from (cx, ·) of the pixels of one ROI row ``dy`` px from the centre that
    lie within ``sqrt(rmax2)`` of it: ``ubuf[q]`` the distance and ``ibuf[q]`` its inverse (0 at
    the centre) for column ``j0 + q``, q < m (a loop the compiler vectorises). Returns (j0, m);
    m = 0 for a row wholly outside the radius."""
    dy2 = dy * dy
    rem = rmax2 - dy2
    if rem < 0.0:
        return 0, 0
    half = math.sqrt(rem)
    j0 = max(math.ceil(cx - half), 0)
    m = max(min(math.floor(cx + half) + 1, w) - j0, 0)
    for q in range(m):
        dx = j0 + q - cx
        rho = math.sqrt(dx * dx + dy2)
        ubuf[q] = rho
        ibuf[q] = 1.0 / rho if rho > 1e-9 else 0.0
    return j0, m


@njit(cache=True, fastmath=True)
def joint_step(roi, cx, cy, dr, n, reg, coef, diag, off, rhs, cp, dp, bxs, bys, hred, ubuf, ibuf):
    """One joint Gauss–Newton step of the centre and the profile spline ``coef`` (in place).

    Model ``I(p) = S(|p - c|)`` with S the linear spline ``coef``; weights 1 / S (Poisson).
    The profile block (tridiagonal) is eliminated, so the centre step uses the reduced Hessian
    (it accounts for the profile following the centre, e.g. over partly covered outer annuli).
    Returns (dx, dy, ok, var): the step, whether it could be taken (not for an image without
    features), and the larger variance (px²) of the centre: the inverse reduced Hessian scaled
    by the reduced chi-square of the model at the current centre (whatever the camera's gain;
    a scale for the stopping rule only: model misfit inflates it and a fit to noise at a few
    photons per pixel deflates it). ``coef`` becomes the profile
    about the new centre (to first order in the step). ``rhs`` is (n, 3); ``ubuf``, ``ibuf``
    are work arrays (>= w). What :func:`chord_step` reuses is left behind: ``off``, ``cp``,
    ``dp`` (n,) the factorised profile block A, ``rhs[:, 1:]`` its solves A⁻¹B with the cross
    terms B (``bxs``, ``bys``), and ``hred`` (3,) the reduced centre Hessian (xx, xy, yy).
    """
    h, w = roi.shape
    for k in range(n):
        diag[k] = 0.0
        rhs[k, 0] = 0.0
        rhs[k, 1] = 0.0
        rhs[k, 2] = 0.0
    for k in range(n - 1):
        off[k] = 0.0
    nm1 = n - 1
    rmax = nm1 * dr
    rmax2 = rmax * rmax
    inv_dr = 1.0 / dr
    hxx = 0.0
    hxy = 0.0
    hyy = 0.0
    bx = 0.0
    by = 0.0
    chi2 = 0.0
    total = 0.0
    npix = 0
    i0 = max(math.ceil(cy - rmax), 0)
    i1 = min(math.floor(cy + rmax) + 1, h)
    for i in range(i0, i1):
        dy = i - cy
        j0, m = _row_distances(cx, dy, rmax2, w, ubuf, ibuf)
        row = roi[i]
        for q in range(m):
            j = j0 + q
            v = row[j]
            u = ubuf[q] * inv_dr
            k = int(u)
            if k >= nm1:
                continue
            f = u - k
            g = 1.0 - f
            c0 = coef[k]
            sl = coef[k + 1] - c0
            s = c0 + f * sl
            if s <= 0.0:
                continue
            wgt = 1.0 / s
            res = v - s
            chi2 += wgt * res * res
            total += s
            npix += 1
            wg = wgt * g
            wf = wgt * f
            diag[k] += wg * g
            diag[k + 1] += wf * f
            off[k] += wg * f
            rhs[k, 0] += wg * res
            rhs[k + 1, 0] += wf * res
            ds = sl * inv_dr * ibuf[q]  # 0 at the centre, where the direction is undefined
            gx = -ds * (j - cx)
            gy = -ds * dy
            rhs[k, 1] += wg * gx
            rhs[k + 1, 1] += wf * gx
            rhs[k, 2] += wg * gy
            rhs[k + 1, 2] += wf * gy
            wgx = wgt * gx
            wgy = wgt * gy
            hxx += wgx * gx
            hxy += wgx * gy
            hyy += wgy * gy
            bx += wgx * res
            by += wgy * res
    # first-difference penalty reg * sum (c[k+1] - c[k])^2 on the profile
    for k in range(n - 1):
        diag[k] += reg
        diag[k + 1] += reg
        off[k] -= reg
        d = reg * (coef[k + 1] - coef[k])
        rhs[k, 0] += d
        rhs[k + 1, 0] -= d
    for k in range(n):
        bxs[k] = rhs[k, 1]
        bys[k] = rhs[k, 2]
    _solve_tridiagonal(n, diag, off, rhs, 3, cp, dp)
    # Eliminate the profile: (H - B' A^-1 B) dc = b_c - B' A^-1 b_s, with B the cross terms.
    for k in range(n):
        x0 = rhs[k, 0]
        x1 = rhs[k, 1]
        x2 = rhs[k, 2]
        hxx -= bxs[k] * x1
        hxy -= bxs[k] * x2
        hyy -= bys[k] * x2
        bx -= bxs[k] * x0
        by -= bys[k] * x0
    det = hxx * hyy - hxy * hxy
    dof = npix - n - 2
    hred[0] = hxx
    hred[1] = hxy
    hred[2] = hyy
    # a featureless image: no curvature compared with its intensity (a scale-free test)
    if not (det > 0.0 and dof > 0 and min(hxx, hyy) > 1e-9 * total):
        return 0.0, 0.0, False, np.inf
    sx = (hyy * bx - hxy * by) / det
    sy = (hxx * by - hxy * bx) / det
    for k in range(n):
        coef[k] += rhs[k, 0] - rhs[k, 1] * sx - rhs[k, 2] * sy
    return sx, sy, True, chi2 / dof * max(hxx, hyy) / det


@njit(cache=True, fastmath=True)
def chord_step(roi, cx, cy, dr, n, reg, coef, off, ainvb, cp, dp, bxs, bys, hred, bs, ubuf, ibuf):
    """A Gauss–Newton step like :func:`joint_step` that reuses the previous step's Hessian.

    Only the gradient is computed anew at (cx, cy) (pixel residuals against ``coef``, the
    centre derivatives with the current slopes); the Hessian blocks are those :func:`joint_step`
    left behind (``off``, ``cp``, ``dp``, ``ainvb`` = its ``rhs``, ``bxs``, ``bys``, ``hred``),
    valid while the centre has moved little since (a chord method: it converges to the same fit
    as full steps, about twice as fast per step). ``bs`` is a work array (n,).
    Returns (dx, dy, ok, var) like :func:`joint_step`.
    """
    h, w = roi.shape
    for k in range(n):
        bs[k] = 0.0
    nm1 = n - 1
    rmax = nm1 * dr
    rmax2 = rmax * rmax
    inv_dr = 1.0 / dr
    bx = 0.0
    by = 0.0
    chi2 = 0.0
    npix = 0
    i0 = max(math.ceil(cy - rmax), 0)
    i1 = min(math.floor(cy + rmax) + 1, h)
    for i in range(i0, i1):
        dy = i - cy
        j0, m = _row_distances(cx, dy, rmax2, w, ubuf, ibuf)
        row = roi[i]
        for q in range(m):
            j = j0 + q
            u = ubuf[q] * inv_dr
            k = int(u)
            if k >= nm1:
                continue
            f = u - k
            c0 = coef[k]
            sl = coef[k + 1] - c0
            s = c0 + f * sl
            if s <= 0.0:
                continue
            res = row[j] - s
            wres = res / s
            chi2 += wres * res
            npix += 1
            bs[k] += wres * (1.0 - f)
            bs[k + 1] += wres * f
            ds = sl * inv_dr * ibuf[q]
            bx -= wres * ds * (j - cx)
            by -= wres * ds * dy
    for k in range(n - 1):
        d = reg * (coef[k + 1] - coef[k])
        bs[k] += d
        bs[k + 1] -= d
    # A⁻¹ b_s with the factorisation of A kept by joint_step (see _solve_tridiagonal)
    for k in range(1, n):
        bs[k] -= cp[k - 1] * bs[k - 1]
    bs[n - 1] /= dp[n - 1]
    for k in range(n - 2, -1, -1):
        bs[k] = (bs[k] - off[k] * bs[k + 1]) / dp[k]
    for k in range(n):
        bx -= bxs[k] * bs[k]
        by -= bys[k] * bs[k]
    hxx = hred[0]
    hxy = hred[1]
    hyy = hred[2]
    det = hxx * hyy - hxy * hxy
    dof = npix - n - 2
    if not (det > 0.0 and dof > 0):
        return 0.0, 0.0, False, np.inf
    sx = (hyy * bx - hxy * by) / det
    sy = (hxx * by - hxy * bx) / det
    for k in range(n):
        coef[k] += bs[k] - ainvb[k, 1] * sx - ainvb[k, 2] * sy
    return sx, sy, True, chi2 / dof * max(hxx, hyy) / det


@njit(cache=True)
def mark_uncovered(out, cx, cy, h, w, dr, n, min_coverage):
    """Set ``out[k]`` to NaN where less than ``min_coverage`` of the circle of radius k * dr
    about (cx, cy) lies inside the ROI (h, w). Arcs cut off by each edge are summed, so corner
    overlaps count twice (conservative)."""
    d0 = cx + 0.5
    d1 = w - 0.5 - cx
    d2 = cy + 0.5
    d3 = h - 0.5 - cy
    dmin = min(min(d0, d1), min(d2, d3))
    for k in range(n):
        r = k * dr
        if r <= dmin:
            continue
        outside = 0.0
        for d in (d0, d1, d2, d3):
            if r > d:
                outside += math.acos(max(d, 0.0) / r) / math.pi
        if 1.0 - outside < min_coverage:
            out[k] = np.nan


#: Largest step (px) after which the next step reuses the Hessian (:func:`chord_step`): the
#: pixels' spline segments, and so the Hessian, change little over a shorter step.
CHORD_MAX_STEP_PX = 0.25


@njit(cache=True)
def _fit_centre(
    roi, cx, cy, dr_xy, n_xy, reg, iterations, tolerance, tolerance_sigma, coef, data_diag, diag,
    off, rhs, rhs3, cp, dp, bxs, bys, hred, ubuf, ibuf,
):  # fmt: skip
    """Gauss–Newton steps of the xy fit from (cx, cy): the profile spline ``coef`` is fitted
    about (cx, cy) first, then steps are taken until one is shorter than ``tolerance`` px and
    than ``tolerance_sigma`` times the centre's standard error, or ``iterations`` times. A step
    after a short one reuses its Hessian (:func:`chord_step`), the others are full
    :func:`joint_step` s.
    Returns (cx, cy, ok).
    """
    h, w = roi.shape
    var = np.inf
    fit_profile(roi, cx, cy, dr_xy, n_xy, reg, coef, data_diag, diag, off, rhs, ubuf)
    chord = False
    for _ in range(iterations):
        if chord:
            sx, sy, good, var = chord_step(
                roi, cx, cy, dr_xy, n_xy, reg, coef, off, rhs3, cp, dp, bxs, bys, hred, rhs,
                ubuf, ibuf,
            )  # fmt: skip
        else:
            sx, sy, good, var = joint_step(
                roi, cx, cy, dr_xy, n_xy, reg, coef, diag, off, rhs3, cp, dp, bxs, bys, hred,
                ubuf, ibuf,
            )  # fmt: skip
        if not good or math.isnan(sx) or math.isnan(sy):
            return cx, cy, False
        step = math.sqrt(sx * sx + sy * sy)
        if step > 2.0:  # far from convergence: damp, and re-fit the profile
            sx *= 2.0 / step
            sy *= 2.0 / step
            cx += sx
            cy += sy
            fit_profile(roi, cx, cy, dr_xy, n_xy, reg, coef, data_diag, diag, off, rhs, ubuf)
        else:
            cx += sx
            cy += sy
        chord = step <= CHORD_MAX_STEP_PX
        if not (-0.5 <= cx <= w - 0.5 and -0.5 <= cy <= h - 0.5):
            return cx, cy, False
        if step < tolerance and step * step < tolerance_sigma * tolerance_sigma * var:
            break
    return cx, cy, True


@njit(cache=True)
def track_xy_profiles(
    rois,
    dr_xy,
    n_xy,
    dr,
    n,
    reg,
    iterations,
    tolerance,
    tolerance_sigma,
    guess_x,
    guess_y,
    guess_tolerance,
    min_coverage,
    xy0,
    out_x,
    out_y,
    out_profiles,
    out_status,
):
    """Track a stack of ROIs (n_roi, h, w): xy fit, then the radial profile about the centre.

    The xy fit is a joint Gauss–Newton fit of the centre and a profile spline with ``n_xy``
    nodes ``dr_xy`` apart on every pixel (see :func:`_fit_centre`), until a step is shorter than
    ``tolerance`` px and ``tolerance_sigma`` standard errors of the centre. It starts from
    ``xy0`` (n_roi, 2) when that row lies within ``guess_tolerance`` px of the symmetry guess
    (``guess_x``, ``guess_y``; an empty ``xy0`` means no starting centres), else from the
    guess. The fit fails when it ends farther than ``guess_tolerance`` from the guess (it left
    the bead's centre of symmetry for a local minimum). The output profile (``n`` nodes ``dr``
    apart) is fitted about the final centre.
    Writes ``out_x``, ``out_y`` (px), ``out_profiles`` (n_roi, n; NaN for nodes whose circle is
    less than ``min_coverage`` inside the ROI) and ``out_status``.
    """
    n_roi, h, w = rois.shape
    nw = max(n, n_xy)
    coef = np.empty(nw)
    coef_xy = np.empty(n_xy)
    data_diag = np.empty(nw)
    diag = np.empty(nw)
    off = np.empty(nw - 1)
    rhs = np.empty(nw)
    rhs3 = np.empty((n_xy, 3))
    cp = np.empty(nw)
    dp = np.empty(nw)
    bxs = np.empty(nw)
    bys = np.empty(nw)
    hred = np.empty(3)
    ubuf = np.empty(w)
    ibuf = np.empty(w)
    have_xy0 = xy0.shape[0] == n_roi
    tol2 = guess_tolerance * guess_tolerance
    for r in range(n_roi):
        roi = rois[r]
        gx = guess_x[r]
        gy = guess_y[r]
        cx = gx
        cy = gy
        if have_xy0 and (xy0[r, 0] - gx) ** 2 + (xy0[r, 1] - gy) ** 2 <= tol2:
            cx = xy0[r, 0]
            cy = xy0[r, 1]
        ok = not (math.isnan(cx) or math.isnan(cy))
        if ok:
            cx, cy, ok = _fit_centre(
                roi, cx, cy, dr_xy, n_xy, reg, iterations, tolerance, tolerance_sigma, coef_xy,
                data_diag, diag, off, rhs, rhs3, cp, dp, bxs, bys, hred, ubuf, ibuf,
            )  # fmt: skip
            ok = ok and (cx - gx) ** 2 + (cy - gy) ** 2 <= tol2
        if ok:
            fit_profile(roi, cx, cy, dr, n, reg, coef, data_diag, diag, off, rhs, ubuf)
            for k in range(n):
                out_profiles[r, k] = coef[k]
            mark_uncovered(out_profiles[r], cx, cy, h, w, dr, n, min_coverage)
            out_x[r] = cx
            out_y[r] = cy
            out_status[r] = OK
        else:
            out_x[r] = np.nan
            out_y[r] = np.nan
            for k in range(n):
                out_profiles[r, k] = np.nan
            out_status[r] = FAILED


@njit(cache=True)
def _wdot(u, v, valid, wd, wo):
    """Masked inner product u' W v with a symmetric tridiagonal W (diagonal wd, off-diagonal wo)."""
    n = u.shape[0]
    s = 0.0
    for k in range(n):
        if valid[k]:
            s += wd[k] * u[k] * v[k]
    for k in range(n - 1):
        if valid[k] and valid[k + 1]:
            s += wo[k] * (u[k] * v[k + 1] + u[k + 1] * v[k])
    return s


@njit(cache=True)
def _spline_eval(z, zk, lut, m2, j, out, dout):
    """Natural cubic spline of the LUT in z on interval j: values and d/dz per bin."""
    hz = zk[j + 1] - zk[j]
    a = (zk[j + 1] - z) / hz
    b = 1.0 - a
    ca = (a * a * a - a) * hz * hz / 6.0
    cb = (b * b * b - b) * hz * hz / 6.0
    da = -(3.0 * a * a - 1.0) * hz / 6.0
    db = (3.0 * b * b - 1.0) * hz / 6.0
    for k in range(lut.shape[1]):
        y0 = lut[j, k]
        y1 = lut[j + 1, k]
        out[k] = a * y0 + b * y1 + ca * m2[j, k] + cb * m2[j + 1, k]
        dout[k] = (y1 - y0) / hz + da * m2[j, k] + db * m2[j + 1, k]


@njit(cache=True)
def lookup_z(profiles, zk, lut, m2, wd, wo, wlut, lnorm, iterations, out_z):
    """Z of each profile (n_p, n_bins) against a LUT (m, n_bins) at ascending ``zk`` (m,).

    Model: profile = a * L(z), with L the natural cubic spline of the LUT in z (second
    derivatives ``m2``) and a free scale ``a``; fitted by weighted least squares with the
    tridiagonal precision (wd, wo) of the profile nodes (``wlut`` = W L_j and ``lnorm`` =
    L_j' W L_j, precomputed for profiles without NaN). The best plane seeds a Gauss–Newton fit
    in (a, z). NaN bins are ignored; z is NaN when the fit ends outside [zk[0], zk[-1]].
    """
    n_p, nb = profiles.shape
    m = zk.shape[0]
    valid = np.empty(nb, dtype=np.bool_)
    lz = np.empty(nb)
    dlz = np.empty(nb)
    for r in range(n_p):
        p = profiles[r]
        nvalid = 0
        for k in range(nb):
            valid[k] = not math.isnan(p[k])
            if valid[k]:
                nvalid += 1
        if nvalid < 3:
            out_z[r] = np.nan
            continue
        pp = _wdot(p, p, valid, wd, wo)
        best = np.inf
        jbest = 0
        if nvalid == nb:  # fast path: W L_j and L_j' W L_j precomputed
            for j in range(m):
                pl = 0.0
                for k in range(nb):
                    pl += p[k] * wlut[j, k]
                ll = lnorm[j]
                if ll <= 0.0:
                    continue
                chi2 = pp - pl * pl / ll
                if chi2 < best:
                    best = chi2
                    jbest = j
        else:
            for j in range(m):
                lj = lut[j]
                pl = _wdot(p, lj, valid, wd, wo)
                ll = _wdot(lj, lj, valid, wd, wo)
                if ll <= 0.0:
                    continue
                chi2 = pp - pl * pl / ll
                if chi2 < best:
                    best = chi2
                    jbest = j
        z = zk[jbest]
        zmin = zk[0]
        zmax = zk[m - 1]
        a = 1.0
        first = True
        clamped = False
        for _ in range(iterations):
            j = 0
            lo = 0
            hi = m - 2
            while lo <= hi:  # interval containing z
                mid = (lo + hi) // 2
                if zk[mid] <= z:
                    j = mid
                    lo = mid + 1
                else:
                    hi = mid - 1
            _spline_eval(z, zk, lut, m2, j, lz, dlz)
            ll = _wdot(lz, lz, valid, wd, wo)
            if first:
                a = _wdot(p, lz, valid, wd, wo) / ll
                first = False
            ld = _wdot(lz, dlz, valid, wd, wo)
            dd = _wdot(dlz, dlz, valid, wd, wo)
            pl = _wdot(p, lz, valid, wd, wo)
            pd = _wdot(p, dlz, valid, wd, wo)
            # gradient of 0.5 * |p - a L|^2 wrt (a, z), with Gauss-Newton Hessian
            ga = pl - a * ll
            gz = a * (pd - a * ld)
            haa = ll
            haz = a * ld
            hzz = a * a * dd
            det = haa * hzz - haz * haz
            if not det > 0.0:
                break
            da = (hzz * ga - haz * gz) / det
            dz = (haa * gz - haz * ga) / det
            hz = zk[min(j + 1, m - 1)] - zk[j]
            if dz > hz:
                dz = hz
            elif dz < -hz:
                dz = -hz
            a += da
            znew = z + dz
            clamped = False
            if znew < zmin:
                znew = zmin
                clamped = True
            elif znew > zmax:
                znew = zmax
                clamped = True
            step = abs(znew - z)
            z = znew
            if step < 1e-6 * hz and not clamped:
                break
        out_z[r] = np.nan if clamped else z


@njit(cache=True)
def profiles_at(rois, xs, ys, dr, n, reg, min_coverage, out_profiles):
    """Radial profiles (n_roi, n) of each ROI about given centres (px); NaN where not covered."""
    n_roi, h, w = rois.shape
    coef = np.empty(n)
    data_diag = np.empty(n)
    diag = np.empty(n)
    off = np.empty(n - 1)
    rhs = np.empty(n)
    ubuf = np.empty(w)
    for r in range(n_roi):
        if math.isnan(xs[r]) or math.isnan(ys[r]):
            for k in range(n):
                out_profiles[r, k] = np.nan
            continue
        fit_profile(rois[r], xs[r], ys[r], dr, n, reg, coef, data_diag, diag, off, rhs, ubuf)
        for k in range(n):
            out_profiles[r, k] = coef[k]
        mark_uncovered(out_profiles[r], xs[r], ys[r], h, w, dr, n, min_coverage)
