"""Recording panel: folder, name, mode, duration, start/stop, and the running file's counters."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PyQt6.QtWidgets import (
    QComboBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from ._bridge import Bridge
from ._events import DaemonEvents

MODES = ("tracks", "roi_video", "full_video")


class RecordingPanel(QWidget):
    """Starts and stops recordings (``record_start`` / ``record_stop``); shows ``status``'s
    recording part: file, size, elapsed time, rows lost, stop reason, last error."""

    def __init__(self, bridge: Bridge, events: DaemonEvents, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._bridge, self._events = bridge, events
        self.running = False
        self.folder = QLineEdit(str(Path.home() / "magscope-recordings"))
        browse = QPushButton("…")
        browse.setMaximumWidth(30)
        browse.clicked.connect(self._browse)
        folder_row = QHBoxLayout()
        folder_row.addWidget(self.folder, 1)
        folder_row.addWidget(browse)
        self.name = QLineEdit()
        self.name.setPlaceholderText("default: rec-<date>-<time>")
        self.mode = QComboBox()
        self.mode.addItems(MODES)
        self.duration = QDoubleSpinBox()
        self.duration.setRange(0.0, 1e7)
        self.duration.setSuffix(" s")
        self.duration.setSpecialValueText("until stopped")
        self.start_button = QPushButton("● Start recording")
        self.start_button.clicked.connect(self.start)
        self.stop_button = QPushButton("■ Stop")
        self.stop_button.clicked.connect(self.stop)
        self.stop_button.setEnabled(False)
        buttons = QHBoxLayout()
        buttons.addWidget(self.start_button)
        buttons.addWidget(self.stop_button)
        form = QFormLayout()
        form.addRow("Folder", folder_row)
        form.addRow("Name", self.name)
        form.addRow("Mode", self.mode)
        form.addRow("Duration", self.duration)
        self.state = QLabel("not recording")
        self.file = QLabel("-")
        self.file.setWordWrap(True)
        self.counters = QLabel("-")
        self.message = QLabel("")
        self.message.setWordWrap(True)
        info = QFormLayout()
        info.addRow("State", self.state)
        info.addRow("File", self.file)
        info.addRow("Progress", self.counters)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addLayout(buttons)
        layout.addLayout(info)
        layout.addWidget(self.message)
        layout.addStretch(1)
        events.status.connect(self._on_status)

    def _browse(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Recording folder", self.folder.text())
        if folder:
            self.folder.setText(folder)

    def start(self) -> None:
        args: dict[str, Any] = {"folder": str(Path(self.folder.text()).expanduser().absolute()),
                                "mode": self.mode.currentText()}  # fmt: skip
        if self.name.text().strip():
            args["name"] = self.name.text().strip()
        if self.duration.value() > 0:
            args["duration_s"] = self.duration.value()
        self.message.setText("starting…")
        self.start_button.setEnabled(False)
        self._bridge.call("record_start", on_result=self._started, on_error=self._refused, **args)

    def stop(self) -> None:
        self.stop_button.setEnabled(False)
        self._bridge.call("record_stop", on_result=self._stopped, on_error=self._refused)

    def _started(self, result: dict[str, Any]) -> None:
        self.message.setText(f"recording to {result.get('file')}")
        self._events.refresh()

    def _stopped(self, result: dict[str, Any]) -> None:
        self.message.setText(
            f"stopped ({result.get('stop_reason') or 'user'}): {result.get('file')}"
        )
        self._events.refresh()

    def _refused(self, code: str, message: str) -> None:
        self.message.setText(f"<span style='color:#d33'>{message}</span>")
        self._events.refresh()

    def _on_status(self, status: dict[str, Any]) -> None:
        rec = status.get("recording") or {}
        self.running = bool(rec.get("running"))
        self.start_button.setEnabled(not self.running)
        self.stop_button.setEnabled(self.running)
        if self.running:
            self.state.setText("<b style='color:#d33'>● recording</b> "
                               f"({rec.get('mode')})")  # fmt: skip
        else:
            reason = rec.get("stop_reason")
            self.state.setText(f"not recording{f' (last: {reason})' if reason else ''}")
        self.file.setText(rec.get("file") or "-")
        elapsed = rec.get("elapsed_s", 0.0) or 0.0
        duration = rec.get("duration_s")
        lost = rec.get("rows_lost", 0)
        text = f"{int(elapsed) // 60:02d}:{elapsed % 60:04.1f}"
        text += f" of {duration:g} s" if duration else ""
        text += (
            f", {rec.get('size_bytes', 0) / 1e6:.1f} MB, {rec.get('tracks_per_s', 0.0):.0f} rows/s"
        )
        text += f", rows lost {lost}"
        self.counters.setText(text)
        self.counters.setStyleSheet("color:#d33;" if lost else "")
        if rec.get("last_error"):
            self.message.setText(f"<span style='color:#d33'>{rec['last_error']}</span>")
