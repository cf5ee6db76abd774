"""The banner shown over the live view when the daemon is gone, with a Restart button."""

from __future__ import annotations

from PyQt6.QtCore import pyqtSignal
from PyQt6.QtWidgets import QFrame, QHBoxLayout, QLabel, QPushButton, QWidget


class DaemonBanner(QFrame):
    """Hidden while the daemon answers; ``restart_requested()`` when Restart is clicked."""

    restart_requested = pyqtSignal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setStyleSheet("DaemonBanner { background: #7a1010; } QLabel { color: white; }")
        self.text = QLabel("")
        self.text.setWordWrap(True)
        self.restart_button = QPushButton("Restart daemon")
        self.restart_button.clicked.connect(self.restart_requested)
        layout = QHBoxLayout(self)
        layout.addWidget(self.text, 1)
        layout.addWidget(self.restart_button)
        self.hide()

    def show_lost(self, message: str) -> None:
        self.text.setText(f"<b>The daemon is not running.</b> {message}")
        self.restart_button.setEnabled(True)
        self.show()

    def show_restarting(self) -> None:
        self.text.setText("<b>Restarting the daemon…</b>")
        self.restart_button.setEnabled(False)
        self.show()
