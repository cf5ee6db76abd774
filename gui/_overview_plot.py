"""z of every bead at a glance: an image of bead (rows) × time (columns), coloured by z relative
to each bead's median, so a lost bead (a gap: no z) or a bead that moves differently from the
others (stuck, jumping, drifting) stands out among 100."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PyQt6.QtWidgets import QDoubleSpinBox, QHBoxLayout, QLabel, QVBoxLayout, QWidget

from ._axes import cache_axes
from ._feed import DataFeed

REDRAW_MS = 500
BINS = 200
#: Least height (px) of a bead-id label on the y axis.
LABEL_PX = 14


class OverviewPlot(QWidget):
    """Bead × time image of z minus each bead's median (nm); blank where a bead has no z."""

    def __init__(self, feed: DataFeed, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._feed = feed
        self._drawn: tuple | None = None  # (newest row time, window, span) drawn
        self.window_s = QDoubleSpinBox()
        self.window_s.setRange(1.0, 300.0)
        self.window_s.setValue(30.0)
        self.window_s.setSuffix(" s")
        self.span = QDoubleSpinBox()
        self.span.setRange(0.0, 1e5)
        self.span.setValue(0.0)
        self.span.setSuffix(" nm")
        self.span.setSpecialValueText("auto")
        bar = QHBoxLayout()
        bar.addWidget(QLabel("Window"))
        bar.addWidget(self.window_s)
        bar.addWidget(QLabel("colour range ±"))
        bar.addWidget(self.span)
        bar.addStretch(1)
        self.hint = QLabel("")
        bar.addWidget(self.hint)
        self.graphics = pg.GraphicsLayoutWidget()
        self.plot = self.graphics.addPlot()
        self.plot.setLabel("bottom", "time before the newest frame (s)")
        self.plot.setLabel("left", "bead (row)")
        cache_axes(self.plot)
        self.image = pg.ImageItem(axisOrder="col-major")
        self.image.setColorMap(pg.colormap.get("CET-D1"))
        self.plot.addItem(self.image)
        self.bead_ids: list[int] = []
        self._ticks: list[tuple[float, str]] = []
        layout = QVBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.addLayout(bar)
        layout.addWidget(self.graphics, 1)
        feed.every(REDRAW_MS, self.redraw)

    @staticmethod
    def _auto_span(image: np.ndarray) -> float:
        """±5 typical deviations (median |z − bead median|), at least 1 nm: a bead that moves
        more than the others, or jumps, stands out."""
        deviation = np.abs(image[np.isfinite(image)])
        return max(5.0 * float(np.median(deviation)) if deviation.size else 1.0, 1.0)

    def redraw(self) -> None:
        history = self._feed.history
        t1, window = history.latest_time, self.window_s.value()
        if not self.isVisible() or (t1, window, self.span.value()) == self._drawn:
            return
        self._drawn = (t1, window, self.span.value())
        beads = history.beads()
        if not beads or not np.isfinite(t1):
            return
        image = history.z_image(beads, t1 - window, t1, BINS)
        valid = np.isfinite(image)
        if not valid.any():
            self.hint.setText("no z yet: record or load a Z-LUT (Z-LUT panel)")
            return
        self.hint.setText("")
        medians = np.zeros(image.shape[1], dtype=image.dtype)
        columns = valid.any(axis=0)
        medians[columns] = np.nanmedian(image[:, columns], axis=0)
        image = image - medians
        span = self.span.value() or self._auto_span(image)
        self.image.setImage(image, levels=(-span, span))
        self.image.setRect(-window, 0, window, len(beads))
        self.bead_ids = beads
        ticks = [(i + 0.5, str(b)) for i, b in enumerate(beads)]
        rows_fit = max(1, int(self.plot.getViewBox().height() // LABEL_PX))
        ticks = ticks[:: -(-len(ticks) // rows_fit)]  # a label every ceil(n / fit) rows
        if ticks != self._ticks:  # setting ticks repaints the axis: only when they change
            self._ticks = ticks
            self.plot.getAxis("left").setTicks([ticks])
