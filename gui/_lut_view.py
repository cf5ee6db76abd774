"""One bead's Z-LUT as an image: radius (px) across, height z (nm) up, intensity as colour.

The LUT comes from the daemon's ``zlut_get {bead}`` (the LUT the bead is tracked with); the
beads offered are those with a LUT in ``status['zlut']['luts']`` (re-read when that list or the
sweep state changes). Planes are drawn evenly spaced from the first to the last z.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyqtgraph as pg
from PyQt6.QtCore import QRectF
from PyQt6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QVBoxLayout, QWidget

from ._bridge import Bridge
from ._events import DaemonEvents


def lut_arrays(reply: dict[str, Any]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(z_nm (m,), profiles (m, n_bins), radii_px (n_bins,))`` of a ``zlut_get`` reply."""
    z = np.asarray(reply["z_nm"], dtype=np.float64)
    profiles = np.asarray(reply["profiles"], dtype=np.float64).reshape(len(z), -1)
    return z, profiles, np.asarray(reply["radii_px"], dtype=np.float64)


class LUTView(QWidget):
    """Image of the chosen bead's LUT profiles against z."""

    def __init__(self, bridge: Bridge, events: DaemonEvents, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._bridge = bridge
        self._key: tuple[list[int], Any] | None = None
        self.bead = QComboBox()
        self.bead.setMinimumContentsLength(4)
        self.bead.currentTextChanged.connect(self.show_bead)
        self.info = QLabel("no Z-LUT yet")
        bar = QHBoxLayout()
        bar.addWidget(QLabel("LUT of bead"))
        bar.addWidget(self.bead)
        bar.addWidget(self.info, 1)
        self.graphics = pg.PlotWidget()
        plot = self.graphics.getPlotItem()
        plot.setLabel("bottom", "radius (px)")
        plot.setLabel("left", "z (nm)")
        self.image = pg.ImageItem()
        self.image.setColorMap(pg.colormap.get("viridis"))
        plot.addItem(self.image)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(bar)
        layout.addWidget(self.graphics, 1)
        events.status.connect(self._on_status)

    def _on_status(self, status: dict[str, Any]) -> None:
        zlut = status.get("zlut") or {}
        beads = sorted(int(b) for b in zlut.get("luts", []))
        key = (beads, zlut.get("state"))
        if key == self._key:
            return
        self._key = key
        current = self.bead.currentText()
        self.bead.blockSignals(True)
        self.bead.clear()
        self.bead.addItems([str(b) for b in beads])
        if current in map(str, beads):
            self.bead.setCurrentText(current)
        self.bead.blockSignals(False)
        self.show_bead(self.bead.currentText())
        if not beads:
            self.image.clear()
            self.info.setText("no Z-LUT yet")

    def show_bead(self, text: str) -> None:
        """Ask the daemon for bead ``text``'s LUT and draw it."""
        if text.isdigit():
            self._bridge.call("zlut_get", on_result=self._draw, on_error=self._refused,
                              bead=int(text))  # fmt: skip

    def _draw(self, reply: dict[str, Any]) -> None:
        z, profiles, radii = lut_arrays(reply)
        self.image.setImage(profiles.T, autoLevels=True)  # x: radius, y: z
        dr = radii[1] - radii[0] if len(radii) > 1 else 1.0
        dz = (z[-1] - z[0]) / max(len(z) - 1, 1)
        self.image.setRect(QRectF(radii[0] - dr / 2, z[0] - dz / 2, dr * len(radii),
                                  dz * len(z)))  # fmt: skip
        self.graphics.getPlotItem().autoRange(padding=0)
        shared = " (the LUT shared by all beads)" if reply.get("default") else ""
        self.info.setText(f"{len(z)} planes, {z[0]:.0f} … {z[-1]:.0f} nm, "
                          f"{len(radii)} radii{shared}")  # fmt: skip

    def _refused(self, code: str, message: str) -> None:
        self.image.clear()
        self.info.setText(f"<span style='color:#c80'>{message}</span>")
