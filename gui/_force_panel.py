"""Force panel: force calibration (a background action with progress and cancel), the per-bead
results with each bead's live force, and moving the magnets to a force or ramping it; its
:attr:`ForcePanel.plots` (docked on their own, wide) show the power spectrum of the bead chosen
in the table with its fit, and force against magnet height with the fitted curve.

The running action (``force_calibrate``, ``force_ramp``, ``surface_find``) is followed through
``status['force']`` (refreshed at once on every pushed ``force`` event); when a calibration
completes, its result is fetched with ``force_status``, so one started from the CLI or a script
shows here too.
"""

from __future__ import annotations

from typing import Any

from PyQt6.QtCore import Qt
from PyQt6.QtWidgets import (
    QComboBox,
    QDoubleSpinBox,
    QFrame,
    QGridLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from ._bridge import Bridge
from ._events import DaemonEvents
from ._force_plots import ForceCurveView, SpectrumPlot
from ._selection import BeadSelection

COLUMNS = ("bead", "force (pN)", "± (pN)", "live (pN)", "fc (Hz)", "fc/fs", "extension (nm)",
           "flag")  # fmt: skip
LIVE_COLUMN = COLUMNS.index("live (pN)")


def _spin(low: float, high: float, value: float, suffix: str, decimals: int = 2) -> QDoubleSpinBox:
    spin = QDoubleSpinBox()
    spin.setRange(low, high)
    spin.setDecimals(decimals)
    spin.setValue(value)
    spin.setSuffix(suffix)
    return spin


def _combo(*items: str) -> QComboBox:
    box = QComboBox()
    box.addItems(items)
    return box


def _num(value: Any, spec: str) -> str:
    return "-" if value is None else format(value, spec)


class ForcePanel(QScrollArea):
    """Calibrate, inspect and use the force: ``force_calibrate``/``force_cancel``,
    ``surface_find``, ``force_set``, ``force_ramp``; results table, spectrum and force curve."""

    def __init__(
        self,
        bridge: Bridge,
        events: DaemonEvents,
        selection: BeadSelection,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self._bridge, self._events, self._selection = bridge, events, selection
        #: The last calibration's beads (entries of its result's ``beads``), by bead id.
        self.results: dict[int, dict[str, Any]] = {}
        self.live: dict[int, float | None] = {}
        self.action: dict[str, Any] = {}
        self._shown_id: Any = None

        self.seconds = _spin(0.5, 3600.0, 10.0, " s", 1)
        self.axis = _combo("x", "y", "xy")
        self.axis.setToolTip("x: along the field (short pendulum); y: across it; xy: both")
        self.method = _combo("spectrum", "allan", "both")
        self.drag = _combo("free", "stokes", "faxen")
        self.beads = _combo("tethered", "selected")
        self.calibrate_button = QPushButton("Calibrate")
        self.calibrate_button.clicked.connect(self.calibrate)
        self.surface_button = QPushButton("Find surfaces")
        self.surface_button.setToolTip(
            "Hold the beads down (magnets up) and take each bead's z "
            "on the surface: extension = z − surface"
        )
        self.surface_button.clicked.connect(self.find_surfaces)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setEnabled(False)
        self.cancel_button.clicked.connect(self.cancel)
        form = QVBoxLayout()
        for pairs in (
            (("Duration", self.seconds), ("Beads", self.beads)),
            (("Axis", self.axis), ("Method", self.method), ("Drag", self.drag)),
        ):
            row = QHBoxLayout()
            for label, widget in pairs:
                row.addWidget(QLabel(label))
                row.addWidget(widget, 1)
            form.addLayout(row)
        buttons = QHBoxLayout()
        for button in (self.calibrate_button, self.surface_button, self.cancel_button):
            buttons.addWidget(button)
        self.progress = QProgressBar()
        self.progress.setRange(0, 1000)
        self.progress.setFormat("idle")
        self.message = QLabel("")
        self.message.setWordWrap(True)

        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.verticalHeader().hide()
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QTableWidget.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QTableWidget.SelectionMode.SingleSelection)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setStretchLastSection(True)
        self.table.setWordWrap(False)
        self.table.setMinimumHeight(120)
        self.table.itemSelectionChanged.connect(self._row_chosen)
        self.spectrum = SpectrumPlot()
        self.force_curve = ForceCurveView(bridge)
        #: The spectrum and the force curve side by side: a widget of its own, for a wide dock.
        self.plots = QSplitter(Qt.Orientation.Horizontal)
        self.plots.addWidget(self.spectrum)
        self.plots.addWidget(self.force_curve)

        self.force = _spin(0.0, 1000.0, 5.0, " pN")
        self.set_button = QPushButton("Set force")
        self.set_button.clicked.connect(self.set_force)
        self.ramp_from = _spin(0.0, 1000.0, 1.0, " pN")
        self.ramp_to = _spin(0.0, 1000.0, 8.0, " pN")
        self.ramp_rate = _spin(0.001, 1000.0, 0.5, " pN/s", 3)
        self.ramp_button = QPushButton("Ramp")
        self.ramp_button.clicked.connect(self.ramp)
        use = QGridLayout()  # Force [pN] [Set force] / Ramp [from] → [to] / at [rate] [Ramp]
        for row, widgets in enumerate(
            (
                (QLabel("Force"), self.force, None, None, self.set_button),
                (QLabel("Ramp"), self.ramp_from, QLabel("→"), self.ramp_to, None),
                (QLabel("at"), self.ramp_rate, None, None, self.ramp_button),
            )
        ):
            for col, widget in enumerate(widgets):
                if widget is not None:
                    use.addWidget(widget, row, col)

        content = QWidget()  # scrolls: the dock area is not held taller than the window
        layout = QVBoxLayout(content)
        layout.addLayout(form)
        layout.addLayout(buttons)
        layout.addWidget(self.progress)
        layout.addWidget(self.message)
        layout.addWidget(self.table, 1)
        layout.addLayout(use)
        self.setWidget(content)
        self.setWidgetResizable(True)
        self.setFrameShape(QFrame.Shape.NoFrame)
        events.status.connect(self._on_status)
        events.daemon_event.connect(self._on_event)
        events.connected.connect(self._on_connected)
        selection.changed.connect(self._selection_changed)

    # -- actions -----------------------------------------------------------------------------------
    def calibrate(self) -> None:
        args: dict[str, Any] = {
            "seconds": self.seconds.value(),
            "axis": self.axis.currentText(),
            "method": self.method.currentText(),
            "drag": self.drag.currentText(),
        }
        if self.beads.currentText() == "selected":
            if not self._selection.ids:
                self._refused(
                    "", "select beads in the live view first (or calibrate the tethered beads)"
                )
                return
            args["beads"] = self._selection.ids
        self._start("force_calibrate", args)

    def find_surfaces(self) -> None:
        args = {"beads": self._selection.ids} if self.beads.currentText() == "selected" else {}
        self._start("surface_find", args)

    def ramp(self) -> None:
        self._start(
            "force_ramp",
            {
                "from_pN": self.ramp_from.value(),
                "to_pN": self.ramp_to.value(),
                "rate_pN_per_s": self.ramp_rate.value(),
            },
        )

    def _start(self, command: str, args: dict[str, Any]) -> None:
        self.message.setText("starting…")
        self._bridge.call(command, on_result=self._started, on_error=self._refused, **args)

    def cancel(self) -> None:
        self._bridge.call("force_cancel", on_result=self._started, on_error=self._refused)

    def set_force(self) -> None:
        self._bridge.call(
            "force_set", on_result=self._force_set, on_error=self._refused, pN=self.force.value()
        )

    def _force_set(self, result: dict[str, Any]) -> None:
        self.message.setText(
            f"magnets to {result.get('height_mm', 0.0):.3f} mm for {self.force.value():g} pN"
        )
        self._events.refresh()

    def _started(self, progress: dict[str, Any]) -> None:
        self._show_action(progress)
        self._events.refresh()

    def _refused(self, code: str, message: str) -> None:
        self.message.setText(f"<span style='color:#d33'>{message}</span>")

    # -- state -------------------------------------------------------------------------------------
    def _on_connected(self) -> None:
        self._shown_id = None  # a restarted daemon numbers its actions from 1 again
        self.force_curve.refresh()

    def _on_event(self, topic: str, payload: dict) -> None:
        if topic == "force":
            self._show_action(payload)

    def _on_status(self, status: dict[str, Any]) -> None:
        force = status.get("force")
        if not isinstance(force, dict):
            return
        self._show_action(force)
        self.live = {int(b): f for b, f in (force.get("forces_pN") or {}).items()}
        self._fill_live()

    def _show_action(self, progress: dict[str, Any]) -> None:
        if progress.get("id") is None:
            return
        self.action = dict(progress)
        state, name = progress.get("state"), progress.get("action")
        running = state == "running"
        self.cancel_button.setEnabled(running)
        for button in (self.calibrate_button, self.surface_button, self.ramp_button):
            button.setEnabled(not running)
        self.progress.setValue(round(1000 * (progress.get("fraction") or 0.0)))
        text = progress.get("message") or ""
        self.progress.setFormat(f"{name}: {state}" + (f" — {text}" if text else ""))
        if state == "complete" and name == "force_calibrate" and progress["id"] != self._shown_id:
            self._shown_id = progress["id"]
            self._bridge.call("force_status", on_result=self._on_result, on_error=self._refused)
        if state in ("failed", "cancelled") and progress["id"] != self._shown_id:
            self._shown_id = progress["id"]
            self.message.setText(f"{name} {state}: {text}")

    def _on_result(self, status: dict[str, Any]) -> None:
        result = status.get("result") or {}
        beads = result.get("beads")
        if status.get("action") != "force_calibrate" or beads is None:
            return
        self.results = {int(b["bead"]): b for b in beads}
        failed = [str(b["bead"]) for b in beads if b.get("force_pN") is None]
        names = ", ".join(failed[:6]) + (", …" if len(failed) > 6 else "")
        self.message.setText(
            f"calibrated {len(beads) - len(failed)} bead(s) at {result.get('height_mm', 0):.3f} mm"
            + (f"; failed: {len(failed)} (bead {names}: see the flag column)" if failed else "")
        )
        self._fill_table()
        self.force_curve.refresh()

    # -- table -------------------------------------------------------------------------------------
    def _beads(self) -> list[int]:
        """The table's beads: the last calibration's and those with a live force."""
        return sorted(set(self.results) | {b for b, f in self.live.items() if f is not None})

    def _fill_table(self) -> None:
        chosen = self.chosen_bead()
        rows = self._beads()
        self.table.blockSignals(True)
        self.table.setRowCount(len(rows))
        for row, bead in enumerate(rows):
            r = self.results.get(bead, {})
            values = (
                str(bead),
                _num(r.get("force_pN"), ".3g"),
                _num(r.get("force_error_pN"), ".2g"),
                "",  # live force: _fill_live
                _num(r.get("corner_hz"), ".1f"),
                _num(r.get("corner_over_frame_rate"), ".2f"),
                _num(r.get("extension_nm"), ".0f"),
                r.get("flag") or "",
            )
            for col, value in enumerate(values):
                item = QTableWidgetItem(value)
                item.setData(Qt.ItemDataRole.UserRole, bead)
                if col == len(values) - 1 and value:
                    item.setToolTip(value)
                    item.setForeground(Qt.GlobalColor.red)
                self.table.setItem(row, col, item)
        self.table.blockSignals(False)
        self._fill_live()
        self.select_bead(chosen if chosen in rows else (rows[0] if self.results else None))

    def _fill_live(self) -> None:
        shown = [
            self.table.item(r, 0).data(Qt.ItemDataRole.UserRole)
            for r in range(self.table.rowCount())
        ]
        if shown != self._beads():
            self._fill_table()
            return
        for row, bead in enumerate(shown):
            self.table.item(row, LIVE_COLUMN).setText(_num(self.live.get(bead), ".2f"))

    def chosen_bead(self) -> int | None:
        """The bead of the selected table row (its spectrum is shown)."""
        items = self.table.selectedItems()
        return items[0].data(Qt.ItemDataRole.UserRole) if items else None

    def select_bead(self, bead: int | None) -> None:
        """Select ``bead``'s row and show its spectrum (None: clear the spectrum)."""
        for row in range(self.table.rowCount()):
            if self.table.item(row, 0).data(Qt.ItemDataRole.UserRole) == bead:
                self.table.selectRow(row)
        self.spectrum.show_bead(self.results.get(bead) if bead is not None else None)

    def _row_chosen(self) -> None:
        bead = self.chosen_bead()
        self.spectrum.show_bead(self.results.get(bead) if bead is not None else None)

    def _selection_changed(self) -> None:
        ids = self._selection.ids
        if ids and ids[0] in self.results:
            self.select_bead(ids[0])
