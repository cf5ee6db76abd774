"""Force–extension of the selected beads, live, with a worm-like-chain fit.

Each status refresh (about once a second, and at every pushed event) adds, for every selected
bead with a live force (``status['force']['forces_pN']``, from the force curve) and a surface
position (``beads``' ``surface_z_nm``), one point: the force against the bead's mean z over its
newest :data:`WINDOW_S` of tracks (the window's track history, from shared memory) minus its
surface. A point at the same force as the bead's previous one (within :data:`SAME_FORCE`) is
averaged into it, so a step series gives one point per step and a ramp a point per refresh.
"WLC fit" fits the points of the chosen model's range (:func:`magscope_app.analysis.wlc.fit_wlc`)
and shows Lp and L0 with their 1σ.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyqtgraph as pg
from PyQt6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from magscope_app.analysis import wlc

from ._events import DaemonEvents
from ._feed import DataFeed
from ._force_plots import COLOURS
from ._history import TIME, Z_NM
from ._selection import BeadSelection

#: Tracks averaged for one point (s before the newest row).
WINDOW_S = 0.5
#: Relative force difference under which a new point joins the previous one.
SAME_FORCE = 0.01
#: Fit models: label -> (wlc model, lowest force, highest force) in pN.
MODELS = {
    "WLC (Bouchiat), F ≤ 5 pN": ("bouchiat", 0.0, 5.0),
    "extensible WLC (Odijk), F ≥ 5 pN": ("odijk", 5.0, math.inf),
}


@dataclass
class _Points:
    """One bead's points: force (pN) and the sum and count of extension samples (nm)."""

    force: list[float] = field(default_factory=list)
    total: list[float] = field(default_factory=list)
    count: list[int] = field(default_factory=list)
    since: float = -math.inf  # newest row time already used

    def add(self, force: float, extensions: np.ndarray) -> None:
        if self.force and abs(force - self.force[-1]) <= SAME_FORCE * max(force, 1e-3):
            self.total[-1] += float(extensions.sum())
            self.count[-1] += extensions.size
        else:
            self.force.append(force)
            self.total.append(float(extensions.sum()))
            self.count.append(extensions.size)

    def arrays(self) -> tuple[np.ndarray, np.ndarray]:
        """(force pN, mean extension nm) of every point."""
        return np.array(self.force), np.array(self.total) / np.maximum(self.count, 1)


