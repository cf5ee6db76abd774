"""Sample drift from reference (stuck) beads, robust to a reference bead going bad.

A reference bead is stuck to the surface, so its tracked motion is the drift plus tracking noise.
Each bead's motion is its position minus its median position over the first frames; the consensus
is the per-frame median over the beads; a bead whose RMS deviation from the consensus exceeds
``threshold`` × the median deviation (floored at ``noise_floor_nm``) is rejected — it came loose,
was hit by another bead or lost by the tracker. The drift is the per-frame mean motion of the beads
kept. At least three reference beads are needed to tell a bad one from a good one.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class DriftEstimate:
    """``correction_nm``: drift of every frame since the first frames, shape (n_frames,) or
    (n_frames, n_axes) like the input (NaN where no kept bead was tracked); subtract it from every
    bead's position (:meth:`apply`). ``used`` and ``rejected``: the ids of the reference beads
    kept and rejected (or never tracked); ``scatter_nm``: each bead's RMS deviation from the
    consensus, in input order."""

    correction_nm: np.ndarray
    used: tuple[int, ...]
    rejected: tuple[int, ...]
    scatter_nm: np.ndarray

    def apply(self, positions_nm: np.ndarray) -> np.ndarray:
        """Drift-corrected copy of positions shaped (n_frames, n_beads[, n_axes])."""
        positions = np.asarray(positions_nm, dtype=np.float64)
        return positions - self.correction_nm[:, None]


def reference_drift(
    positions_nm: np.ndarray,
    bead_ids: Sequence[int] | None = None,
    *,
    threshold: float = 4.0,
    noise_floor_nm: float = 2.0,
    baseline_frames: int = 10,
    origin_nm: np.ndarray | None = None,
) -> DriftEstimate:
    """Drift from reference beads' positions, shape (n_frames, n_beads) or (n_frames, n_beads,
    n_axes), in nm; NaN marks a frame where a bead was not tracked. ``bead_ids`` name the beads
    (default 0 … n_beads − 1). ``origin_nm``: each bead's position at zero drift, shape
    (n_beads[, n_axes]) (a live estimate over a rolling window keeps its zero this way); NaN
    entries and the default fall back to the median over the first ``baseline_frames`` frames.
    Raises ValueError on a bad shape or no usable bead."""
    positions = np.asarray(positions_nm, dtype=np.float64)
    if positions.ndim not in (2, 3) or positions.shape[0] < 1 or positions.shape[1] < 1:
        raise ValueError(
            f"positions must be (n_frames, n_beads[, n_axes]) with ≥ 1 bead, got {positions.shape}"
        )
    ids = tuple(range(positions.shape[1])) if bead_ids is None else tuple(int(b) for b in bead_ids)
    if len(ids) != positions.shape[1]:
        raise ValueError(f"{len(ids)} bead ids for {positions.shape[1]} beads")
    if not threshold > 1.0:
        raise ValueError(f"threshold must be > 1, got {threshold!r}")
    stacked = positions if positions.ndim == 3 else positions[:, :, None]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN slices give NaN, handled below
        origin = np.nanmedian(stacked[:baseline_frames], axis=0)
        if origin_nm is not None:
            given = np.asarray(origin_nm, dtype=np.float64).reshape(origin.shape)
            origin = np.where(np.isnan(given), origin, given)
        origin = np.where(np.isnan(origin), np.nanmedian(stacked, axis=0), origin)
        motion = stacked - origin
        consensus = np.nanmedian(motion, axis=1)
        deviation = np.sum((motion - consensus[:, None]) ** 2, axis=2)  # NaN if not tracked
        scatter = np.sqrt(np.nanmean(deviation, axis=0))
    tracked = np.isfinite(scatter)
    if not np.any(tracked):
        raise ValueError("no reference bead was tracked in any frame")
    limit = threshold * max(float(np.median(scatter[tracked])), noise_floor_nm)
    keep = tracked & (scatter <= limit) if tracked.sum() >= 3 else tracked
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        correction = np.nanmean(motion[:, keep], axis=1)
    return DriftEstimate(
        correction_nm=correction if positions.ndim == 3 else correction[:, 0],
        used=tuple(b for b, k in zip(ids, keep, strict=True) if k),
        rejected=tuple(b for b, k in zip(ids, keep, strict=True) if not k),
        scatter_nm=scatter,
    )
