"""Motor positions and targets against time, from the ``Motor_<name>`` telemetry buffers."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PyQt6.QtWidgets import QVBoxLayout, QWidget

from ._axes import cache_axes, fixed_x_range, steady_y_range
from ._feed import DataFeed

REDRAW_MS = 500
#: Seconds shown.
WINDOW_S = 60.0


class MotorPlots(QWidget):
    """One plot per motor: position (solid) and target (dashed) against time (s before now)."""

    def __init__(self, feed: DataFeed, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._feed = feed
        self.graphics = pg.GraphicsLayoutWidget()
        self._plots: dict[str, tuple[pg.PlotItem, pg.PlotDataItem, pg.PlotDataItem]] = {}
        self._drawn: dict[str, float] = {}  # motor -> time of the newest row drawn
        layout = QVBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.addWidget(self.graphics)
        feed.attached.connect(self._build)
        feed.every(REDRAW_MS, self.redraw)

    def _build(self) -> None:
        self.graphics.clear()
        self._plots.clear()
        self._drawn.clear()
        for row, motor in enumerate(sorted(self._feed.shared.motors)):
            plot = self.graphics.addPlot(row=row, col=0, title=motor)
            plot.showGrid(x=True, y=True, alpha=0.2)
            cache_axes(plot)
            position = plot.plot(pen=pg.mkPen((0, 200, 255), width=2))
            target = plot.plot(
                pen=pg.mkPen((255, 200, 0), width=1, style=pg.QtCore.Qt.PenStyle.DashLine)
            )
            self._plots[motor] = (plot, position, target)

    def redraw(self) -> None:
        if not self.isVisible():
            return
        for motor, (plot, position, target) in self._plots.items():
            buffer = self._feed.shared.motors.get(motor)
            if buffer is None:
                continue
            rows = buffer.peek_last(buffer.rows)
            rows = rows[np.isfinite(rows[:, 0])]
            if not len(rows):
                continue
            t_end = rows[-1, 0]
            if self._drawn.get(motor) == t_end:
                continue  # nothing new: no redraw
            self._drawn[motor] = t_end
            rows = rows[rows[:, 0] >= t_end - WINDOW_S]
            t = rows[:, 0] - t_end
            position.setData(t, rows[:, 1])
            target.setData(t, rows[:, 2])
            fixed_x_range(plot, -WINDOW_S, 0.0)
            steady_y_range(plot, rows[:, 1], rows[:, 2])
