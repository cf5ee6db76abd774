"""Stuck or tethered: a bead's kind from its tracked motion (pure array code, no I/O).

A bead stuck to the surface moves only as much as the tracking noise (and the slow drift of the
whole sample); a tethered bead fluctuates by Brownian motion around its anchor, by several nm even
at high force (lateral rms ≈ sqrt(kT·(extension + radius) / force), ~10 nm at 30 pN) and by
hundreds of nm at low force. Each coordinate's motion is measured as the rms about a straight
line fitted in time (so a constant drift does not count). A bead is

* ``"stuck"`` when its lateral rms (sqrt(var x + var y)) is at most ``max_lateral_nm`` and, when
  its z is measured (a Z-LUT is loaded), its axial rms is at most ``max_axial_nm``;
* ``"tethered"`` otherwise;
* ``"unknown"`` without at least ``min_samples`` clean measurements (no AT_EDGE / FIT_FAILED flag)
  spread over at least half the time asked for.

Stuck beads are the candidates for reference beads (drift correction, Z-lock).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ..buffers.layouts import TRACK_COLUMNS, TrackFlags

KINDS = ("stuck", "tethered", "unknown")
#: Default thresholds: rms motion (nm) that a stuck bead does not exceed.
MAX_LATERAL_NM = 5.0
MAX_AXIAL_NM = 10.0
#: Fewest clean measurements for a verdict.
MIN_SAMPLES = 20

_BAD = int(TrackFlags.AT_EDGE | TrackFlags.FIT_FAILED)


@dataclass(frozen=True)
class BeadMotion:
    """The motion of one bead over a time window and the verdict.

    ``lateral_nm``/``axial_nm``: rms about a linear trend (NaN when not measured);
    ``noise_nm``: the white-noise part of the lateral motion, sqrt(mean squared frame-to-frame
    step / 2) per axis, summed in quadrature (for a stuck bead ≈ ``lateral_nm``); ``samples``:
    clean measurements used; ``span_s``: time they cover; ``reason``: why the kind is unknown.
    """

    kind: str
    samples: int
    span_s: float
    lateral_nm: float = float("nan")
    axial_nm: float = float("nan")
    noise_nm: float = float("nan")
    reason: str | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"kind": self.kind, "samples": self.samples,
                               "span_s": round(self.span_s, 3)}  # fmt: skip
        for key in ("lateral_nm", "axial_nm", "noise_nm"):
            value = getattr(self, key)
            out[key] = None if not np.isfinite(value) else round(float(value), 2)
        if self.reason is not None:
            out["reason"] = self.reason
        return out


def detrended_rms(t: np.ndarray, values: np.ndarray) -> float:
    """rms of ``values`` about the least-squares straight line in ``t`` (same units)."""
    if len(values) < 3:
        return float("nan")
    tc = t - t.mean()
    vc = values - values.mean()
    denominator = float(np.dot(tc, tc))
    slope = float(np.dot(tc, vc)) / denominator if denominator > 0 else 0.0
    return float(np.sqrt(np.mean((vc - slope * tc) ** 2)))


def classify_motion(
    t: np.ndarray,
    x_nm: np.ndarray,
    y_nm: np.ndarray,
    z_nm: np.ndarray | None = None,
    *,
    seconds: float,
    max_lateral_nm: float = MAX_LATERAL_NM,
    max_axial_nm: float = MAX_AXIAL_NM,
    min_samples: int = MIN_SAMPLES,
) -> BeadMotion:
    """The kind of one bead from its clean track (times s, positions nm; ``z_nm`` None or NaN
    where not measured), observed over a window of ``seconds``."""
    order = np.argsort(t, kind="stable")
    t, x, y = t[order], x_nm[order], y_nm[order]
    n = len(t)
    span = float(t[-1] - t[0]) if n else 0.0
    if n < min_samples or span < 0.5 * seconds:
        reason = (
            f"{n} clean samples over {span:.2f} s (needs {min_samples} over "
            f"{0.5 * seconds:g} s of the {seconds:g} s asked): classify again once tracked longer"
        )
        return BeadMotion("unknown", n, span, reason=reason)
    lateral = float(np.hypot(detrended_rms(t, x), detrended_rms(t, y)))
    noise = float(np.sqrt(np.mean(np.diff(x) ** 2) / 2 + np.mean(np.diff(y) ** 2) / 2))
    axial = float("nan")
    if z_nm is not None:
        z = z_nm[order]
        measured = np.isfinite(z)
        if measured.sum() >= min_samples:
            axial = detrended_rms(t[measured], z[measured])
    stuck = lateral <= max_lateral_nm and not axial > max_axial_nm
    return BeadMotion("stuck" if stuck else "tethered", n, span, lateral, axial, noise)


def classify_tracks(
    rows: np.ndarray,
    beads: list[int],
    *,
    seconds: float,
    columns: tuple[str, ...] = TRACK_COLUMNS,
    **thresholds: float,
) -> dict[int, BeadMotion]:
    """The kind of each of ``beads`` from track rows ``(k, len(columns))`` (the tracks buffer
    layout), using the rows of the last ``seconds`` before the newest row. ``thresholds``:
    ``max_lateral_nm``, ``max_axial_nm``, ``min_samples`` of :func:`classify_motion`."""
    col = {name: i for i, name in enumerate(columns)}
    if len(rows):
        rows = rows[rows[:, col["time"]] >= rows[:, col["time"]].max() - seconds]
        clean = (rows[:, col["flags"]].astype(np.int64) & _BAD) == 0
        rows = rows[clean]
    out: dict[int, BeadMotion] = {}
    for bead in beads:
        mine = rows[rows[:, col["bead"]] == bead]
        out[bead] = classify_motion(
            mine[:, col["time"]],
            mine[:, col["x_nm"]],
            mine[:, col["y_nm"]],
            mine[:, col["z_nm"]],
            seconds=seconds,
            **thresholds,
        )
    return out
