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
def first_guess(roi, half, window, integ):
    """Centre of the dark central spot of a ring image: (cx, cy), or NaNs.

    The image is box-filtered (half-width ``half`` px); the darkest point is refined by three
    passes of a centroid of ``max(0, threshold - I)`` within ``window`` px, where the threshold
    lies halfway between the darkest smoothed value and the ROI mean (the background).
    ``integ`` is a work array (>= h + 2, >= w + 1) for the integral image.
    """
    h, w = roi.shape
    for j in range(w + 1):
        integ[0, j] = 0.0
    for i in range(1, h + 1):
        integ[i, 0] = 0.0
    total = 0.0
    for i in range(h):
        row = 0.0
        for j in range(w):
            row += roi[i, j]
            integ[i + 1, j + 1] = integ[i, j + 1] + row
        total += row
    mean = total / (h * w)
    best = np.inf
    bi = h // 2
    bj = w // 2
    vals = integ[h + 1]  # one row of box means
    for i in range(h):
        i0 = max(i - half, 0)
        i1 = min(i + half + 1, h)
        top = integ[i0]
        bottom = integ[i1]
        inv_rows = 1.0 / (i1 - i0)
        # interior columns: a full box, a loop without divisions that vectorises
        inv_area = inv_rows / (2 * half + 1)
        for j in range(half, w - half):
            vals[j] = bottom[j + half + 1] - top[j + half + 1] - bottom[j - half] + top[j - half]
            vals[j] *= inv_area
        for j in range(min(half, w)):  # the edge columns, with a clipped box
            for jj in (j, w - 1 - j):
                j0 = max(jj - half, 0)
                j1 = min(jj + half + 1, w)
                vals[jj] = (bottom[j1] - top[j1] - bottom[j0] + top[j0]) * inv_rows / (j1 - j0)
        for j in range(w):
            if vals[j] < best:
                best = vals[j]
                bi = i
                bj = j
    thr = 0.5 * (best + mean)
    cx = float(bj)
    cy = float(bi)
    r2max = window * window
    for _ in range(3):
        i0 = max(math.floor(cy - window), 0)
        i1 = min(math.ceil(cy + window) + 1, h)
        j0 = max(math.floor(cx - window), 0)
        j1 = min(math.ceil(cx + window) + 1, w)
        sw = 0.0
        sx = 0.0
        sy = 0.0
        for i in range(i0, i1):
            dy = i - cy
            for j in range(j0, j1):
                dx = j - cx
                if dx * dx + dy * dy > r2max:
                    continue
                d = thr - roi[i, j]
                if d > 0.0:
                    sw += d
                    sx += d * j
                    sy += d * i
        if sw <= 0.0:
            return np.nan, np.nan
        cx = sx / sw
        cy = sy / sw
    return cx, cy


