"""A bead's own motion while the focus is still, and what to tell the user about it.

A tethered bead at low force fluctuates by hundreds of nm; a Z-LUT recorded from it is blurred or
scrambled, whatever the thresholds say. These measures name that cause:

* Axial motion within a plane, from the sweep's profiles: every row is looked up in the bead's
  own LUT (the tracker's look-up: the LUT's spline through the planes maps the profile's change to
  nm), and the spread of those heights within each plane is the bead's own z motion (plus the
  photon noise, ~``sigma_z``: about 1 nm for a bead at rest). A LUT blurred by the motion maps a
  little less than the true motion, and an ambiguous one a little more; the number is an rms
  good to some 10-20 %, enough to tell a user what spoiled the LUT.
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

#: A rejected bead's hint (:func:`motion_hint`) needs motion (rms, within a plane) of at least
#: this many plane steps along z …
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


def z_variance_per_plane(lut: ZLUT, rows: Sequence[np.ndarray]) -> np.ndarray:
    """Variance (nm²) of the bead's z within each plane of ``lut``: its sweep rows looked up in
    the LUT itself.

    ``rows[i]``: (n_i, n_bins) profiles of plane i (in the LUT's z order). Returns (m,): the
    sample variance of the looked-up heights (rows the LUT cannot place left out), NaN for planes
    with fewer than 3 placed rows. It includes the photon noise (about ``sigma_z²``).
    """
    if len(rows) != lut.z_nm.size:
        raise ValueError(f"{len(rows)} blocks of rows for {lut.z_nm.size} planes")
    out = np.full(len(rows), np.nan)
    for i, block in enumerate(rows):
        z = lut.lookup(block) if len(block) else np.empty(0)
        z = z[np.isfinite(z)]
        if z.size >= 3:
            out[i] = float(np.var(z, ddof=1))
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
    """Plain words for a bead whose LUT was rejected, when its own motion within a plane explains
    it; "" otherwise. ``axial_nm`` / ``lateral_nm``: rms within a plane (None: not measured).

    A tether swings sideways at least as much as it moves in z (its lateral stiffness
    F/(extension + radius) is below its axial one, dF/dextension), so:

    * moved at least :data:`AXIAL_HINT_STEPS` plane steps in z, and sideways at least half as
      much (or sideways not measured), or at least :data:`LATERAL_HINT_STEPS` steps sideways with
      a measurable z: the bead moved, and the advice is :data:`ADVICE`;
    * a large lateral spread while the profiles resolve no z at all: the track jumped (another
      bead or dirt in the ROI, a lost bead), and the advice is to check its ROI;
    * a z spread without the lateral motion a tether would show is not the bead's motion: no hint.
    """
    if not step_nm:
        return ""
    step = abs(step_nm)
    axial = axial_nm if axial_nm is not None and np.isfinite(axial_nm) else None
    lateral = lateral_nm if lateral_nm is not None and np.isfinite(lateral_nm) else None
    large_z = axial is not None and axial >= AXIAL_HINT_STEPS * step
    large_xy = lateral is not None and lateral >= LATERAL_HINT_STEPS * step
    where = f"within a plane while the focus was still (plane step {step:g} nm)"
    if axial is None and large_xy:
        return (
            f"bead {bead}: its tracked position spread {lateral:.0f} nm (rms) sideways {where} "
            "while its profiles resolved no z: the track jumps (another bead or dirt in its ROI, "
            "or the bead is lost): check its ROI, move it or remove the bead"
        )
    if large_z and (lateral is None or lateral >= 0.5 * axial):
        amount = f"{axial:.0f} nm (rms) in z"
        if lateral is not None:
            amount += f" and {lateral:.0f} nm sideways"
    elif large_xy:
        amount = f"{lateral:.0f} nm (rms) sideways and {axial:.0f} nm in z"
    else:
        return ""
    return f"bead {bead} moved {amount} {where}: {ADVICE}"


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
