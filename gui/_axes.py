"""Cheap live plots: repainting a pyqtgraph axis costs milliseconds (and a plot whose axis changes
width re-lays out, so every axis of its window is drawn again), so a live plot changes its range
only when the data leave it or fill much less of it (hysteresis), to round numbers (a range that
grew a little still holds the next few extremes), its axes never shrink to fit shorter labels,
and they are drawn from a cached pixmap while their range is unchanged."""

from __future__ import annotations

import math

import numpy as np
import pyqtgraph as pg
from PyQt6.QtWidgets import QGraphicsItem

#: The range shrinks when the data span less than 1/SHRINK of it.
SHRINK = 4.0
MARGIN = 0.1
#: A new range is rounded outwards to a multiple of a 1-2-5 step of about span / STEPS.
STEPS = 8


def _round_step(span: float) -> float:
    """The 1, 2 or 5 × 10^k step nearest above ``span / STEPS``."""
    raw = span / STEPS
    power = 10.0 ** math.floor(math.log10(raw))
    return next((m * power for m in (1.0, 2.0, 5.0) if m * power >= raw), 10.0 * power)


def steady_y_range(plot: pg.PlotItem, *arrays: np.ndarray) -> None:
    """Keep every finite value of ``arrays`` in view, changing the y range as rarely as possible."""
    finite = [a[np.isfinite(a)] for a in arrays if len(a)]
    finite = [a for a in finite if a.size]
    if not finite:
        return
    low = float(min(a.min() for a in finite))
    high = float(max(a.max() for a in finite))
    span = max(high - low, 1e-6 * max(abs(low), abs(high), 1.0))
    view = plot.getViewBox()
    shown_low, shown_high = view.viewRange()[1]
    if (
        low < shown_low
        or high > shown_high
        or shown_high - shown_low > SHRINK * span * (1 + MARGIN)
    ):
        step = _round_step(span * (1 + 2 * MARGIN))
        new_low = step * math.floor((low - MARGIN * span) / step)
        new_high = step * math.ceil((high + MARGIN * span) / step)
        view.setYRange(new_low, new_high, padding=0)


def fixed_x_range(plot: pg.PlotItem, low: float, high: float) -> None:
    """Show x from ``low`` to ``high`` (no auto-range), if not already shown."""
    view = plot.getViewBox()
    if view.viewRange()[0] != [low, high]:
        view.setXRange(low, high, padding=0)


def cache_axes(plot: pg.PlotItem) -> None:
    """Draw the plot's axes from a cached pixmap while their range is unchanged (replaying an
    axis' tick labels costs ~5 ms per repaint, and a plot repaints on every data update); an
    axis grows for longer tick labels but does not shrink back (no re-layout at every range
    change)."""
    for name in ("left", "bottom", "right", "top"):
        axis = plot.getAxis(name)
        axis.setCacheMode(QGraphicsItem.CacheMode.DeviceCoordinateCache)
        axis.setStyle(autoReduceTextSpace=False)