@njit(cache=True)
def _aligned(start, stride):
    """Smallest multiple of ``stride`` >= ``start`` (start >= 0)."""
    return ((start + stride - 1) // stride) * stride


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
def fit_profile(roi, cx, cy, dr, n, reg, coef, data_diag, diag, off, rhs, ubuf, stride):
    """Least-squares linear-spline radial profile about (cx, cy); writes ``coef`` (n,).

    Uses the pixels whose row and column are multiples of ``stride`` (1: every pixel).
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
    i0 = _aligned(max(math.ceil(cy - rmax), 0), stride)
    i1 = min(math.floor(cy + rmax) + 1, h)
    for i in range(i0, i1, stride):
        dy = i - cy
        dy2 = dy * dy
        rem = rmax2 - dy2
        if rem < 0.0:
            continue
        half = math.sqrt(rem)
        j0 = _aligned(max(math.ceil(cx - half), 0), stride)
        j1 = min(math.floor(cx + half) + 1, w)
        # distances first (a loop the compiler vectorises), then the scatter into the nodes;
        # ubuf[q] belongs to column j0 + q * stride
        m = (j1 - j0 + stride - 1) // stride
        for q in range(m):
            dx = j0 + q * stride - cx
            ubuf[q] = math.sqrt(dx * dx + dy2) * inv_dr
        row = roi[i]
        for q in range(m):
            j = j0 + q * stride
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
def joint_step(roi, cx, cy, dr, n, reg, coef, diag, off, rhs, cp, dp, bxs, bys, ubuf, ibuf, stride):
    """One joint Gauss–Newton step of the centre and the profile spline ``coef`` (in place).

    Model ``I(p) = S(|p - c|)`` with S the linear spline ``coef``; weights 1 / S (Poisson).
    The profile block (tridiagonal) is eliminated, so the centre step uses the reduced Hessian
    (it accounts for the profile following the centre, e.g. over partly covered outer annuli).
    Uses the pixels whose row and column are multiples of ``stride``.
    Returns (dx, dy, ok); ``coef`` becomes the profile about the new centre (to first order in
    the step). ``rhs`` is (n, 3); ``cp``, ``dp``, ``bxs``, ``bys`` are work arrays (n,);
    ``ubuf``, ``ibuf`` work arrays (>= w).
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
    i0 = _aligned(max(math.ceil(cy - rmax), 0), stride)
    i1 = min(math.floor(cy + rmax) + 1, h)
    for i in range(i0, i1, stride):
        dy = i - cy
        dy2 = dy * dy
        rem = rmax2 - dy2
        if rem < 0.0:
            continue
        half = math.sqrt(rem)
        j0 = _aligned(max(math.ceil(cx - half), 0), stride)
        j1 = min(math.floor(cx + half) + 1, w)
        # distances and inverse distances first (vectorised), then the scatter into the nodes;
        # ubuf[q], ibuf[q] belong to column j0 + q * stride
        m = (j1 - j0 + stride - 1) // stride
        for q in range(m):
            dx = j0 + q * stride - cx
            rho = math.sqrt(dx * dx + dy2)
            ubuf[q] = rho
            ibuf[q] = 1.0 / rho if rho > 1e-9 else 0.0
        row = roi[i]
        for q in range(m):
            j = j0 + q * stride
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
    if not det > 0.0:
        return 0.0, 0.0, False
    sx = (hyy * bx - hxy * by) / det
    sy = (hxx * by - hxy * bx) / det
    for k in range(n):
        coef[k] += rhs[k, 0] - rhs[k, 1] * sx - rhs[k, 2] * sy
    return sx, sy, True


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


@njit(cache=True)
def _xy_stage(
    roi, cx, cy, dr_xy, n_xy, reg, iterations, tolerance, stride, coef, data_diag, diag, off,
    rhs, rhs3, cp, dp, bxs, bys, ubuf, ibuf,
):  # fmt: skip
    """Gauss–Newton steps of the xy fit on every ``stride``-th row and column, from (cx, cy).

    Fits the profile spline ``coef`` about (cx, cy) on these pixels first (a step from a profile
    of the same pixels lands closer to the converged fit than one from a coarser stage's profile:
    four times closer at 10,000 photons/px), then steps until a step is shorter than
    ``tolerance`` or after ``iterations`` steps.
    Returns (cx, cy, ok).
    """
    h, w = roi.shape
    fit_profile(roi, cx, cy, dr_xy, n_xy, reg, coef, data_diag, diag, off, rhs, ubuf, stride)
    for _ in range(iterations):
        sx, sy, good = joint_step(
            roi, cx, cy, dr_xy, n_xy, reg, coef, diag, off, rhs3, cp, dp, bxs, bys, ubuf, ibuf,
            stride,
        )  # fmt: skip
        if not good or math.isnan(sx) or math.isnan(sy):
            return cx, cy, False
        step = math.sqrt(sx * sx + sy * sy)
        if step > 2.0:  # far from convergence: damp, and re-fit the profile
            sx *= 2.0 / step
            sy *= 2.0 / step
            cx += sx
            cy += sy
            fit_profile(
                roi, cx, cy, dr_xy, n_xy, reg, coef, data_diag, diag, off, rhs, ubuf, stride
            )
        else:
            cx += sx
            cy += sy
        if not (-0.5 <= cx <= w - 0.5 and -0.5 <= cy <= h - 0.5):
            return cx, cy, False
        if step < tolerance:
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
    coarse_tolerance,
    n_coarse,
    guess_half,
    guess_window,
    min_coverage,
    xy0,
    out_x,
    out_y,
    out_profiles,
    out_status,
):
    """Track a stack of ROIs (n_roi, h, w): xy fit, then the radial profile about the centre.

    The xy fit is a joint Gauss–Newton fit of the centre and a profile spline with ``n_xy``
    nodes ``dr_xy`` apart: a coarse stage on every other row and column within the first
    ``n_coarse`` nodes (until a step is shorter than ``coarse_tolerance``), then steps on every
    pixel until a step is shorter than ``tolerance``; each stage starts by fitting the profile
    spline on its pixels. The output profile (``n`` nodes ``dr`` apart) is fitted about the final
    centre. ``xy0`` (n_roi, 2): starting centres (x, y); a NaN row (or an empty ``xy0``) uses
    the dark-spot first guess.
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
    ubuf = np.empty(w)
    ibuf = np.empty(w)
    integ = np.empty((h + 2, w + 1))
    have_xy0 = xy0.shape[0] == n_roi
    for r in range(n_roi):
        roi = rois[r]
        cx = np.nan
        cy = np.nan
        if have_xy0:
            cx = xy0[r, 0]
            cy = xy0[r, 1]
            if not (-0.5 <= cx <= w - 0.5 and -0.5 <= cy <= h - 0.5):
                cx = np.nan
        if math.isnan(cx) or math.isnan(cy):
            cx, cy = first_guess(roi, guess_half, guess_window, integ)
        ok = not (math.isnan(cx) or math.isnan(cy))
        if ok and coarse_tolerance > 0.0 and h >= 16 and w >= 16:
            cx, cy, ok = _xy_stage(
                roi, cx, cy, dr_xy, n_coarse, reg, iterations, coarse_tolerance, 2, coef_xy,
                data_diag, diag, off, rhs, rhs3, cp, dp, bxs, bys, ubuf, ibuf,
            )  # fmt: skip
        if ok:
            cx, cy, ok = _xy_stage(
                roi, cx, cy, dr_xy, n_xy, reg, iterations, tolerance, 1, coef_xy, data_diag,
                diag, off, rhs, rhs3, cp, dp, bxs, bys, ubuf, ibuf,
            )  # fmt: skip
        if ok:
            fit_profile(roi, cx, cy, dr, n, reg, coef, data_diag, diag, off, rhs, ubuf, 1)
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
        fit_profile(rois[r], xs[r], ys[r], dr, n, reg, coef, data_diag, diag, off, rhs, ubuf, 1)
        for k in range(n):
            out_profiles[r, k] = coef[k]
        mark_uncovered(out_profiles[r], xs[r], ys[r], h, w, dr, n, min_coverage)
