"""The force service's arithmetic on track rows: per-bead traces, calibration of one bead, and the
bead's surface position. Pure functions on arrays (run in a thread by the service)."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..analysis import force as fo
from ..buffers.layouts import TRACK_COLUMNS, TrackFlags

_TIME, _FRAME, _BEAD = (TRACK_COLUMNS.index(c) for c in ("time", "frame", "bead"))
_X, _Y, _Z, _FLAGS = (TRACK_COLUMNS.index(c) for c in ("x_nm", "y_nm", "z_nm", "flags"))
_BAD_XY = int(TrackFlags.AT_EDGE | TrackFlags.FIT_FAILED)
#: At most this fraction of a bead's frames may be missing (filled by interpolation).
MAX_MISSING = 0.02


def bead_trace(rows: np.ndarray, bead: int) -> dict[str, np.ndarray]:
    """The clean rows of ``bead`` (finite x, y; no AT_EDGE or FIT_FAILED flag) as one
    frame-ordered trace: ``frame``, ``time``, ``x``, ``y``, ``z`` (nm), frames missing in between
    filled by linear interpolation (``missing`` counts them).
    Raises ValueError if more than :data:`MAX_MISSING` of the frames are missing."""
    mine = rows[rows[:, _BEAD] == bead]
    clean = (mine[:, _FLAGS].astype(np.int64) & _BAD_XY) == 0
    mine = mine[clean & np.isfinite(mine[:, _X]) & np.isfinite(mine[:, _Y])]
    if len(mine) < 64:
        raise ValueError(f"bead {bead}: only {len(mine)} tracked frames")
    frames, first = np.unique(mine[:, _FRAME], return_index=True)
    mine = mine[first]
    full = np.arange(frames[0], frames[-1] + 1)
    missing = full.size - frames.size
    if missing > MAX_MISSING * full.size:
        raise ValueError(f"bead {bead}: {missing} of {full.size} frames missing")
    out = {"frame": full, "missing": np.array(missing)}
    for name, col in (("time", _TIME), ("x", _X), ("y", _Y), ("z", _Z)):
        out[name] = np.interp(full, frames, mine[:, col])
    return out


def frame_rate(trace: dict[str, np.ndarray]) -> float:
    """Frames per second of a trace from its timestamps (the tracking rate is the frame rate)."""
    span = trace["time"][-1] - trace["time"][0]
    return float((trace["frame"][-1] - trace["frame"][0]) / span) if span > 0 else float("nan")


def _detrend(values: np.ndarray) -> np.ndarray:
    """``values`` minus their straight-line fit: slow drift removed before the spectrum."""
    t = np.arange(values.size, dtype=np.float64)
    slope, intercept = np.polyfit(t, values, 1)
    return values - (slope * t + intercept)


def _combine(forces: np.ndarray, errors: np.ndarray) -> tuple[float, float]:
    """Inverse-variance weighted mean and its 1σ (the first value if an error is not finite)."""
    if forces.size == 1 or not np.all(np.isfinite(errors) & (errors > 0)):
        return float(forces[0]), float(errors[0])
    weights = 1.0 / errors**2
    return float(np.sum(weights * forces) / np.sum(weights)), float(np.sum(weights) ** -0.5)


def calibrate_bead(
    trace: dict[str, np.ndarray],
    *,
    surface_z_nm: float,
    exposure_s: float,
    axis: str,
    method: str,
    drag: str,
    bead_radius_nm: float,
    kt_pN_nm: float,
    viscosity_pN_s_per_nm2: float,
) -> dict[str, Any]:
    """Calibrate one bead from its trace; a JSON-ready dict: force_pN ± force_error_pN (1σ),
    corner_hz, corner_over_frame_rate, flag (None or why the value is doubtful), extension_nm,
    frame_rate_hz, n_frames, ``fits`` {"<axis> <method>": ForceCalibration as dict} and
    ``spectra`` {axis: :func:`~magscope_app.analysis.force.binned_spectrum` of the axis's first
    fit} (≤ 60 log-spaced bins: the plot of the spectrum and its fitted model).

    ``axis`` "x" (along the field: short pendulum), "y" (across: long pendulum) or "xy" (both
    from the same frames, independent motions, combined by their inverse variances).
    ``method`` "both": spectrum and Allan variance of the same frames, averaged (they are
    strongly correlated, so the smaller of the two errors is kept, not combined)."""
    rate = frame_rate(trace)
    z = trace["z"]
    if not np.all(np.isfinite(z)):
        raise ValueError("z is not known for every frame (no Z-LUT, or out of its range)")
    extension = float(np.mean(z) - surface_z_nm)
    if not extension > 0:
        raise ValueError(f"extension {extension:.0f} nm ≤ 0: is the surface position right?")
    exposure = min(exposure_s, 1.0 / rate)
    options = {"kt_pN_nm": kt_pN_nm, "viscosity_pN_s_per_nm2": viscosity_pN_s_per_nm2,
               "drag": drag}  # fmt: skip
    fits: dict[str, fo.ForceCalibration] = {}
    per_axis = []
    spectra = {}
    for name in axis:
        geometry = "short" if name == "x" else "long"
        args = (_detrend(trace[name]), rate, exposure, extension, bead_radius_nm, geometry)
        mine = []
        if method in ("spectrum", "both"):
            mine.append(
                fits.setdefault(f"{name} spectrum", fo.calibrate_spectrum(*args, **options))
            )
        if method in ("allan", "both"):
            mine.append(fits.setdefault(f"{name} allan", fo.calibrate_allan(*args, **options)))
        spectra[name] = fo.binned_spectrum(args[0], rate, exposure, mine[0])
        forces = np.array([f.force_pN for f in mine])
        per_axis.append((float(forces.mean()), min(f.force_error_pN for f in mine)))
    force, error = _combine(*(np.array(v) for v in zip(*per_axis, strict=True)))
    main = next(iter(fits.values()))
    flag = None
    if main.corner_above_nyquist:
        flag = "corner frequency above half the frame rate: raise the frame rate"
    elif not np.isfinite(error):
        flag = "force and drag cannot be told apart: raise the frame rate or lengthen the exposure"
    return {
        "force_pN": force,
        "force_error_pN": error,
        "corner_hz": main.corner_hz,
        "corner_over_frame_rate": main.corner_over_frame_rate,
        "flag": flag,
        "extension_nm": extension,
        "frame_rate_hz": rate,
        "n_frames": int(trace["frame"].size),
        "missing_frames": int(trace["missing"]),
        "fits": {name: fit.__dict__ for name, fit in fits.items()},
        "spectra": spectra,
    }


def surface_position(z_nm: np.ndarray, percentile: float = 1.0) -> float:
    """The bead's z on the surface: a low percentile of its z while it is held down (robust to
    the tracking noise a plain minimum would pick up). NaN if no z is known."""
    z = z_nm[np.isfinite(z_nm)]
    return float(np.percentile(z, percentile)) if z.size else float("nan")