class ForceExtensionPlot(QWidget):
    """Extension (z − surface, nm) against force (pN) of the selected beads, accumulated live."""

    def __init__(
        self,
        events: DaemonEvents,
        feed: DataFeed,
        selection: BeadSelection,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self._feed, self._selection = feed, selection
        self.points: dict[int, _Points] = {}
        self.surfaces: dict[int, float] = {}
        self.fits: dict[int, wlc.WLCFit] = {}
        self._fit_range: dict[int, tuple[float, float]] = {}  # forces (pN) each fit used
        self.model = QComboBox()
        self.model.addItems(MODELS)
        self.fit_button = QPushButton("WLC fit")
        self.fit_button.clicked.connect(self.fit)
        self.clear_button = QPushButton("Clear")
        self.clear_button.clicked.connect(self.clear)
        self.log_x = QCheckBox("log force")
        self.log_x.toggled.connect(lambda on: self.plot.setLogMode(x=on, y=False))
        self.live = QLabel("live force: -")
        bar = QHBoxLayout()
        for widget in (self.model, self.fit_button, self.clear_button, self.log_x):
            bar.addWidget(widget)
        bar.addWidget(self.live, 1)
        self.plot = pg.PlotWidget()
        self.plot.setLabel("bottom", "force (pN)")
        self.plot.setLabel("left", "extension (nm)")
        self.plot.showGrid(x=True, y=True, alpha=0.2)
        self.plot.addLegend(offset=(10, 10)).setLabelTextSize("8pt")
        self.result = QLabel("select tethered beads in the live view; set or ramp the force")
        self.result.setWordWrap(True)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.addLayout(bar)
        layout.addWidget(self.plot, 1)
        layout.addWidget(self.result)
        self._scatter: dict[int, pg.PlotDataItem] = {}
        self._fitted: dict[int, pg.PlotDataItem] = {}
        events.status.connect(self._on_status)
        events.beads.connect(self._on_beads)
        selection.changed.connect(self._redraw)

    def _on_beads(self, beads: list[dict[str, Any]]) -> None:
        self.surfaces = {
            int(b["id"]): float(b["surface_z_nm"])
            for b in beads
            if b.get("surface_z_nm") is not None
        }

    def _on_status(self, status: dict[str, Any]) -> None:
        forces = {
            int(b): f for b, f in ((status.get("force") or {}).get("forces_pN") or {}).items()
        }
        ids = self._selection.ids
        self.live.setText(
            "live force: "
            + (
                ", ".join(f"bead {b} {forces[b]:.2f} pN" for b in ids if forces.get(b) is not None)
                or "-"
            )
        )
        added = False
        history = self._feed.history
        for bead in ids:
            force, surface = forces.get(bead), self.surfaces.get(bead)
            if force is None or surface is None or not force > 0:
                continue
            store = self.points.setdefault(bead, _Points())
            rows = history.rows(bead, max(store.since, history.latest_time - WINDOW_S))
            rows = rows[rows[:, TIME] > store.since]
            z = rows[:, Z_NM]
            z = z[np.isfinite(z)]
            if z.size:
                store.add(float(force), z - surface)
                store.since = float(rows[-1, TIME])
                added = True
        if added:
            self._redraw()

    def clear(self) -> None:
        """Forget every point and fit."""
        self.points.clear()
        self.fits.clear()
        self.result.setText("")
        self._redraw()

    def fit(self) -> None:
        """Fit the chosen model to each selected bead's points in its force range."""
        model, low, high = MODELS[self.model.currentText()]
        self.fits.clear()
        lines = []
        for bead in self._selection.ids:
            force, extension = self.points.get(bead, _Points()).arrays()
            use = (force >= low) & (force <= high)
            try:
                fit = wlc.fit_wlc(force[use], extension[use], model=model)
            except (ValueError, np.linalg.LinAlgError) as exc:
                lines.append(f"bead {bead}: {exc}")
                continue
            self.fits[bead] = fit
            self._fit_range[bead] = (float(force[use].min()), float(force[use].max()))
            lines.append(
                f"bead {bead}: Lp = {fit.persistence_nm:.1f} ± {fit.persistence_error_nm:.1f} nm, "
                f"L0 = {fit.contour_nm:.0f} ± {fit.contour_error_nm:.0f} nm ({fit.n_points} points)"
            )
        self.result.setText("\n".join(lines) or "select beads with points first")
        self._redraw()

    def _redraw(self) -> None:
        ids = self._selection.ids[: len(COLOURS)]
        for bead in [b for b in self._scatter if b not in ids]:
            self.plot.removeItem(self._scatter.pop(bead))
        for bead in [b for b in self._fitted if b not in ids or b not in self.fits]:
            self.plot.removeItem(self._fitted.pop(bead))
        for n, bead in enumerate(ids):
            force, extension = self.points.get(bead, _Points()).arrays()
            scatter = self._scatter.get(bead)
            if scatter is None:
                scatter = self._scatter[bead] = self.plot.plot(
                    pen=None,
                    symbol="o",
                    symbolSize=6,
                    symbolBrush=COLOURS[n],
                    symbolPen=None,
                    name=f"bead {bead}",
                )
            scatter.setData(force, extension)
            fit = self.fits.get(bead)
            if fit is None or not force.size:
                continue
            f = np.geomspace(*self._fit_range[bead], 100)
            if fit.model == "odijk":
                curve = wlc.odijk_extension(
                    f, fit.contour_nm, fit.persistence_nm, fit.stretch_modulus_pN
                )
            else:
                curve = wlc.bouchiat_extension(f, fit.contour_nm, fit.persistence_nm)
            line = self._fitted.get(bead)
            if line is None:
                line = self._fitted[bead] = self.plot.plot(pen=pg.mkPen(COLOURS[n], width=2))
            line.setData(f, curve)
