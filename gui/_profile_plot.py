"""The live radial profile of the selected bead (LiveProfileBuffer), refreshed by a timer, over
the plane of its Z-LUT nearest the bead's current z (the newest z of the track history).

Selecting a bead asks the daemon to publish its profile (``select_profile_bead``) and for its
LUT (``zlut_get``; asked again when the daemon's LUTs change).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyqtgraph as pg
from PyQt6.QtWidgets import QLabel, QVBoxLayout, QWidget

from ._axes import cache_axes, fixed_x_range, steady_y_range
from ._bridge import Bridge
from ._events import DaemonEvents
from ._feed import DataFeed
from ._history import Z_NM
from ._lut_view import lut_arrays
from ._selection import BeadSelection

REDRAW_MS = 250


class ProfilePlot(QWidget):
    """Intensity against radius (profile bins) of the first selected bead."""

    def __init__(self, bridge: Bridge, events: DaemonEvents, feed: DataFeed,
                 selection: BeadSelection, parent: QWidget | None = None) -> None:  # fmt: skip
        super().__init__(parent)
        self._bridge, self._feed, self._selection = bridge, feed, selection
        self._bead: int | None = None
        self._lut: tuple[np.ndarray, np.ndarray] | None = None  # z_nm (m,), profiles (m, bins)
        self._luts_key: Any = None
        self._shown: tuple[float, int] | None = None  # (profile time, LUT plane) drawn
        self.title = QLabel("select a bead in the live view")
        self.graphics = pg.PlotWidget()
        self.graphics.setLabel("bottom", "radius (bins)")
        self.graphics.setLabel("left", "intensity")
        self.graphics.showGrid(x=True, y=True, alpha=0.2)
        cache_axes(self.graphics.getPlotItem())
        self.graphics.addLegend(offset=(-10, 10))
        self.lut_curve = self.graphics.plot(pen=pg.mkPen((60, 140, 255), width=6),
                                            name="Z-LUT plane")  # fmt: skip
        self.curve = self.graphics.plot(pen=pg.mkPen((255, 200, 0), width=1.5), name="live")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.addWidget(self.title)
        layout.addWidget(self.graphics, 1)
        selection.changed.connect(self._selection_changed)
        feed.attached.connect(self._selection_changed)
        events.status.connect(self._on_status)
        feed.every(REDRAW_MS, self.redraw)

    def _selection_changed(self) -> None:
        ids = self._selection.ids
        bead = ids[0] if ids else None
        if bead != self._bead or bead is not None:
            self._bead = bead
            args = {} if bead is None else {"id": bead}
            self._bridge.call("select_profile_bead", **args)
            self._ask_lut()
        if bead is None:
            self.curve.setData([], [])
            self.lut_curve.setData([], [])
            self.title.setText("select a bead in the live view")

    def _on_status(self, status: dict[str, Any]) -> None:
        zlut = status.get("zlut") or {}
        key = (zlut.get("luts"), zlut.get("state"))
        if key != self._luts_key:
            self._luts_key = key
            self._ask_lut()

    def _ask_lut(self) -> None:
        self._lut, self._shown = None, None
        self.lut_curve.setData([], [])
        if self._bead is not None:
            self._bridge.call("zlut_get", on_result=self._got_lut, on_error=self._no_lut,
                              bead=self._bead)  # fmt: skip

    def _got_lut(self, reply: dict[str, Any]) -> None:
        if reply.get("bead") == self._bead:
            z, profiles, _radii = lut_arrays(reply)
            self._lut = z, profiles

    def _no_lut(self, code: str, message: str) -> None:
        self._lut = None

    def nearest_plane(self) -> tuple[int, float] | None:
        """(index, z nm) of the LUT plane nearest the bead's newest tracked z, or None (no LUT,
        no valid z yet)."""
        row = None if self._bead is None else self._feed.history.latest(self._bead)
        if self._lut is None or row is None or not np.isfinite(row[Z_NM]):
            return None
        z = self._lut[0]
        index = int(np.argmin(np.abs(z - row[Z_NM])))
        return index, float(z[index])

    def redraw(self) -> None:
        profile = self._feed.shared.profile
        if profile is None or self._bead is None or not self.isVisible():
            return
        latest = profile.peek_profile()
        if latest is None or latest[1] != self._bead:
            return
        t, bead, values = latest
        plane = self.nearest_plane()
        shown = (t, -1 if plane is None else plane[0])
        if shown == self._shown:
            return  # nothing new to draw
        self._shown = shown
        self.curve.setData(values)
        text = f"bead {bead}: live radial profile ({len(values)} bins)"
        if plane is None:
            self.lut_curve.setData([], [])
            steady_y_range(self.graphics.getPlotItem(), values)
        else:
            lut_profile = self._lut[1][plane[0]]
            self.lut_curve.setData(lut_profile, skipFiniteCheck=True)
            steady_y_range(self.graphics.getPlotItem(), values, lut_profile)
            text += f" over its Z-LUT plane at z = {round(plane[1])} nm (nearest its z)"
        fixed_x_range(self.graphics.getPlotItem(), 0, len(values))
        self.title.setText(text)
