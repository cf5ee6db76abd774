"""Force–extension and rotation–extension (hat) curves from a recording, and their WLC fits.

A recording (:mod:`magscope_app.recording`) holds each bead's z and the magnet telemetry. The
magnet height (mm) of every track row is the telemetry interpolated at the row's time; rows taken
while the magnets move are dropped; rows are grouped by height rounded to ``resolution_mm`` (a
plateau, or a short piece of a ramp), and each group gives one point: the force from the bead's
force curve (:class:`~magscope_app.analysis.force_curve.ForceCurve`) and the mean extension, the
bead's z minus its z on the surface. The worm-like chain is then fitted with Bouchiat's model
below ``split_pN`` (~5 pN) and the extensible Odijk model above (:func:`.wlc.fit_wlc`).

The rotation–extension curve groups rows by magnet rotation (turns) the same way.
Units: nm, pN, mm, turns.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, replace

import numpy as np

from ..recording import open_recording
from .force import DEFAULT_KT_PN_NM
from .force_curve import ForceCurve
from .wlc import WLCFit, fit_wlc

MAGNET = "magnet_height"
ROTATION = "magnet_rotation"
#: Fewest track rows a group needs to give a point.
MIN_ROWS = 10


@dataclass(frozen=True)
class ForceExtension:
    """One bead's curve: ``force_pN``, ``extension_nm`` (mean per group), ``extension_sem_nm``
    (standard error of that mean, from the scatter), ``force_error_pN`` (1σ of the force curve),
    ``height_mm`` of each point (all (n,), sorted by force); ``low``: the Bouchiat fit of the
    points below the split force, ``high``: the Odijk fit above (None where there are too few
    points or the fit failed). The fits' persistence errors include the force curve's: all points
    share its scale, and Lp scales as 1/force."""

    bead: int
    force_pN: np.ndarray
    extension_nm: np.ndarray
    extension_sem_nm: np.ndarray
    force_error_pN: np.ndarray
    height_mm: np.ndarray
    low: WLCFit | None = None
    high: WLCFit | None = None


def _grouped_means(key: np.ndarray, values: np.ndarray, resolution: float):
    """(key, mean, sem) per group of ``key`` rounded to ``resolution`` with ≥ MIN_ROWS rows."""
    rounded = np.round(key / resolution) * resolution
    _, inverse, counts = np.unique(rounded, return_inverse=True, return_counts=True)
    keep = counts >= MIN_ROWS
    sums = np.bincount(inverse, values)
    squares = np.bincount(inverse, values**2)
    key_sums = np.bincount(inverse, key)
    mean = sums / counts
    variance = np.maximum(squares / counts - mean**2, 0.0)
    sem = np.sqrt(variance / np.maximum(counts - 1, 1))
    return (key_sums / counts)[keep], mean[keep], sem[keep]


def _motor_at(recording, name: str, times: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(position, moving) of motor ``name`` at ``times`` (moving: any sample around is moving)."""
    telemetry = recording.motor(name)
    order = np.argsort(telemetry["time"])
    t = telemetry["time"][order]
    position = np.interp(times, t, telemetry["position"][order])
    index = np.clip(np.searchsorted(t, times), 1, len(t) - 1)
    moving = (telemetry["moving"][order][index] > 0) | (telemetry["moving"][order][index - 1] > 0)
    return position, moving


def bead_extension(
    recording, bead: int, surface_z_nm: float, motor: str
) -> tuple[np.ndarray, np.ndarray]:
    """(motor position, extension nm) of every clean row of ``bead`` taken while ``motor`` was
    still (rows without z dropped)."""
    tracks = recording.tracks(bead)
    keep = np.isfinite(tracks["z_nm"])
    times, z = tracks["time"][keep], tracks["z_nm"][keep]
    position, moving = _motor_at(recording, motor, times)
    return position[~moving], z[~moving] - surface_z_nm


