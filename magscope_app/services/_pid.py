"""The locks' pure control logic, free of the daemon: the Z-lock's PI controller, the XY-lock's
choice of which ROIs to re-centre and its XY stage step.

Units: nm and seconds for the Z-lock, pixels and seconds for the XY-lock's ROIs, nm of drift and
µm of stage for the XY stage.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field


@dataclass
class ZLockParams:
    """PI gains and limits of the Z-lock.

    ``kp`` (dimensionless: nm of focus per nm of error) and ``ki`` (1/s) act on the error
    measured − target; ``deadband_nm``: no correction while |error| is smaller; ``max_step_nm``:
    largest single focus move; ``max_excursion_nm``: the lock lets go when the focus would leave
    its position at lock-on by more; ``locked_nm``: |error| within which the lock reports
    "locked"; ``min_frames``: frames averaged (after the previous move settled) per correction.
    """

    kp: float = 0.7
    ki: float = 2.0
    deadband_nm: float = 1.0
    max_step_nm: float = 50.0
    max_excursion_nm: float = 2000.0
    locked_nm: float = 5.0
    min_frames: int = 2

    def problem(self) -> str | None:
        """A one-line description of what is wrong with these values, or None."""
        if not (0.0 < self.kp <= 2.0):
            return f"kp must be in (0, 2], got {self.kp!r}"
        if not (0.0 <= self.ki <= 100.0):
            return f"ki must be in [0, 100] 1/s, got {self.ki!r}"
        for name in ("deadband_nm", "locked_nm"):
            if not (0.0 <= getattr(self, name) < 1e4):
                return f"{name} must be ≥ 0 nm, got {getattr(self, name)!r}"
        for name in ("max_step_nm", "max_excursion_nm"):
            if not (0.0 < getattr(self, name) <= 1e6):
                return f"{name} must be > 0 nm, got {getattr(self, name)!r}"
        if not (1 <= self.min_frames <= 1000):
            return f"min_frames must be in 1…1000, got {self.min_frames!r}"
        return None


@dataclass(frozen=True)
class ZDecision:
    """What the Z-lock does after a measurement: ``move_nm`` (focus change, 0 for none),
    ``error_nm`` (measured − target), ``locked`` (|error| ≤ locked_nm) and ``unlock`` (a reason
    the lock let go, e.g. the excursion limit; None while it holds)."""

    move_nm: float
    error_nm: float
    locked: bool
    unlock: str | None = None


@dataclass
class ZController:
    """Discrete PI control of the focus on the reference beads' mean z.

    The tracked z is the bead's height relative to the focus, so raising the focus by d lowers
    the tracked z by d: a positive error (beads too high) is corrected by raising the focus by
    ``kp·e + ki·∫e dt``. The integral only accumulates outside the deadband and is clamped so the
    integral term alone never exceeds ``max_step_nm`` (no wind-up). :meth:`update` is called once
    per measurement (after the previous move settled); ``offset_nm`` is the focus travelled since
    lock-on.
    """

    target_nm: float
    params: ZLockParams = field(default_factory=ZLockParams)
    integral: float = 0.0  # nm·s
    offset_nm: float = 0.0
    _last_time: float | None = None

    def update(self, measured_nm: float, now: float) -> ZDecision:
        """The decision for the mean z ``measured_nm`` measured at time ``now`` (s)."""
        p = self.params
        error = measured_nm - self.target_nm
        dt = 0.0 if self._last_time is None else max(0.0, min(now - self._last_time, 1.0))
        self._last_time = now
        locked = abs(error) <= p.locked_nm
        if not math.isfinite(error) or abs(error) < p.deadband_nm:
            return ZDecision(0.0, error, locked)
        if p.ki > 0:
            limit = p.max_step_nm / p.ki
            self.integral = max(-limit, min(limit, self.integral + error * dt))
        move = p.kp * error + p.ki * self.integral
        move = max(-p.max_step_nm, min(p.max_step_nm, move))
        if abs(self.offset_nm + move) > p.max_excursion_nm:
            return ZDecision(
                0.0,
                error,
                False,
                f"the focus would move {self.offset_nm + move:+.0f} nm from where the lock "
                f"started (limit ±{p.max_excursion_nm:g} nm)",
            )
        self.offset_nm += move
        return ZDecision(move, error, locked)


def recentre_moves(
    centres: Mapping[int, tuple[float, float]],
    tracked: Mapping[int, tuple[float, float]],
    last_moved: Mapping[int, float],
    now: float,
    *,
    threshold_px: float,
    min_interval_s: float,
) -> dict[int, tuple[float, float]]:
    """The ROIs to re-centre: bead id -> new centre (px) for each bead whose tracked position
    (``tracked``, e.g. a median over the last frames) lies more than ``threshold_px`` from its ROI
    centre, unless it was moved less than ``min_interval_s`` s before ``now``."""
    moves: dict[int, tuple[float, float]] = {}
    for bead, (x, y) in tracked.items():
        centre = centres.get(bead)
        if centre is None or not (math.isfinite(x) and math.isfinite(y)):
            continue
        if now - last_moved.get(bead, -math.inf) < min_interval_s:
            continue
        if math.hypot(x - centre[0], y - centre[1]) > threshold_px:
            moves[bead] = (x, y)
    return moves


def stage_step(
    error_nm: tuple[float, float], deadband_nm: float, max_step_um: float
) -> tuple[float, float] | None:
    """The XY stage move (µm, x and y) that cancels a lateral offset ``error_nm`` of the sample
    (+1 µm of stage moves the sample +1 µm): minus the offset, shortened to ``max_step_um`` along
    its own direction; None inside the deadband (|error| < ``deadband_nm``)."""
    ex, ey = (float(v) for v in error_nm)
    size = math.hypot(ex, ey)
    if not size >= deadband_nm:  # also None for NaN
        return None
    scale = min(1.0, max_step_um * 1000.0 / size) / 1000.0
    return -ex * scale, -ey * scale
