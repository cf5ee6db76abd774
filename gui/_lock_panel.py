"""Locks panel: reference beads, the live drift, the XY-lock and the Z-lock with its settings.

Everything shown comes from ``status['locks']`` (the lock service's ``locks`` reply, refreshed
with every status and at once on a pushed ``locks`` event); every change is a command
(``set_reference_beads``, ``reference_beads``, ``xylock``, ``zlock``) on the bridge's worker
thread.
"""

from __future__ import annotations

from typing import Any

from PyQt6.QtWidgets import (
    QCheckBox,
    QDoubleSpinBox,
    QFormLayout,
    QFrame,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QScrollArea,
    QVBoxLayout,
    QWidget,
)

from ._bridge import Bridge
from ._events import DaemonEvents
from ._selection import BeadSelection

#: Z-lock states (the lock service's) -> (indicator word, colour).
_INDICATOR = {
    "off": ("off", "#777"),
    "acquiring": ("settling", "#c80"),
    "settling": ("settling", "#c80"),
    "tracking": ("settling", "#c80"),
    "paused": ("paused", "#c80"),
    "locked": ("locked", "#1a1"),
    "unlocked": ("unlocked", "#d33"),
}
#: Z-lock settings: (parameter, label, unit suffix, minimum, maximum, decimals).
_ZPARAMS = (
    ("kp", "Gain kp", "", 0.0, 2.0, 2),
    ("ki", "Gain ki", " /s", 0.0, 100.0, 2),
    ("deadband_nm", "Deadband", " nm", 0.0, 1000.0, 1),
    ("max_step_nm", "Max step", " nm", 0.0, 10_000.0, 1),
    ("max_excursion_nm", "Max excursion", " nm", 0.0, 100_000.0, 0),
)


def _spin(low: float, high: float, suffix: str, decimals: int) -> QDoubleSpinBox:
    spin = QDoubleSpinBox()
    spin.setRange(low, high)
    spin.setDecimals(decimals)
    spin.setSuffix(suffix)
    return spin


def _ids(ids: Any) -> str:
    return ", ".join(str(i) for i in ids) if ids else "-"


def _nm(value: Any) -> str:
    return "-" if value is None else f"{value:+.1f}"


