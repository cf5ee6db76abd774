"""A bead's own motion while the focus is still, and what to tell the user about it.

A tethered bead at low force fluctuates by hundreds of nm; a Z-LUT recorded from it is blurred or
scrambled, whatever the thresholds say. These measures name that cause:

* Axial motion within a plane, from the sweep's profiles: each row's deviation ``d`` from its
  plane's mean profile is projected, in the tracker's weights ``W``, onto the LUT's slope ``v``
  at that plane (central differences, made W-perpendicular to the profile because the look-up
  fits a free intensity scale): ``a = vᵀWd / vᵀWv`` is the row's z offset (nm) to first order.
  Its variance over the plane's rows is the bead's own z variance plus the photon noise along
  ``v``, ``s² / vᵀWv``, where ``s²`` is measured from what is left of the deviations once the
  slope and the intensity scale are taken out (``n_bins - 2`` dimensions per row). The estimate
  subtracts that noise, so a bead at rest gets about 0.
* Lateral motion within a plane, from the tracks: the rms distance of the tracked x, y (nm) from
  their mean over the plane's frames.
* Recent motion before a sweep, from the newest tracks: the z standard deviation of beads with a
  LUT, else their lateral rms.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import NamedTuple

import numpy as np

from magscope_app.buffers.layouts import TRACK_COLUMNS, TrackFlags
from magscope_app.tracking import ZLUT

from ._weights import ProfileWeights

#: A rejected bead gets the motion hint when it moved (rms, within a plane) at least this many
#: plane steps along z …
AXIAL_HINT_STEPS = 0.5
#: … or at least this many plane steps sideways.
LATERAL_HINT_STEPS = 1.0
#: What a user can do about a bead that moves while the focus is still.
ADVICE = "raise the force (lower the magnets) or use stuck beads"

_TIME, _BEAD = TRACK_COLUMNS.index("time"), TRACK_COLUMNS.index("bead")
_X, _Y, _Z = (TRACK_COLUMNS.index(c) for c in ("x_nm", "y_nm", "z_nm"))
_FLAGS = TRACK_COLUMNS.index("flags")


class BeadMotion(NamedTuple):
    """A bead's recent motion: ``rms_nm`` in z (``kind`` "z") or sideways (``kind`` "xy")."""

    kind: str
    rms_nm: float


def axial_variance_per_plane(lut: ZLUT, deviations: Sequence[np.ndarray]) -> np.ndarray:
    """Variance (nm²) of the bead's own z within each plane of ``lut``, noise subtracted.

    ``deviations[i]``: (n_i, n_bins) rows of plane i (in the LUT's z order) minus the plane's
    mean profile, 0 where a row lacks a bin. Returns (m,): an unbiased estimate (it may come out
    below 0 by noise), NaN for planes with fewer than 3 rows or no slope.
    """
    z, p = lut.z_nm, lut.profiles
    m = z.size
    if len(deviations) != m:
        raise ValueError(f"{len(deviations)} blocks of deviations for {m} planes")
    w = ProfileWeights(lut)
    lo = np.clip(np.arange(m) - 1, 0, m - 1)
    hi = np.clip(np.arange(m) + 1, 0, m - 1)
    out = np.full(m, np.nan)
    for i, dev in enumerate(deviations):
        n = len(dev)
        if n < 3 or w.n_bins < 3:
            continue
        ref = p[i]
        v = (p[hi[i]] - p[lo[i]]) / (z[hi[i]] - z[lo[i]])
        v = v - w.dot(v, ref) / w.dot(ref, ref) * ref
        vv, pp = float(w.dot(v, v)), float(w.dot(ref, ref))
        if not vv > 0:
            continue
        a = w.dot(dev, v) / vv  # z offset of each row, nm
        b = w.dot(dev, ref) / pp  # its intensity scale
        rest = w.dot(dev, dev) - a * a * vv - b * b * pp
        s2 = float(np.sum(rest)) / ((n - 1) * (w.n_bins - 2))
        out[i] = float(np.var(a, ddof=1)) - s2 / vv
    return out


def lateral_rms(x_nm: np.ndarray, y_nm: np.ndarray) -> float:
    """RMS distance (nm) of the points from their mean: ``sqrt(var x + var y)``; NaN points are
    ignored; NaN with fewer than 2 finite points."""
    x, y = np.asarray(x_nm, dtype=np.float64), np.asarray(y_nm, dtype=np.float64)
    ok = np.isfinite(x) & np.isfinite(y)
    if ok.sum() < 2:
        return float("nan")
    return float(np.sqrt(np.var(x[ok]) + np.var(y[ok])))


