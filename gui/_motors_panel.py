"""Motors panel: each motor's position, target, move, jog, stop, home and limits, and Stop all.

Positions come from ``status`` (the motor's latest telemetry); the limits from ``devices``
(``lower_limit`` / ``upper_limit`` settings). Moves are refused by the daemon outside the limits;
the refusal is shown next to the motor.
"""

from __future__ import annotations

from typing import Any

from PyQt6 import sip
from PyQt6.QtWidgets import (
    QDoubleSpinBox,
    QGridLayout,
    QGroupBox,
    QLabel,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from ._bridge import Bridge
from ._events import DaemonEvents


class _MotorRow(QGroupBox):
    """One motor: position and limits, an absolute move, a jog, Stop and Home."""

    def __init__(self, panel: MotorsPanel, motor: str, unit: str) -> None:
        super().__init__(motor)
        self.motor = motor
        self.position = QLabel("-")
        self.limits = QLabel("")
        self.target = QDoubleSpinBox()
        self.target.setRange(-1e9, 1e9)
        self.target.setDecimals(3)
        self.target.setSuffix(f" {unit}")
        self.move = QPushButton("Move to")
        self.step = QDoubleSpinBox()
        self.step.setRange(0.0, 1e9)
        self.step.setDecimals(3)
        self.step.setValue({"nm": 100.0, "turns": 1.0}.get(unit, 0.5))
        self.step.setSuffix(f" {unit}")
        self.minus, self.plus = QPushButton("− jog"), QPushButton("+ jog")
        self.stop, self.home = QPushButton("Stop"), QPushButton("Home")
        self.message = QLabel("")
        self.message.setWordWrap(True)
        self.message.setStyleSheet("color:#d33;")
        grid = QGridLayout(self)
        grid.addWidget(QLabel("position"), 0, 0)
        grid.addWidget(self.position, 0, 1)
        grid.addWidget(self.limits, 0, 2, 1, 2)
        grid.addWidget(self.target, 1, 0, 1, 2)
        grid.addWidget(self.move, 1, 2)
        grid.addWidget(self.stop, 1, 3)
        grid.addWidget(self.step, 2, 0, 1, 2)
        grid.addWidget(self.minus, 2, 2)
        grid.addWidget(self.plus, 2, 3)
        grid.addWidget(self.home, 3, 3)
        grid.addWidget(self.message, 3, 0, 1, 3)
        self.move.clicked.connect(lambda: panel.move(motor, self.target.value()))
        self.minus.clicked.connect(lambda: panel.move_by(motor, -self.step.value()))
        self.plus.clicked.connect(lambda: panel.move_by(motor, self.step.value()))
        self.stop.clicked.connect(lambda: panel.command("stop_motor", motor))
        self.home.clicked.connect(lambda: panel.command("home", motor))


class MotorsPanel(QWidget):
    """One row per motor plus a Stop-all button (the window binds the Stop-all shortcut)."""

    def __init__(self, bridge: Bridge, events: DaemonEvents, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._bridge = bridge
        self.rows: dict[str, _MotorRow] = {}
        self.rows_layout = QVBoxLayout()
        self.stop_all_button = QPushButton("STOP ALL MOTORS")
        self.stop_all_button.setStyleSheet("background:#c22; color:white; font-weight:bold;")
        self.stop_all_button.setToolTip("Stop every motor now (Esc)")
        self.stop_all_button.clicked.connect(self.stop_all)
        self.message = QLabel("")
        layout = QVBoxLayout(self)
        layout.addWidget(self.stop_all_button)
        layout.addLayout(self.rows_layout)
        layout.addWidget(self.message)
        layout.addStretch(1)
        events.status.connect(self._on_status)
        events.connected.connect(self._ask_limits)

    # -- actions -----------------------------------------------------------------------------------
    def move(self, motor: str, position: float) -> None:
        self._clear(motor)
        self._bridge.call("move", on_error=self._error_of(motor), motor=motor, position=position)

    def move_by(self, motor: str, delta: float) -> None:
        self._clear(motor)
        self._bridge.call("move_by", on_error=self._error_of(motor), motor=motor, delta=delta)

    def command(self, command: str, motor: str) -> None:
        self._clear(motor)
        self._bridge.call(command, on_error=self._error_of(motor), motor=motor)

    def stop_all(self) -> None:
        self.message.setText("stopping every motor…")
        self._bridge.call("stop_motors", on_result=self._stopped, on_error=self._stop_failed)

    def _stopped(self, result: dict[str, Any]) -> None:
        errors = {m: r["error"] for m, r in result.items() if isinstance(r, dict) and "error" in r}
        self.message.setText(f"stop failed: {errors}" if errors else "all motors stopped")

    def _stop_failed(self, code: str, message: str) -> None:
        self.message.setText(f"<span style='color:#d33'>stop failed: {message}</span>")

    def _clear(self, motor: str) -> None:
        if motor in self.rows:
            self.rows[motor].message.setText("")

    def _error_of(self, motor: str):
        row = self.rows.get(motor)
        return None if row is None else _ErrorSink(row.message)

    # -- state -------------------------------------------------------------------------------------
    def _on_status(self, status: dict[str, Any]) -> None:
        motors = status.get("motors") or {}
        for motor, state in motors.items():
            row = self.rows.get(motor)
            if row is None:
                row = self.rows[motor] = _MotorRow(self, motor, state.get("unit", ""))
                self.rows_layout.addWidget(row)
                if state.get("target") is not None:
                    row.target.setValue(state["target"])
            position, unit = state.get("position"), state.get("unit", "")
            text = "-" if position is None else f"{position:.3f} {unit}"
            if state.get("moving"):
                text += f" → {state.get('target'):.3f}"
            row.position.setText(text)
            if state.get("error"):
                row.message.setText(state["error"])

    def _ask_limits(self) -> None:
        self._bridge.call("devices", on_result=self._on_devices)

    def _on_devices(self, result: dict[str, Any]) -> None:
        for device in result.get("devices", []):
            row = self.rows.get(device.get("name"))
            values = {s["name"]: s.get("value") for s in device.get("settings", [])}
            if row is not None and "lower_limit" in values:
                row.limits.setText(f"limits {values['lower_limit']:g} … {values['upper_limit']:g}")
                row.target.setRange(values["lower_limit"], values["upper_limit"])


class _ErrorSink:
    """Shows a refused command's message in a label (callable as an ``on_error``)."""

    def __init__(self, label: QLabel) -> None:
        self._label = label

    def __call__(self, code: str, message: str) -> None:
        if not sip.isdeleted(self._label):
            self._label.setText(message)