def force_extension(
    path: str | os.PathLike,
    curves: Mapping[int | None, ForceCurve],
    surfaces: Mapping[int, float],
    *,
    beads: list[int] | None = None,
    resolution_mm: float = 0.01,
    split_pN: float = 5.0,
    kt_pN_nm: float = DEFAULT_KT_PN_NM,
) -> dict[int, ForceExtension]:
    """Per-bead force–extension curves and WLC fits from the recording at ``path``.

    ``curves``: force curve per bead id (None: pooled, used for beads without their own);
    ``surfaces``: each bead's z on the surface (nm). ``beads``: default every bead with a
    surface. Raises ValueError if the recording has no magnet telemetry or a bead no curve.
    """
    out: dict[int, ForceExtension] = {}
    with open_recording(path) as recording:
        if MAGNET not in recording.motor_names():
            raise ValueError(f"{path}: no {MAGNET} telemetry in the recording")
        chosen = sorted(surfaces) if beads is None else list(beads)
        for bead in chosen:
            curve = curves.get(bead, curves.get(None))
            if curve is None or bead not in surfaces:
                raise ValueError(f"bead {bead}: no force curve or surface position")
            height, extension = bead_extension(recording, bead, surfaces[bead], MAGNET)
            low_h, high_h = curve.height_range_mm
            inside = (height >= low_h - 1e-6) & (height <= high_h + 1e-6)
            h, mean, sem = _grouped_means(height[inside], extension[inside], resolution_mm)
            force, force_error = curve.force(h), curve.force_error(h)
            # a degenerate fit (e.g. one exponential's worth of data) has no covariance: then
            # the calibration points' typical error, averaged over the points, sets the scale
            fallback = np.nanmedian(curve.force_errors_pN / curve.forces_pN)
            fallback /= np.sqrt(len(curve.forces_pN))
            force_error = np.where(np.isfinite(force_error), force_error, fallback * force)
            o = np.argsort(force)
            point = ForceExtension(bead, force[o], mean[o], sem[o], force_error[o], h[o])
            out[bead] = _with_fits(point, split_pN, kt_pN_nm)
    return out


def _with_fits(point: ForceExtension, split_pN: float, kt: float) -> ForceExtension:
    fits: dict[str, WLCFit | None] = {"low": None, "high": None}
    for name, below, model in (("low", True, "bouchiat"), ("high", False, "odijk")):
        chosen = (point.force_pN < split_pN) if below else (point.force_pN >= split_pN)
        chosen &= point.extension_nm > 0
        try:
            fit = fit_wlc(
                point.force_pN[chosen], point.extension_nm[chosen], model=model, kt_pN_nm=kt
            )
        except (ValueError, np.linalg.LinAlgError):
            continue
        scale = np.mean(point.force_error_pN[chosen] / point.force_pN[chosen])
        error = np.hypot(fit.persistence_error_nm, scale * fit.persistence_nm)
        fits[name] = replace(fit, persistence_error_nm=float(error))
    return ForceExtension(**{**point.__dict__, **fits})


def rotation_extension(
    path: str | os.PathLike,
    surfaces: Mapping[int, float],
    *,
    beads: list[int] | None = None,
    resolution_turns: float = 0.25,
) -> dict[int, tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Hat curves: per bead (turns, mean extension nm, sem nm) from the rows of the recording at
    ``path`` taken while the magnet rotation was still, grouped by turns rounded to
    ``resolution_turns``. ValueError if the recording has no rotation telemetry."""
    out = {}
    with open_recording(path) as recording:
        if ROTATION not in recording.motor_names():
            raise ValueError(f"{path}: no {ROTATION} telemetry in the recording")
        for bead in sorted(surfaces) if beads is None else beads:
            turns, extension = bead_extension(recording, bead, surfaces[bead], ROTATION)
            out[bead] = _grouped_means(turns, extension, resolution_turns)
    return out


def pooled_fit(curves: Mapping[int, ForceExtension], which: str = "low") -> tuple[float, float]:
    """Inverse-variance weighted mean (and its 1σ) of the beads' persistence lengths (``which``
    fit: "low" or "high"); the contour length likewise with :func:`pooled_contour`."""
    return _pooled([getattr(c, which) for c in curves.values()], "persistence")


def pooled_contour(curves: Mapping[int, ForceExtension], which: str = "low") -> tuple[float, float]:
    """Inverse-variance weighted mean (and 1σ) of the beads' contour lengths (nm)."""
    return _pooled([getattr(c, which) for c in curves.values()], "contour")


def _pooled(fits: list[WLCFit | None], name: str) -> tuple[float, float]:
    values = np.array([getattr(f, f"{name}_nm") for f in fits if f is not None])
    errors = np.array([getattr(f, f"{name}_error_nm") for f in fits if f is not None])
    ok = np.isfinite(values) & np.isfinite(errors) & (errors > 0)
    if not np.any(ok):
        return float("nan"), float("nan")
    weights = 1.0 / errors[ok] ** 2
    return float(np.sum(weights * values[ok]) / np.sum(weights)), float(np.sum(weights) ** -0.5)
