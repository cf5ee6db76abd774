"""The live radial profile of the selected bead (LiveProfileBuffer), refreshed by a timer.

Selecting a bead asks the daemon to publish its profile (``select_profile_bead``).
"""

from __future__ import annotations

import pyqtgraph as pg
from PyQt6.QtCore import QTimer
from PyQt6.QtWidgets import QLabel, QVBoxLayout, QWidget

from ._axes import cache_axes, steady_y_range
from ._bridge import Bridge
from ._feed import DataFeed
from ._selection import BeadSelection

REDRAW_MS = 250


class ProfilePlot(QWidget):
    """Intensity against radius (profile bins) of the first selected bead."""

    def __init__(self, bridge: Bridge, feed: DataFeed, selection: BeadSelection,
                 parent: QWidget | None = None) -> None:  # fmt: skip
        super().__init__(parent)
        self._bridge, self._feed, self._selection = bridge, feed, selection
        self._bead: int | None = None
        self.title = QLabel("select a bead in the live view")
        self.graphics = pg.PlotWidget()
        self.graphics.setLabel("bottom", "radius (bins)")
        self.graphics.setLabel("left", "intensity (normalised)")
        self.graphics.showGrid(x=True, y=True, alpha=0.2)
        cache_axes(self.graphics.getPlotItem())
        self.curve = self.graphics.plot(pen=pg.mkPen((255, 200, 0), width=2))
        layout = QVBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.addWidget(self.title)
        layout.addWidget(self.graphics, 1)
        selection.changed.connect(self._selection_changed)
        feed.attached.connect(self._selection_changed)
        self._timer = QTimer(self)
        self._timer.timeout.connect(self.redraw)
        self._timer.start(REDRAW_MS)

    def _selection_changed(self) -> None:
        ids = self._selection.ids
        bead = ids[0] if ids else None
        if bead != self._bead or bead is not None:
            self._bead = bead
            args = {} if bead is None else {"id": bead}
            self._bridge.call("select_profile_bead", **args)
        if bead is None:
            self.curve.setData([], [])
            self.title.setText("select a bead in the live view")

    def redraw(self) -> None:
        profile = self._feed.shared.profile
        if profile is None or self._bead is None or not self.isVisible():
            return
        latest = profile.peek_profile()
        if latest is None or latest[1] != self._bead:
            return
        _t, bead, values = latest
        self.curve.setData(values)
        self.graphics.getPlotItem().setXRange(0, len(values), padding=0.02)
        steady_y_range(self.graphics.getPlotItem(), values)
        self.title.setText(f"bead {bead}: live radial profile ({len(values)} bins)")
