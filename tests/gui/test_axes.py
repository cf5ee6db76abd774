"""Live plot ranges and axes (no daemon): few range changes, to round numbers; axes that do not
shrink back."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
import pytest
from magscope_app.gui._axes import cache_axes, steady_y_range


@pytest.fixture
def plot(qapp):
    widget = pg.PlotWidget()
    widget.resize(400, 200)
    yield widget.getPlotItem()
    widget.close()
    widget.deleteLater()


def _y(plot: pg.PlotItem) -> list[float]:
    return plot.getViewBox().viewRange()[1]


def test_y_range_holds_the_data_in_round_numbers_and_changes_rarely(plot):
    steady_y_range(plot, np.array([-12.3, 47.9, np.nan]))
    low, high = _y(plot)
    assert low <= -12.3 and high >= 47.9
    assert low == round(low / 10) * 10 and high == round(high / 10) * 10  # a 10 nm step
    assert high - low <= 1.5 * (47.9 + 12.3)
    for a, b in ((-10.0, 49.0), (-13.0, 45.0), (-5.0, 40.0)):  # new extremes inside the margin
        steady_y_range(plot, np.array([a, b]))
        assert _y(plot) == [low, high]
    steady_y_range(plot, np.array([-12.3, 300.0]))  # out of view: grows
    assert _y(plot)[1] >= 300.0
    steady_y_range(plot, np.array([1.0, 2.0]))  # a quarter of the range or less: shrinks
    low, high = _y(plot)
    assert low <= 1.0 and 2.0 <= high <= 5.0
    steady_y_range(plot, np.array([np.nan]))  # nothing finite: unchanged
    assert _y(plot) == [low, high]


def test_cached_axes_grow_for_long_labels_but_do_not_shrink_back(plot, qapp):
    cache_axes(plot)
    axis, widget = plot.getAxis("left"), plot.getViewWidget()

    def width_shown(low: float, high: float) -> float:
        plot.setYRange(low, high, padding=0)
        widget.grab()  # the tick labels are measured when drawn, the axis resized afterwards
        qapp.processEvents()
        return axis.width()

    narrow = width_shown(0, 1)
    wide = width_shown(-1234567, 1234567)
    assert wide > narrow
    assert width_shown(0, 1) == wide
