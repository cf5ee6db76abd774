"""Camera settings panel, generated from the camera's described settings (``devices``)."""

from __future__ import annotations

from typing import Any

from PyQt6.QtWidgets import QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget

from ._bridge import Bridge
from ._events import DaemonEvents
from ._settings_form import SettingsForm


class CameraPanel(QWidget):
    """Every camera setting with its unit and limits; a change is sent with ``set_setting``."""

    def __init__(self, bridge: Bridge, events: DaemonEvents, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._bridge = bridge
        self.title = QLabel("-")
        self.form = SettingsForm()
        self.form.edited.connect(self._set)
        self.message = QLabel("")
        self.message.setWordWrap(True)
        refresh = QPushButton("Refresh")
        refresh.clicked.connect(self.refresh)
        top = QHBoxLayout()
        top.addWidget(self.title, 1)
        top.addWidget(refresh)
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(self.form)
        layout.addWidget(self.message)
        layout.addStretch(1)
        events.connected.connect(self.refresh)

    def refresh(self) -> None:
        self._bridge.call("devices", on_result=self._on_devices, on_error=self._show_error)

    def _on_devices(self, result: dict[str, Any]) -> None:
        for device in result.get("devices", []):
            if device.get("name") == "camera":
                self.title.setText(f"<b>{device.get('driver', '')}</b>")
                self.form.set_settings(device.get("settings", []))
                if device.get("error"):
                    self._show_error("failed", device["error"])

    def _set(self, name: str, value: Any) -> None:
        self.message.setText("")
        self._bridge.call("set_setting", on_result=self._after_set, on_error=self._refused,
                          device="camera", name=name, value=value)  # fmt: skip

    def _after_set(self, result: Any) -> None:
        self.refresh()

    def _refused(self, code: str, message: str) -> None:
        self._show_error(code, message)
        self.refresh()

    def _show_error(self, code: str, message: str) -> None:
        self.message.setText(f"<span style='color:#d33'>{message}</span>")