class LockPanel(QScrollArea):
    """Reference beads (mark/unmark the selected beads, use the stuck ones), drift readout,
    XY-lock and Z-lock on/off with target and settings, and the Z-lock's state indicator."""

    def __init__(
        self,
        bridge: Bridge,
        events: DaemonEvents,
        selection: BeadSelection,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self._bridge, self._events, self._selection = bridge, events, selection
        self.reference: list[int] = []
        self.locks: dict[str, Any] = {}
        self._params_shown = False
        #: The Z-lock indicator's word: off, settling, paused, locked or unlocked.
        self.zlock_state = "off"

        # reference beads
        self.references = QLabel("-")
        self.suggested = QLabel("-")
        self.mark_button = QPushButton("Mark selected")
        self.mark_button.setToolTip("Add the beads selected in the live view to the references")
        self.unmark_button = QPushButton("Unmark selected")
        self.stuck_button = QPushButton("Use stuck beads")
        self.stuck_button.setToolTip(
            "The beads classified stuck become the references "
            "(classifies the beads first if none is)"
        )
        self.clear_button = QPushButton("Clear")
        self.mark_button.clicked.connect(self.mark_selected)
        self.unmark_button.clicked.connect(self.unmark_selected)
        self.stuck_button.clicked.connect(self.use_stuck)
        self.clear_button.clicked.connect(lambda: self._set_references([]))
        buttons = QGridLayout()
        for i, button in enumerate(
            (self.mark_button, self.unmark_button, self.stuck_button, self.clear_button)
        ):
            buttons.addWidget(button, i // 2, i % 2)
        refs_form = QFormLayout()
        refs_form.addRow("References", self.references)
        refs_form.addRow("Suggested (stuck)", self.suggested)
        refs_box = QGroupBox("Reference beads")
        refs_layout = QVBoxLayout(refs_box)
        refs_layout.addLayout(refs_form)
        refs_layout.addLayout(buttons)

        # drift
        self.drift = QLabel("-")
        self.drift_beads = QLabel("-")
        self.rejected = QLabel("-")
        drift_box = QGroupBox("Drift (newest frame, from the reference beads)")
        drift_form = QFormLayout(drift_box)
        drift_form.addRow("dx, dy, dz", self.drift)
        beads_row = QHBoxLayout()
        beads_row.addWidget(self.drift_beads)
        beads_row.addWidget(QLabel("rejected:"))
        beads_row.addWidget(self.rejected, 1)
        drift_form.addRow("Used beads", beads_row)

        # XY-lock
        self.xy_on = QCheckBox("On")
        self.xy_on.setToolTip("Every ROI follows its bead")
        self.xy_on.clicked.connect(self.apply_xylock)
        self.xy_threshold = _spin(0.1, 100.0, " px", 1)
        self.xy_threshold.setValue(1.0)
        self.xy_threshold.editingFinished.connect(self._xy_threshold_edited)
        self.xy_moves = QLabel("-")
        xy_box = QGroupBox("XY-lock")
        xy_row = QHBoxLayout(xy_box)
        for widget in (self.xy_on, QLabel("re-centre ROIs beyond"), self.xy_threshold,
                       QLabel("moves:"), self.xy_moves):  # fmt: skip
            xy_row.addWidget(widget)

        # Z-lock
        self.indicator = QLabel("Z-lock: off")
        self.indicator.setWordWrap(True)
        self.z_on = QCheckBox("On")
        self.z_on.setToolTip("The focus holds the reference beads' mean z")
        self.z_on.clicked.connect(self.apply_zlock)
        self.use_target = QCheckBox("Target")
        self.use_target.setToolTip("Unticked: hold the references where they are at lock-on")
        self.target = _spin(-100_000.0, 100_000.0, " nm", 1)
        self.target.setEnabled(False)
        self.use_target.toggled.connect(self.target.setEnabled)
        self.apply_button = QPushButton("Apply")
        self.apply_button.setToolTip("Send the target and the settings (the lock stays as it is)")
        self.apply_button.clicked.connect(self.apply_zlock)
        state_row, target_row = QHBoxLayout(), QHBoxLayout()
        state_row.addWidget(self.z_on)
        state_row.addWidget(self.indicator, 1)
        target_row.addWidget(self.use_target)
        target_row.addWidget(self.target, 1)
        target_row.addWidget(self.apply_button)
        self.params: dict[str, QDoubleSpinBox] = {}
        z_box = QGroupBox("Z-lock")
        z_form = QFormLayout(z_box)
        z_form.addRow(state_row)
        z_form.addRow(target_row)
        grid = QGridLayout()
        for i, (name, label, suffix, low, high, decimals) in enumerate(_ZPARAMS):
            self.params[name] = _spin(low, high, suffix, decimals)
            grid.addWidget(QLabel(label), i // 2, 2 * (i % 2))
            grid.addWidget(self.params[name], i // 2, 2 * (i % 2) + 1)
        z_form.addRow(grid)
        self.z_detail = QLabel("-")
        z_form.addRow("Error, travel", self.z_detail)

        self.message = QLabel("")
        self.message.setWordWrap(True)
        content = QWidget()  # scrolls: the dock area is not held taller than the window
        layout = QVBoxLayout(content)
        for box in (refs_box, drift_box, xy_box, z_box):
            layout.addWidget(box)
        layout.addWidget(self.message)
        layout.addStretch(1)
        self.setWidget(content)
        self.setWidgetResizable(True)
        self.setFrameShape(QFrame.Shape.NoFrame)
        events.status.connect(self._on_status)
        events.beads.connect(self._on_beads)
        events.daemon_event.connect(self._on_event)

    # -- reference beads ---------------------------------------------------------------------------
    def mark_selected(self) -> None:
        self._set_references(sorted(set(self.reference) | set(self._selection.ids)))

    def unmark_selected(self) -> None:
        self._set_references(sorted(set(self.reference) - set(self._selection.ids)))

    def _set_references(self, ids: list[int]) -> None:
        self._bridge.call(
            "set_reference_beads", on_result=self._references_set, on_error=self._refused, ids=ids
        )

    def use_stuck(self) -> None:
        """Make the stuck beads the references; classify the beads first if none is stuck."""
        self._bridge.call(
            "reference_beads", on_result=self._references_set, on_error=self._no_stuck, auto=True
        )

    def _no_stuck(self, code: str, message: str) -> None:
        if "classif" not in message:
            self._refused(code, message)
            return
        self.message.setText("classifying the beads…")
        self._bridge.call("classify_beads", on_result=self._classified, on_error=self._refused)

    def _classified(self, result: dict[str, Any]) -> None:
        self._bridge.call(
            "reference_beads", on_result=self._references_set, on_error=self._refused, auto=True
        )

    def _references_set(self, result: dict[str, Any]) -> None:
        self.reference = list(result.get("reference", []))
        self.references.setText(_ids(self.reference))
        self.suggested.setText(_ids(result.get("suggested")))
        self.message.setText(f"reference beads: {_ids(self.reference)}")
        self._events.refresh()

    # -- locks -------------------------------------------------------------------------------------
    def apply_xylock(self) -> None:
        self._bridge.call(
            "xylock",
            on_result=self._applied,
            on_error=self._refused,
            on=self.xy_on.isChecked(),
            threshold_px=self.xy_threshold.value(),
        )

    def _xy_threshold_edited(self) -> None:
        if self.xy_on.isChecked():
            self.apply_xylock()

    def apply_zlock(self) -> None:
        """Switch the Z-lock on (with the target and settings shown) or off."""
        args: dict[str, Any] = {"on": self.z_on.isChecked()}
        if args["on"]:
            args |= {name: spin.value() for name, spin in self.params.items()}
            if self.use_target.isChecked():
                args["target_nm"] = self.target.value()
        self._bridge.call("zlock", on_result=self._applied, on_error=self._zlock_refused, **args)

    def _zlock_refused(self, code: str, message: str) -> None:
        self.z_on.setChecked(bool((self.locks.get("zlock") or {}).get("on")))
        self._refused(code, message)

    def _applied(self, result: dict[str, Any]) -> None:
        self.message.setText("")
        self._events.refresh()

    def _refused(self, code: str, message: str) -> None:
        self.message.setText(f"<span style='color:#d33'>{message}</span>")

    # -- state -------------------------------------------------------------------------------------
    def _on_event(self, topic: str, payload: dict) -> None:
        if topic == "locks" and payload.get("what") in ("zlock", "xylock", "references"):
            self._events.refresh()

    def _on_beads(self, beads: list[dict[str, Any]]) -> None:
        self.suggested.setText(_ids([b["id"] for b in beads if b.get("kind") == "stuck"]))

    def _on_status(self, status: dict[str, Any]) -> None:
        locks = status.get("locks")
        if not isinstance(locks, dict):
            return
        self.locks = locks
        self.reference = list(locks.get("reference", []))
        self.references.setText(_ids(self.reference))
        drift = locks.get("drift") or {}
        self.drift.setText(
            ", ".join(_nm(drift.get(k)) for k in ("dx_nm", "dy_nm", "dz_nm")) + " nm"
            if "dx_nm" in drift
            else "-"
        )
        self.drift_beads.setText(_ids(drift.get("used")))
        rejected = drift.get("rejected") or []
        self.rejected.setText(f"{_ids(rejected)}" + (" (far from the others)" if rejected else ""))
        self.rejected.setStyleSheet("color:#d33;" if rejected else "")
        xy = locks.get("xylock") or {}
        self._show_check(self.xy_on, bool(xy.get("on")))
        self.xy_moves.setText(str(xy.get("moves", "-")))
        if not self.xy_threshold.hasFocus() and xy.get("threshold_px") is not None:
            self.xy_threshold.setValue(float(xy["threshold_px"]))
        self._show_zlock(locks.get("zlock") or {})

    def _show_zlock(self, z: dict[str, Any]) -> None:
        self._show_check(self.z_on, bool(z.get("on")))
        state = str(z.get("state", "off"))
        word, colour = _INDICATOR.get(state, (state, "#777"))
        locked_nm = (z.get("params") or {}).get("locked_nm", 5.0)
        detail = {
            "acquiring": "taking the target",
            "settling": "the focus is moving",
            "tracking": f"error above {locked_nm:g} nm",
            "paused": "Z-LUT sweep",
        }.get(state)
        if state == "unlocked":
            detail = z.get("reason")
        text = f"Z-lock: {word}" + (f" ({detail})" if detail else "")
        self.indicator.setText(text)
        self.indicator.setStyleSheet(f"color: {colour}; font-weight: bold; font-size: 14px;")
        self.zlock_state = word
        error, travel = z.get("error_nm"), z.get("excursion_nm")
        self.z_detail.setText(
            f"{_nm(error)} nm, {_nm(travel)} nm; {z.get('corrections', 0)} focus moves"
        )
        target = z.get("target_nm")
        if target is not None and not self.use_target.isChecked() and not self.target.hasFocus():
            self.target.setValue(float(target))
        params = z.get("params") or {}
        if params and not self._params_shown:  # once: the operator's edits are not overwritten
            self._params_shown = True
            for name, spin in self.params.items():
                if params.get(name) is not None:
                    spin.setValue(float(params[name]))

    @staticmethod
    def _show_check(box: QCheckBox, on: bool) -> None:
        box.blockSignals(True)
        box.setChecked(on)
        box.blockSignals(False)