def _good_rows(rows: np.ndarray) -> np.ndarray:
    rows = np.asarray(rows, dtype=np.float64).reshape(-1, len(TRACK_COLUMNS))
    flags = np.nan_to_num(rows[:, _FLAGS]).astype(np.int64)
    return rows[(flags & int(TrackFlags.FIT_FAILED | TrackFlags.AT_EDGE)) == 0]


def lateral_rms_by_bead(rows: np.ndarray, since: float, until: float) -> dict[int, float]:
    """Per bead, the lateral rms (nm) of its track rows with ``since <= time <= until``.

    ``rows``: (k, len(TRACK_COLUMNS)) rows of the Tracks buffer; rows whose fit failed or whose
    ROI touches the frame edge are left out; beads with fewer than 2 rows are not in the result.
    """
    rows = _good_rows(rows)
    rows = rows[(rows[:, _TIME] >= since) & (rows[:, _TIME] <= until)]
    out = {}
    for bead in np.unique(rows[:, _BEAD]):
        mine = rows[rows[:, _BEAD] == bead]
        rms = lateral_rms(mine[:, _X], mine[:, _Y])
        if np.isfinite(rms):
            out[int(bead)] = rms
    return out


def recent_motion(rows: np.ndarray, seconds: float, *, min_rows: int = 5) -> dict[int, BeadMotion]:
    """Per bead, its motion over the newest ``seconds`` of track rows: the z standard deviation
    (nm) when most of its rows have a z (a LUT is loaded), else the lateral rms (nm).

    ``rows``: rows of the Tracks buffer (any order). Beads with fewer than ``min_rows`` good rows
    in the window are left out (so is everything when ``rows`` is empty).
    """
    rows = _good_rows(rows)
    if len(rows) == 0:
        return {}
    rows = rows[rows[:, _TIME] >= np.nanmax(rows[:, _TIME]) - seconds]
    out = {}
    for bead in np.unique(rows[:, _BEAD]):
        mine = rows[rows[:, _BEAD] == bead]
        if len(mine) < min_rows:
            continue
        z = mine[:, _Z]
        z = z[np.isfinite(z)]
        if len(z) >= max(min_rows, 0.8 * len(mine)):
            out[int(bead)] = BeadMotion("z", float(np.std(z)))
        else:
            rms = lateral_rms(mine[:, _X], mine[:, _Y])
            if np.isfinite(rms):
                out[int(bead)] = BeadMotion("xy", rms)
    return out


def motion_hint(
    bead: int, step_nm: float | None, axial_nm: float | None, lateral_nm: float | None
) -> str:
    """Plain words for a bead whose LUT was rejected and that moved a lot within a plane (at
    least :data:`AXIAL_HINT_STEPS` plane steps in z or :data:`LATERAL_HINT_STEPS` sideways, rms);
    "" otherwise (unknown values count as no motion)."""
    if not step_nm:
        return ""
    step = abs(step_nm)
    axial = axial_nm if axial_nm is not None and np.isfinite(axial_nm) else None
    lateral = lateral_nm if lateral_nm is not None and np.isfinite(lateral_nm) else None
    if not (
        (axial is not None and axial >= AXIAL_HINT_STEPS * step)
        or (lateral is not None and lateral >= LATERAL_HINT_STEPS * step)
    ):
        return ""
    if axial is not None and lateral is not None:
        amount = f"{axial:.0f} nm (rms) in z and {lateral:.0f} nm sideways"
    elif axial is not None:
        amount = f"{axial:.0f} nm (rms) in z"
    else:
        amount = f"{lateral:.0f} nm (rms) sideways"
    return (
        f"bead {bead} moved {amount} within a plane while the focus was still (plane step "
        f"{step:g} nm): {ADVICE}"
    )


def sweep_motion_warning(
    motion: Mapping[int, BeadMotion], step_nm: float, seconds: float
) -> str | None:
    """The warning before a sweep when beads move more than the plane step (``motion`` from
    :func:`recent_motion` over ``seconds``); None when none does."""
    step = abs(step_nm)
    movers = sorted((b for b, m in motion.items() if m.rms_nm > step), key=lambda b: b)
    if not movers:
        return None
    worst = max(movers, key=lambda b: motion[b].rms_nm)
    where = "in z" if motion[worst].kind == "z" else "sideways"
    return (
        f"{len(movers)} of {len(motion)} beads move more than the plane step ({step:g} nm) "
        f"while the focus is still (bead {worst}: {motion[worst].rms_nm:.0f} nm rms {where} "
        f"over the last {seconds:g} s; beads {', '.join(map(str, movers))}): their Z-LUTs will "
        f"be blurred or rejected; {ADVICE}"
    )
