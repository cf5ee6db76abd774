"""Z-LUT panel: sweep set-up, progress, the per-bead quality table, one bead's LUT as an image,
save and load."""

from __future__ import annotations

from typing import Any

from PyQt6.QtCore import Qt
from PyQt6.QtWidgets import (
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from ._bridge import Bridge
from ._events import DaemonEvents
from ._lut_view import LUTView

_TABLE = ("bead", "usable", "contrast", "σz (nm)", "motion (nm)", "z range (nm)",
          "why / what to do")  # fmt: skip


def _spin(low: float, high: float, value: float, suffix: str, decimals: int = 1) -> QDoubleSpinBox:
    spin = QDoubleSpinBox()
    spin.setRange(low, high)
    spin.setDecimals(decimals)
    spin.setValue(value)
    spin.setSuffix(suffix)
    return spin


class ZLUTPanel(QWidget):
    """Runs ``zlut_sweep`` / ``zlut_cancel``, follows ``status['zlut']``, shows ``zlut_show``."""

    def __init__(self, bridge: Bridge, events: DaemonEvents, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._bridge, self._events = bridge, events
        self._state: str | None = None
        self.start_nm = _spin(-1e5, 1e5, -1000.0, " nm")
        self.stop_nm = _spin(-1e5, 1e5, 1000.0, " nm")
        self.step_nm = _spin(-1e4, 1e4, 50.0, " nm")
        self.per_plane = QSpinBox()
        self.per_plane.setRange(1, 10_000)
        self.per_plane.setValue(20)
        self.settle = _spin(0.0, 60.0, 0.1, " s", 2)
        form = QFormLayout()
        form.addRow("From", self.start_nm)
        form.addRow("To", self.stop_nm)
        form.addRow("Step", self.step_nm)
        form.addRow("Profiles per plane", self.per_plane)
        form.addRow("Settle", self.settle)
        self.start_button = QPushButton("Start sweep")
        self.start_button.clicked.connect(self.start_sweep)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.clicked.connect(self.cancel)
        self.cancel_button.setEnabled(False)
        buttons = QHBoxLayout()
        buttons.addWidget(self.start_button)
        buttons.addWidget(self.cancel_button)
        self.progress = QProgressBar()
        self.progress.setFormat("idle")
        self.message = QLabel("")
        self.message.setWordWrap(True)
        self.table = QTableWidget(0, len(_TABLE))
        self.table.setHorizontalHeaderLabels(_TABLE)
        self.table.verticalHeader().hide()
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setStretchLastSection(True)
        self.path = QLineEdit()
        self.path.setPlaceholderText("LUT file (.h5, or a MagScope .txt to load)")
        browse = QPushButton("…")
        browse.setMaximumWidth(30)
        browse.clicked.connect(self._browse)
        self.save_button, self.load_button = QPushButton("Save"), QPushButton("Load")
        self.save_button.clicked.connect(self.save)
        self.load_button.clicked.connect(self.load)
        files = QHBoxLayout()
        files.addWidget(self.path, 1)
        files.addWidget(browse)
        files.addWidget(self.save_button)
        files.addWidget(self.load_button)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addLayout(buttons)
        layout.addWidget(self.progress)
        layout.addWidget(self.message)
        self.lut_view = LUTView(bridge, events)
        split = QSplitter(Qt.Orientation.Vertical)
        split.addWidget(self.table)
        split.addWidget(self.lut_view)
        split.setSizes([200, 300])
        layout.addWidget(split, 1)
        layout.addLayout(files)
        events.status.connect(self._on_status)
        events.connected.connect(self.show_report)

    # -- actions -----------------------------------------------------------------------------------
    def start_sweep(self) -> None:
        self.message.setText("starting…")
        self._bridge.call(
            "zlut_sweep", on_result=self._started, on_error=self._refused,
            start=self.start_nm.value(), stop=self.stop_nm.value(), step=self.step_nm.value(),
            per_plane=self.per_plane.value(), settle_s=self.settle.value(),
        )  # fmt: skip

    def cancel(self) -> None:
        self._bridge.call("zlut_cancel", on_error=self._refused)

    def save(self) -> None:
        self._bridge.call("zlut_save", on_result=self._saved, on_error=self._refused,
                          path=self.path.text())  # fmt: skip

    def load(self) -> None:
        self._bridge.call("zlut_load", on_result=self._loaded, on_error=self._refused,
                          path=self.path.text())  # fmt: skip

    def _browse(self) -> None:
        no_confirm = QFileDialog.Option.DontConfirmOverwrite
        path, _ = QFileDialog.getSaveFileName(
            self, "Z-LUT file", self.path.text(), "Z-LUT (*.h5 *.txt *.csv)", options=no_confirm
        )
        if path:
            self.path.setText(path)

    def _started(self, result: dict[str, Any]) -> None:
        self.message.setText(f"sweep of {result.get('planes')} planes, "
                             f"{len(result.get('beads', []))} beads")  # fmt: skip
        self._events.refresh()

    def _saved(self, result: dict[str, Any]) -> None:
        self.message.setText(f"saved {len(result.get('beads', []))} LUT(s) to {result.get('path')}")

    def _loaded(self, result: dict[str, Any]) -> None:
        self.message.setText(
            f"loaded LUT(s) for beads {result.get('beads')} from {result.get('path')}"
        )
        self.lut_view.show_bead(self.lut_view.bead.currentText())
        self.show_report()

    def _refused(self, code: str, message: str) -> None:
        self.message.setText(f"<span style='color:#d33'>{message}</span>")

    # -- state -------------------------------------------------------------------------------------
    def _on_status(self, status: dict[str, Any]) -> None:
        zlut = status.get("zlut") or {}
        state = zlut.get("state", "idle")
        running = state == "running"
        self.start_button.setEnabled(not running)
        self.cancel_button.setEnabled(running)
        planes = zlut.get("planes") or 0
        self.progress.setMaximum(max(planes, 1))
        self.progress.setValue(zlut.get("plane", 0) if running else (planes if state == "complete"
                                                                     else 0))  # fmt: skip
        eta = zlut.get("eta_s")
        if running:
            self.progress.setFormat("plane %v of %m" + (f", {eta:.0f} s left" if eta else ""))
        else:
            self.progress.setFormat(state)
        if state != self._state and self._state == "running":
            self.message.setText(f"sweep {state}: {zlut.get('message')}")
            self.show_report()
        self._state = state

    def show_report(self) -> None:
        self._bridge.call("zlut_show", on_result=self._on_report, on_error=self._no_report)

    def _no_report(self, code: str, message: str) -> None:
        self.table.setRowCount(0)

    def _on_report(self, result: dict[str, Any]) -> None:
        beads = (result.get("report") or {}).get("beads", {})
        self.table.setRowCount(len(beads))
        for row, (bead, q) in enumerate(sorted(beads.items(), key=lambda kv: int(kv[0]))):
            reasons = "; ".join(q.get("reasons", []))
            hint = q.get("hint") or reasons  # the plain-words advice of the report, if any
            low, high = q.get("z_min_nm"), q.get("z_max_nm")
            values = (
                bead, "yes" if q.get("usable") else "no", _num(q.get("contrast"), ".3f"),
                _num(q.get("sigma_z_nm"), ".1f"), _num(q.get("axial_motion_nm"), ".0f"),
                "-" if low is None or high is None else f"{low:.0f} … {high:.0f}", hint,
            )  # fmt: skip
            for col, value in enumerate(values):
                item = QTableWidgetItem(str(value))
                if col == len(values) - 1:
                    item.setToolTip("\n".join(t for t in (q.get("hint"), reasons) if t))
                self.table.setItem(row, col, item)


def _num(value: Any, spec: str) -> str:
    if value is None or isinstance(value, str):
        return "-" if value is None else value
    return format(value, spec)
