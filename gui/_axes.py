"""Cheap live plots: repainting a pyqtgraph axis costs milliseconds, so a live plot changes its
range only when the data leave it or fill much less of it (hysteresis), not on every update,
and its axes are drawn from a cached pixmap while their range is unchanged."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PyQt6.QtWidgets import QGraphicsItem

#: The range shrinks when the data span less than 1/SHRINK of it.
SHRINK = 4.0
MARGIN = 0.1


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
        view.setYRange(low - MARGIN * span, high + MARGIN * span, padding=0)


def fixed_x_range(plot: pg.PlotItem, low: float, high: float) -> None:
    """Show x from ``low`` to ``high`` (no auto-range), if not already shown."""
    view = plot.getViewBox()
    if view.viewRange()[0] != [low, high]:
        view.setXRange(low, high, padding=0)


def cache_axes(plot: pg.PlotItem) -> None:
    """Draw the plot's axes from a cached pixmap while their range is unchanged (replaying an
    axis' tick labels costs ~5 ms per repaint, and a plot repaints on every data update)."""
    for name in ("left", "bottom", "right", "top"):
        plot.getAxis(name).setCacheMode(QGraphicsItem.CacheMode.DeviceCoordinateCache)
