"""Log panel: every notification (daemon warnings and errors, refused commands) with its time."""

from __future__ import annotations

import time

from PyQt6.QtGui import QColor
from PyQt6.QtWidgets import QListWidget, QListWidgetItem, QPushButton, QVBoxLayout, QWidget

_COLOURS = {"error": "#d33", "warning": "#c80", "info": ""}
#: Entries kept.
MAX_ENTRIES = 2000


class LogPanel(QWidget):
    """A list of ``time  level  source: text`` lines, newest last."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.list = QListWidget()
        self.list.setWordWrap(True)
        clear = QPushButton("Clear")
        clear.clicked.connect(self.list.clear)
        layout = QVBoxLayout(self)
        layout.addWidget(self.list, 1)
        layout.addWidget(clear)

    def add(self, level: str, source: str, text: str) -> None:
        stamp = time.strftime("%H:%M:%S")
        item = QListWidgetItem(f"{stamp}  {level.upper():<7} {source}: {text}")
        if _COLOURS.get(level):
            item.setForeground(QColor(_COLOURS[level]))
        self.list.addItem(item)
        while self.list.count() > MAX_ENTRIES:
            self.list.takeItem(0)
        self.list.scrollToBottom()

    def texts(self) -> list[str]:
        return [self.list.item(i).text() for i in range(self.list.count())]
