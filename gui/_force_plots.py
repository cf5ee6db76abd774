"""The force calibration's plots: one bead's power spectrum with its fit, and force against
magnet height with the fitted curve (fit, save, load).

:class:`SpectrumPlot` only draws what it is given (a calibration result's ``spectra``);
:class:`ForceCurveView` asks the daemon for the points and the curve (``force_points``,
``force_curve``) and runs ``force_curve_fit``, ``force_curve_save``, ``force_curve_load`` and
``force_points_clear`` on the bridge.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyqtgraph as pg
from PyQt6.QtWidgets import (
    QComboBox,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from magscope_app.analysis.force_curve import ForceCurve

from ._bridge import Bridge

COLOURS = [
    (255, 200, 0),
    (0, 200, 255),
    (230, 90, 230),
    (60, 220, 90),
    (255, 120, 60),
    (160, 160, 255),
]
_MODEL_PEN = pg.mkPen((255, 80, 80), width=2)
_LORENTZ_PEN = pg.mkPen((120, 170, 255), width=1, style=pg.QtCore.Qt.PenStyle.DashLine)


def _array(values: Any) -> np.ndarray:
    """A float array (None, the daemon's stand-in for NaN/inf, becomes NaN)."""
    return np.array([np.nan if v is None else v for v in values or []], dtype=np.float64)


class SpectrumPlot(QWidget):
    """Log-log power spectrum (nm²/Hz against Hz) of one bead's calibration: the binned data,
    the fitted model (exposure blur and aliasing) and the plain Lorentzian for comparison."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._result: dict[str, Any] = {}
        self.axis = QComboBox()
        self.axis.currentTextChanged.connect(lambda _t: self._draw())
        self.title = QLabel("no calibration yet")
        bar = QHBoxLayout()
        bar.addWidget(QLabel("Axis"))
        bar.addWidget(self.axis)
        bar.addWidget(self.title, 1)
        self.plot = pg.PlotWidget()
        self.plot.setLogMode(x=True, y=True)
        self.plot.setLabel("bottom", "frequency (Hz)")
        self.plot.setLabel("left", "PSD (nm²/Hz)")
        self.plot.showGrid(x=True, y=True, alpha=0.2)
        self.data = self.plot.plot(
            pen=None, symbol="o", symbolSize=5, symbolBrush=(220, 220, 220), symbolPen=None
        )
        self.model = self.plot.plot(pen=_MODEL_PEN)
        self.lorentzian = self.plot.plot(pen=_LORENTZ_PEN)
        self.key = QLabel(
            "<span style='color:#666'>● data (binned)</span> &nbsp; "
            "<span style='color:#d22'>— fit (exposure blur + aliasing)</span> &nbsp; "
            "<span style='color:#36c'>- - Lorentzian (same fc, no blur or aliasing)</span>"
        )
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(bar)
        layout.addWidget(self.plot, 1)
        layout.addWidget(self.key)

    def show_bead(self, result: dict[str, Any] | None) -> None:
        """Draw one bead's calibration result (an entry of ``force_calibrate``'s ``beads``);
        None clears the plot."""
        self._result = result or {}
        spectra = self._result.get("spectra") or {}
        current = self.axis.currentText()
        self.axis.blockSignals(True)
        self.axis.clear()
        self.axis.addItems(sorted(spectra))
        if current in spectra:
            self.axis.setCurrentText(current)
        self.axis.blockSignals(False)
        self._draw()

    def _draw(self) -> None:
        spectrum = (self._result.get("spectra") or {}).get(self.axis.currentText())
        if not spectrum:
            for curve in (self.data, self.model, self.lorentzian):
                curve.setData([], [])
            flag = self._result.get("flag")
            self.title.setText(flag or "no spectrum" if self._result else "no calibration yet")
            return
        f, psd = _array(spectrum.get("frequency_hz")), _array(spectrum.get("psd"))
        self.data.setData(f, psd)
        self.model.setData(f, _array(spectrum.get("model")))
        self.lorentzian.setData(f, _array(spectrum.get("lorentzian")))
        shown = np.log10(psd[np.isfinite(psd) & (psd > 0)])
        if shown.size:  # two decades at least: no crowded minor labels on the log axis
            middle, half = (shown.max() + shown.min()) / 2, max(np.ptp(shown) / 2 + 0.1, 1.0)
            self.plot.setYRange(middle - half, middle + half, padding=0)
        corner, rate = self._result.get("corner_hz"), self._result.get("frame_rate_hz")
        text = f"bead {self._result.get('bead')}"
        if corner is not None and rate:
            text += f": fc {corner:.1f} Hz = {corner / rate:.2f}·fs"
        self.title.setText(text)


class ForceCurveView(QWidget):
    """Calibrated force against magnet height (log force), each bead's points and the fitted
    pooled curve over its calibrated range; Fit, Save, Load, Clear points."""

    def __init__(self, bridge: Bridge, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._bridge = bridge
        self.points: dict[int, list[dict[str, float]]] = {}
        self.curves: dict[str, Any] = {}
        self.plot = pg.PlotWidget()
        self.plot.setLogMode(x=False, y=True)
        self.plot.setLabel("bottom", "magnet height (mm)")
        self.plot.setLabel("left", "force (pN)")
        self.plot.showGrid(x=True, y=True, alpha=0.2)
        self.plot.addLegend(offset=(-10, 10)).setLabelTextSize("8pt")
        self.curve = self.plot.plot(pen=_MODEL_PEN, name="fit (pooled)")
        self._items: list[Any] = []
        self.terms = QComboBox()
        self.terms.addItem("2 exponentials", 2)
        self.terms.addItem("1 exponential", 1)
        self.fit_button, self.clear_button = QPushButton("Fit"), QPushButton("Clear points")
        self.save_button, self.load_button = QPushButton("Save"), QPushButton("Load")
        self.fit_button.clicked.connect(self.fit)
        self.clear_button.clicked.connect(self.clear_points)
        self.save_button.clicked.connect(self.save)
        self.load_button.clicked.connect(self.load)
        self.path = QLineEdit()
        self.path.setPlaceholderText("HDF5 file (empty: the Z-LUT file in use)")
        browse = QPushButton("…")
        browse.setMaximumWidth(30)
        browse.clicked.connect(self._browse)
        self.summary = QLabel("")
        self.summary.setWordWrap(True)
        fit_row, file_row = QHBoxLayout(), QHBoxLayout()
        for widget in (self.terms, self.fit_button, self.clear_button):
            fit_row.addWidget(widget)
        fit_row.addStretch(1)
        file_row.addWidget(self.path, 1)
        for button in (browse, self.save_button, self.load_button):
            file_row.addWidget(button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.plot, 1)
        layout.addWidget(self.summary)
        layout.addLayout(fit_row)
        layout.addLayout(file_row)

    # -- actions -----------------------------------------------------------------------------------
    def refresh(self) -> None:
        """Ask for the points and the curve again."""
        self._bridge.call("force_points", on_result=self._on_points, on_error=self._ignore)
        self._bridge.call("force_curve", on_result=self._on_curve, on_error=self._no_curve)

    def fit(self) -> None:
        self._bridge.call(
            "force_curve_fit",
            on_result=self._fitted,
            on_error=self._refused,
            terms=self.terms.currentData(),
        )

    def clear_points(self) -> None:
        self._bridge.call(
            "force_points_clear", on_result=lambda _r: self.refresh(), on_error=self._refused
        )

    def save(self) -> None:
        self._bridge.call(
            "force_curve_save", on_result=self._saved, on_error=self._refused, **self._path()
        )

    def load(self) -> None:
        self._bridge.call(
            "force_curve_load", on_result=self._loaded, on_error=self._refused, **self._path()
        )

    def _path(self) -> dict[str, str]:
        return {"path": self.path.text().strip()} if self.path.text().strip() else {}

    def _browse(self) -> None:
        no_confirm = QFileDialog.Option.DontConfirmOverwrite
        path, _ = QFileDialog.getSaveFileName(
            self, "Force curve file", self.path.text(), "HDF5 (*.h5)", options=no_confirm
        )
        if path:
            self.path.setText(path)

    def _fitted(self, result: dict[str, Any]) -> None:
        problems = result.get("problems") or {}
        self._on_curve(result)
        if problems:
            self.summary.setText(
                self.summary.text()
                + "; not fitted: "
                + "; ".join(f"{bead}: {why}" for bead, why in problems.items())
            )

    def _saved(self, result: dict[str, Any]) -> None:
        self.summary.setText(f"saved to {result.get('path')}")

    def _loaded(self, result: dict[str, Any]) -> None:
        self.refresh()

    def _refused(self, code: str, message: str) -> None:
        self.summary.setText(f"<span style='color:#d33'>{message}</span>")

    def _ignore(self, code: str, message: str) -> None:
        pass

    # -- drawing -----------------------------------------------------------------------------------
    def _on_points(self, result: dict[str, Any]) -> None:
        self.points = {int(b): p for b, p in (result.get("points") or {}).items()}
        for item in self._items:
            self.plot.removeItem(item)
        self._items = []
        for n, points in enumerate(p for _b, p in sorted(self.points.items())):
            h = _array([p["height_mm"] for p in points])
            f = _array([p["force_pN"] for p in points])
            e = _array([p["force_error_pN"] for p in points])
            colour = COLOURS[n % len(COLOURS)]
            ok = f > 0
            scatter = self.plot.plot(
                h[ok], f[ok], pen=None, symbol="o", symbolSize=7, symbolBrush=colour, symbolPen=None
            )
            # bars in log10 units, cut at a factor 10 (a larger error says "unknown" just as well)
            low = np.log10(np.maximum(f[ok] - e[ok], f[ok] / 10))
            high = np.log10(np.minimum(f[ok] + e[ok], f[ok] * 10))
            bars = pg.ErrorBarItem(
                x=h[ok],
                y=np.log10(f[ok]),
                top=high - np.log10(f[ok]),
                bottom=np.log10(f[ok]) - low,
                pen=pg.mkPen(colour),
                beam=0.0,
            )
            self.plot.addItem(bars)
            self._items += [scatter, bars]

    def _no_curve(self, code: str, message: str) -> None:
        self.curves = {}
        self.curve.setData([], [])
        self.summary.setText("no force curve yet: calibrate at a few heights, then Fit")

    def _on_curve(self, result: dict[str, Any]) -> None:
        self.curves = result.get("curves") or {}
        pooled = self.curves.get("pooled")
        if not pooled:
            self._no_curve("", "")
            return
        low, high = pooled["height_range_mm"]
        heights = np.linspace(low, high, 100)
        points = [_array(pooled.get(k)) for k in ("heights_mm", "forces_pN", "force_errors_pN")]
        curve = ForceCurve(_array(pooled["params"]), np.zeros((5, 5)), (low, high), *points)
        self.curve.setData(heights, curve.force(heights))
        a1, d1, a2, d2, c = pooled["params"]
        f_low, f_high = pooled.get("force_range_pN", (np.nan, np.nan))
        self.summary.setText(
            f"F(h) = {a1:.3g}·e^(−h/{d1:.3g})"
            + (f" + {a2:.3g}·e^(−h/{d2:.3g})" if a2 else "")
            + (f" + {c:.3g}" if c else "")
            + f" pN; calibrated {low:.2f}–{high:.2f} mm "
            f"({f_low:.2g}–{f_high:.2g} pN)"
        )
