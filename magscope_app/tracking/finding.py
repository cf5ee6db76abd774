"""Finding beads on a camera frame: pure array code (no processes, no I/O).

A bead's image is point-symmetric about its centre, whatever it looks like (dark or bright
centre, in focus or a set of defocused rings): every intensity gradient of it lies on a line
through the centre. :func:`find_beads` therefore

1. replaces hot/dead pixels, bins the frame (mean of ``bin × bin`` pixels) and takes its
   gradient (no smoothing: smoothed noise would look like small symmetric blobs);
2. lets every pixel whose gradient stands out of the noise (``> GRADIENT_SNR`` × the gradient's
   noise, estimated from the frame itself) vote, with its gradient SNR (capped), for every point
   on its gradient line from 2 binned pixels to ``radius`` px away on both sides
   (radial-symmetry voting: the sign of the gradient does not matter);
3. takes the peaks of the smoothed vote map at least ``min_distance`` px apart, leaving out the
   weak side peaks that a bead's outer rings make near it;
4. refines each peak at full resolution as the point closest, in the weighted least-squares
   sense, to all gradient lines near it (radial-symmetry centre, iterated with a Gaussian
   window about the current estimate), good to a fraction of a pixel, and
5. scores each centre by its ring profile (:func:`radial_scores`): the *score* is the
   signal-to-noise ratio of the ring means (~0 on noise), the *symmetry* the share of the
   structure that rings about this centre explain (~1 for a bead, low off-centre).

Candidates are then accepted or rejected with a reason: a low score or symmetry (reported down to
half the score threshold; pure noise is not listed), ROI leaving the frame, ROI overlapping an
existing bead's or another candidate's ROI, or beyond ``max_beads``. Limitation: a bead within a
ROI side of a bead more than 3× stronger in the vote map is taken for that bead's ring (step 3).
Coordinates: x = column, y = row, pixels, origin at the centre of pixel (0, 0) of the frame;
pixel values in camera units. Nothing here knows the simulator: it works on any camera frame.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
from numba import njit

#: Default thresholds of the score and the symmetry (see :func:`radial_scores`).
DEFAULT_MIN_SCORE = 10.0
DEFAULT_MIN_SYMMETRY = 0.5
#: Vote-map peaks below this are not examined (noise); at most MAX_EXAMINED peaks are.
VOTE_FLOOR = 40.0
MAX_EXAMINED = 2000
#: A vote peak weaker than this fraction of a peak less than a ROI side away is not examined.
SIDELOBE_FRACTION = 0.3
#: Pixels vote when their gradient exceeds this many noise standard deviations.
GRADIENT_SNR = 2.5
#: A pixel's vote weight (its gradient SNR) is capped here, so no few pixels make a bead.
VOTE_CAP = 10.0
#: A pixel this many noise std beyond all 4 neighbours is a hot (or dead) pixel.
HOT_PIXEL_SIGMA = 8.0
#: Rejected peaks below the score threshold are reported down to this fraction of it.
REPORT_WEAK_FRACTION = 0.5
#: At most this many weak peaks are reported.
REPORT_WEAK_MAX = 50

OUTSIDE = "roi_outside_frame"


@dataclass(frozen=True)
class Candidate:
    """A possible bead: centre (px, full frame), score and symmetry (see :func:`radial_scores`),
    and why it was rejected (None: accepted)."""

    x: float
    y: float
    score: float
    symmetry: float
    reason: str | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"x": self.x, "y": self.y, "score": round(self.score, 1),
                               "symmetry": round(self.symmetry, 3)}  # fmt: skip
        if self.reason is not None:
            out["reason"] = self.reason
        return out


@dataclass(frozen=True)
class FindResult:
    """Accepted candidates (highest score first) and rejected ones with their reason."""

    accepted: list[Candidate]
    rejected: list[Candidate]

    def to_dict(self) -> dict[str, Any]:
        return {
            "candidates": [c.to_dict() for c in self.accepted],
            "rejected": [c.to_dict() for c in self.rejected],
        }


def roi_origin(x: float, y: float, size: int) -> tuple[int, int]:
    """Top-left pixel ``(x0, y0)`` of the ``size × size`` ROI of a bead centred at (x, y) px (the
    same rule as the tracking service's bead table)."""
    return math.floor(x + 0.5) - size // 2, math.floor(y + 0.5) - size // 2


def roi_leaves_frame(x: float, y: float, size: int, width: int, height: int) -> bool:
    """True when the ROI touches or crosses the frame edge (tracking flags such beads AT_EDGE)."""
    x0, y0 = roi_origin(x, y, size)
    return x0 <= 0 or y0 <= 0 or x0 + size >= width or y0 + size >= height


def rois_overlap(a: tuple[float, float], b: tuple[float, float], size: int) -> bool:
    """True when the ROIs of beads centred at ``a`` and ``b`` share a pixel."""
    ax, ay = roi_origin(*a, size)
    bx, by = roi_origin(*b, size)
    return abs(ax - bx) < size and abs(ay - by) < size


# -- score map ------------------------------------------------------------------------------------
def _gaussian_kernel(sigma: float) -> np.ndarray:
    half = max(1, math.ceil(3 * sigma))
    t = np.arange(-half, half + 1, dtype=np.float64)
    k = np.exp(-0.5 * (t / sigma) ** 2)
    return (k / k.sum()).astype(np.float32)


def _smooth(image: np.ndarray, sigma: float) -> np.ndarray:
    """Separable Gaussian blur (edges: nearest pixel), float32."""
    return _convolve_separable(
        np.ascontiguousarray(image, dtype=np.float32), _gaussian_kernel(sigma)
    )


@njit(cache=True, nogil=True)
def _convolve_separable(image, kernel):  # pragma: no cover - compiled
    h, w = image.shape
    half = len(kernel) // 2
    rows = np.empty_like(image)
    for i in range(h):
        for j in range(w):
            acc = 0.0
            for k in range(len(kernel)):
                jj = min(max(j + k - half, 0), w - 1)
                acc += kernel[k] * image[i, jj]
            rows[i, j] = acc
    out = np.empty_like(image)
    for i in range(h):
        for j in range(w):
            out[i, j] = 0.0
        for k in range(len(kernel)):
            ii = min(max(i + k - half, 0), h - 1)
            for j in range(w):
                out[i, j] += kernel[k] * rows[ii, j]
    return out


def _noise_sigma(image: np.ndarray) -> float:
    """Pixel noise (std) of ``image`` from its horizontal neighbour differences: their lower
    quartile, which structure (beads) only raises, read as that of a Gaussian; at least the
    rounding noise of integer pixel values (1/√12), so a flat or clipped frame has no SNR."""
    d = np.abs(np.diff(image, axis=1)).ravel()
    q25 = float(np.partition(d, len(d) // 4)[len(d) // 4])
    return max(q25 / (0.3186 * math.sqrt(2.0)), 1.0 / math.sqrt(12.0))


def despeckle(image: np.ndarray, noise: float, k: float = HOT_PIXEL_SIGMA) -> np.ndarray:
    """Copy of ``image`` with isolated outlier pixels (hot or dead: more than ``k`` × ``noise``
    above the brightest or below the darkest of their 4 neighbours) replaced by the mean of those
    neighbours. A bead is smooth on the pixel scale, so it is left alone."""
    out = image.copy()
    p = np.pad(image, 1, mode="edge")
    neighbours = np.stack([p[:-2, 1:-1], p[2:, 1:-1], p[1:-1, :-2], p[1:-1, 2:]])
    hot = image > neighbours.max(axis=0) + k * noise
    hot |= image < neighbours.min(axis=0) - k * noise
    out[hot] = neighbours.mean(axis=0)[hot]
    return out


def _gradient(image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    gx = np.zeros_like(image)
    gy = np.zeros_like(image)
    gx[:, 1:-1] = 0.5 * (image[:, 2:] - image[:, :-2])
    gy[1:-1, :] = 0.5 * (image[2:, :] - image[:-2, :])
    return gx, gy


@njit(cache=True, nogil=True)
def _vote(gx, gy, weight, r_min, r_max):  # pragma: no cover - compiled
    """Vote map: each pixel with weight > 0 adds it at every point of its gradient line at
    distances r_min … r_max (both directions)."""
    h, w = gx.shape
    acc = np.zeros((h, w), dtype=np.float32)
    for i in range(h):
        for j in range(w):
            v = weight[i, j]
            if v <= 0.0:
                continue
            norm = math.sqrt(gx[i, j] * gx[i, j] + gy[i, j] * gy[i, j])
            ux = gx[i, j] / norm
            uy = gy[i, j] / norm
            for t in range(r_min, r_max + 1):
                for s in (-1.0, 1.0):
                    c = math.floor(j + s * t * ux + 0.5)
                    r = math.floor(i + s * t * uy + 0.5)
                    if 0 <= r < h and 0 <= c < w:
                        acc[r, c] += v
    return acc


def score_map(image: np.ndarray, radius: float, bin: int = 2) -> np.ndarray:
    """Radial-symmetry vote map of ``image`` (binned by ``bin``; shape (h//bin, w//bin)).

    Point (i, j) of the map stands for full-frame pixel ((j + 0.5)·bin − 0.5, (i + 0.5)·bin − 0.5).
    ``radius`` (px): the largest distance from a bead's centre that votes for it.
    """
    h, w = image.shape[0] // bin * bin, image.shape[1] // bin * bin
    binned = image[:h, :w].reshape(h // bin, bin, w // bin, bin).mean(axis=(1, 3))
    binned = binned.astype(np.float32)
    gx, gy = _gradient(binned)  # no smoothing: it would turn noise into radially symmetric blobs
    sigma_g = _noise_sigma(binned) / math.sqrt(2.0)  # of a central difference of white noise
    snr = np.hypot(gx, gy) / np.float32(sigma_g)
    weight = np.where(snr > GRADIENT_SNR, np.minimum(snr, VOTE_CAP), 0.0).astype(np.float32)
    r_max = max(int(radius / bin), 3)
    votes = _vote(gx, gy, weight, 2, r_max)
    return _smooth(votes, 1.0)


def _peaks(
    scores: np.ndarray, floor: float, min_distance: float, sidelobe_distance: float
) -> np.ndarray:
    """(k, 2) map indices (row, col) of local maxima ≥ ``floor``, strongest first, none within
    ``min_distance`` (map pixels) of a stronger one, and none weaker than
    :data:`SIDELOBE_FRACTION` of a peak within ``sidelobe_distance`` (the outer rings of a bead
    make such side peaks)."""
    inner = scores[1:-1, 1:-1]
    is_max = inner >= floor
    for di in (-1, 0, 1):
        for dj in (-1, 0, 1):
            if di or dj:
                is_max &= inner >= scores[1 + di : scores.shape[0] - 1 + di,
                                          1 + dj : scores.shape[1] - 1 + dj]  # fmt: skip
    rows, cols = np.nonzero(is_max)
    rows, cols = rows + 1, cols + 1
    order = np.argsort(-scores[rows, cols], kind="stable")
    points = np.column_stack([rows[order], cols[order]]).astype(np.float64)
    values = scores[rows[order], cols[order]].astype(np.float64)
    keep = _suppress(points, values, min_distance, sidelobe_distance, SIDELOBE_FRACTION)
    return points[keep].astype(np.int64)


@njit(cache=True, nogil=True)
def _suppress(points, values, min_distance, side_distance, fraction):  # pragma: no cover
    """Indices of ``points`` (k, 2), sorted by decreasing ``values``, kept by a greedy pass: a
    point within ``min_distance`` of a kept one, or within ``side_distance`` of a kept one more
    than 1/``fraction`` times stronger, is dropped."""
    kept = np.empty(len(points), dtype=np.int64)
    n_kept = 0
    for k in range(len(points)):
        ok = True
        for q in range(n_kept):
            j = kept[q]
            d = math.hypot(points[k, 0] - points[j, 0], points[k, 1] - points[j, 1])
            if d < min_distance or (d < side_distance and values[j] * fraction > values[k]):
                ok = False
                break
        if ok:
            kept[n_kept] = k
            n_kept += 1
    return kept[:n_kept]


# -- sub-pixel centre ------------------------------------------------------------------------------
def refine_centres(image: np.ndarray, xy: np.ndarray, half: int, iterations: int = 6) -> np.ndarray:
    """Radial-symmetry centres (n, 2) (x, y px) near the first guesses ``xy`` (n, 2).

    Each centre minimises the weighted squared distances to the gradient lines (gradient of the
    image smoothed with a Gaussian of σ 0.75 px)
    of the ``(2·half+1)²`` pixels around the guess (weights: squared gradient above the window's
    median, times a Gaussian window of σ = half/2 about the current estimate); blind to the
    gradient's sign like the votes. A guess without usable symmetry is returned unchanged.
    """
    xy = np.ascontiguousarray(xy, dtype=np.float64).reshape(-1, 2)
    smooth = _smooth(np.asarray(image, dtype=np.float32), 0.75)
    return _refine(smooth, xy, half, iterations)


@njit(cache=True, nogil=True)
def _refine(image, xy, half, iterations):  # pragma: no cover - compiled
    h, w = image.shape
    size = 2 * half + 1
    out = xy.copy()
    gx = np.empty((size, size))
    gy = np.empty((size, size))
    g2 = np.empty(size * size)
    inv = -0.5 / (half / 2.0) ** 2
    for n in range(len(xy)):
        ix = min(max(math.floor(xy[n, 0] + 0.5), 0), w - 1)
        iy = min(max(math.floor(xy[n, 1] + 0.5), 0), h - 1)
        for a in range(size):
            for b in range(size):
                r = iy - half + a
                c = ix - half + b
                r0, r1 = min(max(r - 1, 0), h - 1), min(max(r + 1, 0), h - 1)
                c0, c1 = min(max(c - 1, 0), w - 1), min(max(c + 1, 0), w - 1)
                rc = min(max(r, 0), h - 1)
                cc = min(max(c, 0), w - 1)
                sx = image[rc, c1] - image[rc, c0]
                sy = image[r1, cc] - image[r0, cc]
                gx[a, b] = sx
                gy[a, b] = sy
                g2[a * size + b] = sx * sx + sy * sy
        noise = np.median(g2)
        cx = xy[n, 0]
        cy = xy[n, 1]
        for _ in range(iterations):
            sa = sb = sc = ex = ey = 0.0
            for a in range(size):
                py = iy - half + a
                for b in range(size):
                    strength = g2[a * size + b] - noise
                    if strength <= 0.0:
                        continue
                    px = ix - half + b
                    d2 = (px - cx) ** 2 + (py - cy) ** 2
                    wgt = strength * math.exp(d2 * inv) / g2[a * size + b]
                    vx = -gy[a, b]  # normal to the gradient line (unnormalised: /g2 above)
                    vy = gx[a, b]
                    proj = vx * px + vy * py
                    sa += wgt * vx * vx
                    sb += wgt * vx * vy
                    sc += wgt * vy * vy
                    ex += wgt * vx * proj
                    ey += wgt * vy * proj
            det = sa * sc - sb * sb
            if not det > 1e-12 * sa * sc or det <= 0.0:
                break
            nx = (sc * ex - sb * ey) / det
            ny = (sa * ey - sb * ex) / det
            if math.hypot(nx - xy[n, 0], ny - xy[n, 1]) >= half:
                break  # no usable symmetry here: keep what we have
            cx, cy = nx, ny
        out[n, 0] = cx
        out[n, 1] = cy
    return out


# -- scoring -------------------------------------------------------------------------------------
def radial_scores(
    image: np.ndarray, xy: np.ndarray, half: int, noise: float
) -> tuple[np.ndarray, np.ndarray]:
    """(score, symmetry), each (n,), of the disc of radius ``half`` px about each centre ``xy``.

    The disc's pixels are split into 1-px rings about the centre. ``score``: the signal-to-noise
    ratio of the ring means (sqrt of their energy about the disc mean over the pixel noise
    ``noise``², less what noise alone gives); ~0 on pure noise, whatever the bead looks like.
    ``symmetry`` in [0, 1]: the share of the disc's structure (above noise) that the ring means
    explain; ~1 for a point-symmetric bead centred at ``xy``, low off-centre.
    """
    n = len(xy)
    if n == 0:
        return np.zeros(0), np.zeros(0)
    padded = np.pad(image.astype(np.float64), half, mode="edge")
    ix = np.clip(np.rint(xy[:, 0]).astype(np.int64), 0, image.shape[1] - 1)
    iy = np.clip(np.rint(xy[:, 1]).astype(np.int64), 0, image.shape[0] - 1)
    offsets = np.arange(-half, half + 1)
    windows = padded[(iy[:, None] + offsets + half)[:, :, None],
                     (ix[:, None] + offsets + half)[:, None, :]]  # fmt: skip
    dx = (ix - xy[:, 0])[:, None, None] + offsets[None, None, :]
    dy = (iy - xy[:, 1])[:, None, None] + offsets[None, :, None]
    ring = np.floor(np.hypot(dx, dy)).astype(np.int64)
    inside = ring < half
    n_rings = half
    index = (np.arange(n)[:, None, None] * n_rings + ring)[inside]
    values = windows[inside]
    counts = np.bincount(index, minlength=n * n_rings).reshape(n, n_rings).astype(np.float64)
    sums = np.bincount(index, values, minlength=n * n_rings).reshape(n, n_rings)
    squares = np.bincount(index, values**2, minlength=n * n_rings).reshape(n, n_rings)
    used = counts > 0
    means = np.where(used, sums / np.maximum(counts, 1), 0.0)
    total = counts.sum(axis=1)
    mean = sums.sum(axis=1) / total
    var = noise**2
    radial = np.sum(counts * (means - mean[:, None]) ** 2, axis=1) / var - (used.sum(1) - 1)
    residual = np.sum(squares - counts * means**2, axis=1) / var - (total - used.sum(1))
    radial = np.maximum(radial, 0.0)
    symmetry = radial / np.maximum(radial + np.maximum(residual, 0.0), 1e-12)
    return np.sqrt(radial), symmetry


# -- the finder ------------------------------------------------------------------------------------
def find_beads(
    frames: np.ndarray,
    roi_size: int,
    *,
    min_distance: float | None = None,
    min_score: float = DEFAULT_MIN_SCORE,
    min_symmetry: float = DEFAULT_MIN_SYMMETRY,
    max_beads: int | None = None,
    existing: Mapping[int, tuple[float, float]] | None = None,
    radius: float | None = None,
) -> FindResult:
    """Bead candidates on ``frames`` ((h, w), or (n, h, w): their mean is searched).

    ``roi_size`` (px): side of the ROI each bead would get; a candidate whose ROI touches the frame
    edge or overlaps the ROI of an ``existing`` bead (id -> centre px) or of another candidate is
    rejected. ``min_distance`` (px, default ``roi_size / 4``): peaks closer than this are one
    bead. ``min_score``, ``min_symmetry``: thresholds (see :func:`radial_scores`). ``max_beads``:
    accept at most this many (highest score first). ``radius`` (px, default ``roi_size / 2``):
    the largest ring radius used. Returns accepted candidates (highest score first) and rejected
    ones with their reason; candidates far below the thresholds (noise) are not reported.
    """
    frames = np.asarray(frames)
    image = frames.mean(axis=0, dtype=np.float64) if frames.ndim == 3 else frames
    if image.ndim != 2 or min(image.shape) < 16:
        raise ValueError(f"frames must be (h, w) or (n, h, w) with h, w ≥ 16; got {frames.shape}")
    noise = _noise_sigma(np.asarray(image, dtype=np.float32))
    image = despeckle(np.asarray(image, dtype=np.float32), noise)
    height, width = image.shape
    md = roi_size / 4 if min_distance is None else float(min_distance)
    radius = roi_size / 2 if radius is None else float(radius)
    bin = 2 if radius >= 12 else 1
    votes = score_map(image, radius, bin)
    peaks = _peaks(votes, VOTE_FLOOR, max(md / bin, 1.0), roi_size / bin)[:MAX_EXAMINED]
    guess = np.column_stack([(peaks[:, 1] + 0.5) * bin - 0.5, (peaks[:, 0] + 0.5) * bin - 0.5])
    half = max(4, min(int(radius), roi_size // 2))
    centres = refine_centres(image, guess, half)
    # a secondary peak of a bead refines onto the bead's centre: keep the strongest
    centres = centres[_suppress(centres, np.zeros(len(centres)), md, 0.0, 0.0)]
    scores, symmetry = radial_scores(image, centres, half, noise)
    order = np.argsort(-scores, kind="stable")
    centres, scores, symmetry = centres[order], scores[order], symmetry[order]

    rejected: list[Candidate] = []
    weak = 0
    beads: list[Candidate] = []
    for (x, y), score, sym in zip(centres, scores, symmetry, strict=True):
        if score < min_score or sym < min_symmetry:
            if score >= REPORT_WEAK_FRACTION * min_score and weak < REPORT_WEAK_MAX:
                weak += 1
                why = (f"score {score:.0f} below {min_score:g}" if score < min_score
                       else f"asymmetric ({sym:.2f} < {min_symmetry:g})")  # fmt: skip
                rejected.append(Candidate(float(x), float(y), float(score), float(sym), why))
            continue
        beads.append(Candidate(float(x), float(y), float(score), float(sym)))
    existing = dict(existing or {})
    origins = np.array([roi_origin(c.x, c.y, roi_size) for c in beads]).reshape(-1, 2)
    shared = np.all(np.abs(origins[:, None, :] - origins[None, :, :]) < roi_size, axis=2)
    np.fill_diagonal(shared, False)
    accepted: list[Candidate] = []
    for k, c in enumerate(beads):
        reason = None
        if roi_leaves_frame(c.x, c.y, roi_size, width, height):
            reason = OUTSIDE
        elif hits := [b for b, p in existing.items() if rois_overlap((c.x, c.y), p, roi_size)]:
            reason = f"overlaps bead {hits[0]}"
        elif shared[k].any():
            reason = "overlaps candidate"
        elif max_beads is not None and len(accepted) >= max_beads:
            reason = f"beyond max {max_beads}"
        if reason is None:
            accepted.append(c)
        else:
            rejected.append(replace(c, reason=reason))
    return FindResult(accepted, rejected)
