"""Tracking settings panel: ROI size, the tracking settings, the loaded Z-LUTs, clear beads."""

from __future__ import annotations

from typing import Any

from PyQt6.QtWidgets import QFormLayout, QLabel, QPushButton, QSpinBox, QVBoxLayout, QWidget

from ._bridge import Bridge
from ._events import DaemonEvents
from ._settings_form import SettingsForm


class TrackingPanel(QWidget):
    """Edits ``set_roi_size`` and ``set_tracking_settings`` (the daemon refuses profile changes
    while Z-LUTs are loaded, and says so)."""

    def __init__(self, bridge: Bridge, events: DaemonEvents, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._bridge, self._events = bridge, events
        self.roi_size = QSpinBox()
        self.roi_size.setRange(16, 256)
        self.roi_size.setSingleStep(2)
        self.roi_size.setSuffix(" px")
        self.roi_size.setKeyboardTracking(False)
        self.roi_size.editingFinished.connect(self._set_roi_size)
        self.info = QLabel("-")
        self.info.setWordWrap(True)
        top = QFormLayout()
        top.addRow("ROI size", self.roi_size)
        top.addRow("Z-LUTs", self.info)
        self.form = SettingsForm()
        self.form.edited.connect(self._set)
        clear = QPushButton("Remove all beads")
        clear.clicked.connect(self._clear_beads)
        self.message = QLabel("")
        self.message.setWordWrap(True)
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(QLabel("<b>Tracking settings</b>"))
        layout.addWidget(self.form)
        layout.addWidget(clear)
        layout.addWidget(self.message)
        layout.addStretch(1)
        events.connected.connect(self.refresh)

    def refresh(self) -> None:
        self._bridge.call("tracking_settings", on_result=self._show)

    def _show(self, result: dict[str, Any]) -> None:
        if not self.roi_size.hasFocus():
            self.roi_size.setValue(int(result.get("roi_size", 64)))
        settings = result.get("settings", {})
        kinds = {k: "int" if isinstance(v, int) and not isinstance(v, bool) else "float"
                 for k, v in settings.items()}  # fmt: skip
        self.form.set_settings(
            [{"name": k, "kind": kinds[k], "value": v, "minimum": 0} for k, v in settings.items()]
        )
        luts = result.get("zluts", [])
        self.info.setText(", ".join(
            f"{'default' if z['bead'] is None else 'bead ' + str(z['bead'])}: {z['planes']} planes"
            for z in luts
        ) or "none loaded")  # fmt: skip

    def _set_roi_size(self) -> None:
        self._bridge.call("set_roi_size", on_result=self._done, on_error=self._refused,
                          size=self.roi_size.value())  # fmt: skip

    def _set(self, name: str, value: Any) -> None:
        self._bridge.call("set_tracking_settings", on_result=self._done, on_error=self._refused,
                          **{name: value})  # fmt: skip

    def _clear_beads(self) -> None:
        self._bridge.call("clear_beads", on_result=self._done, on_error=self._refused)

    def _done(self, result: Any) -> None:
        self.message.setText("")
        self.refresh()
        self._events.refresh()

    def _refused(self, code: str, message: str) -> None:
        self.message.setText(f"<span style='color:#d33'>{message}</span>")
        self.refresh()
