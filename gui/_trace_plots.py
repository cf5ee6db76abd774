"""x, y, z against time for the selected beads (optionally minus a reference bead).

x and y are shown relative to their mean over the window (the bead's motion; its place is in
the live view); z is absolute (nm, from the Z-LUT).

Redrawn from the shared :class:`~._history.TrackHistory` every :data:`REDRAW_MS` (in turn with the
window's other refreshes), only while visible and when there is something new to show; "Pause"
freezes the window so it can be scrolled back.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PyQt6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QHBoxLayout,
    QLabel,
    QVBoxLayout,
    QWidget,
)

from ._axes import cache_axes, fixed_x_range, steady_y_range
from ._feed import DataFeed
from ._history import TIME, X_NM, Y_NM, Z_NM
from ._selection import BeadSelection

REDRAW_MS = 200
#: Most points drawn per curve (longer traces are decimated by striding).
MAX_POINTS = 4000
_COLOURS = [(255, 200, 0), (0, 200, 255), (230, 90, 230), (60, 220, 90), (255, 120, 60),
            (160, 160, 255)]  # fmt: skip


class TracePlots(QWidget):
    """Three linked plots (x, y, z in nm) against time (s before now)."""

    def __init__(
        self, feed: DataFeed, selection: BeadSelection, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self._feed, self._selection = feed, selection
        self._drawn: tuple | None = None  # what the curves show (newest row, beads, settings)
        self.window_s = QDoubleSpinBox()
        self.window_s.setRange(1.0, 300.0)
        self.window_s.setValue(20.0)
        self.window_s.setSuffix(" s")
        self.reference = QComboBox()
        self.reference.addItem("none", None)
        self.reference.currentIndexChanged.connect(self._reference_chosen)
        self.pause = QCheckBox("Pause")
        self.hint = QLabel("select beads in the live view")
        self.graphics_note = QLabel("x, y: minus their mean over the window")
        bar = QHBoxLayout()
        bar.addWidget(QLabel("Window"))
        bar.addWidget(self.window_s)
        bar.addWidget(QLabel("minus bead"))
        bar.addWidget(self.reference)
        bar.addWidget(self.pause)
        bar.addWidget(self.graphics_note)
        bar.addStretch(1)
        bar.addWidget(self.hint)
        self.graphics = pg.GraphicsLayoutWidget()
        self.plots: dict[str, pg.PlotItem] = {}
        for row, axis in enumerate(("x", "y", "z")):
            plot = self.graphics.addPlot(row=row, col=0)
            plot.setLabel("left", f"{axis} (nm)")
            plot.showGrid(x=True, y=True, alpha=0.2)
            plot.setDownsampling(auto=True, mode="peak")
            plot.setClipToView(True)
            cache_axes(plot)
            if row:
                plot.setXLink(self.plots["x"])
            self.plots[axis] = plot
        self.plots["z"].setLabel("bottom", "time before the newest frame (s)")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.addLayout(bar)
        layout.addWidget(self.graphics, 1)
        self._curves: dict[tuple[str, int], pg.PlotDataItem] = {}
        feed.every(REDRAW_MS, self.redraw)
        selection.changed.connect(self._redraw_now)
        self.pause.toggled.connect(self._redraw_now)

    def set_beads(self, ids: list[int]) -> None:
        """Offer ``ids`` as reference beads."""
        current = self.reference.currentData()
        self.reference.blockSignals(True)
        self.reference.clear()
        self.reference.addItem("none", None)
        for bead in ids:
            self.reference.addItem(str(bead), bead)
        index = self.reference.findData(current)
        self.reference.setCurrentIndex(max(index, 0))
        self.reference.blockSignals(False)

    def _reference_chosen(self) -> None:
        self._selection.set_reference(self.reference.currentData())

    def _redraw_now(self) -> None:
        self._drawn = None
        self.redraw()

    def redraw(self) -> None:
        if self.pause.isChecked() or not self.isVisible():
            return
        history = self._feed.history
        ids = self._selection.ids
        shown = (history.latest_time, tuple(ids), self._selection.reference,
                 self.window_s.value())  # fmt: skip
        if shown == self._drawn:
            return  # nothing new
        self._drawn = shown
        self.hint.setText("" if ids else "select beads in the live view")
        t_end = history.latest_time
        if not np.isfinite(t_end):
            return
        since = t_end - self.window_s.value()
        reference = self._selection.reference
        ref_rows = history.rows(reference, since) if reference is not None else None
        wanted = set()
        # two points per pixel column at most: more are not seen (peak downsampling keeps spikes)
        points = min(MAX_POINTS, 2 * max(1, int(self.plots["x"].getViewBox().width())))
        shown: dict[str, list[np.ndarray]] = {"x": [], "y": [], "z": []}
        for n, bead in enumerate(ids[: len(_COLOURS)]):
            rows = history.rows(bead, since)
            step = max(1, len(rows) // points)
            rows = rows[::step]
            t = rows[:, TIME] - t_end
            for axis, col in (("x", X_NM), ("y", Y_NM), ("z", Z_NM)):
                values = rows[:, col]
                if ref_rows is not None and len(ref_rows) and bead != reference:
                    values = values - np.interp(rows[:, TIME], ref_rows[:, TIME], ref_rows[:, col])
                if axis != "z" and np.isfinite(values).any():  # x, y: the motion, not the place
                    values = values - np.nanmean(values)
                curve = self._curves.get((axis, bead))
                if curve is None:
                    curve = self.plots[axis].plot(
                        pen=pg.mkPen(_COLOURS[n], width=1), name=str(bead)
                    )
                    self._curves[(axis, bead)] = curve
                curve.setData(t, values, connect="finite")
                shown[axis].append(values)
                wanted.add((axis, bead))
        for key in [k for k in self._curves if k not in wanted]:
            self.plots[key[0]].removeItem(self._curves.pop(key))
        fixed_x_range(self.plots["x"], -self.window_s.value(), 0.0)
        for axis, values in shown.items():
            steady_y_range(self.plots[axis], *values)
