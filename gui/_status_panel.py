"""Status panel: acquisition, frame rate, frames lost, buffer fill, tracking rate and latency,
acquisition holds, the bead-ROI freeze, the script and the health of every worker."""

from __future__ import annotations

from typing import Any

from PyQt6.QtWidgets import (
    QFormLayout,
    QHeaderView,
    QLabel,
    QProgressBar,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from ._events import DaemonEvents
from ._feed import DataFeed


class StatusPanel(QWidget):
    """Shows the daemon's ``status`` (refreshed by :class:`DaemonEvents`)."""

    def __init__(self, events: DaemonEvents, feed: DataFeed, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._feed = feed
        self.labels: dict[str, QLabel] = {}
        form = QFormLayout()
        for key, title in (
            ("daemon", "Daemon"), ("acquisition", "Acquisition"), ("fps", "Frame rate"),
            ("lost", "Frames lost"), ("tracking", "Tracking"), ("latency", "Latency"),
            ("beads", "Beads"), ("holds", "Acquisition holds"), ("frozen", "Bead ROIs"),
            ("script", "Script"),
        ):  # fmt: skip
            self.labels[key] = QLabel("-")
            self.labels[key].setWordWrap(True)
            form.addRow(title, self.labels[key])
        self.buffer = QProgressBar()
        self.buffer.setFormat("%p %")
        form.addRow("Frame buffer", self.buffer)
        self.workers = QTableWidget(0, 4)
        self.workers.setHorizontalHeaderLabels(["worker", "state", "restarts", "last error"])
        self.workers.horizontalHeader().setSectionResizeMode(
            QHeaderView.ResizeMode.ResizeToContents
        )
        self.workers.horizontalHeader().setStretchLastSection(True)
        self.workers.verticalHeader().hide()
        self.workers.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.workers, 1)
        events.status.connect(self.show_status)
        events.disconnected.connect(self._on_disconnected)

    def _on_disconnected(self, message: str) -> None:
        self.labels["daemon"].setText(f"<b style='color:#d33'>not running</b> ({message})")

    def show_status(self, status: dict[str, Any]) -> None:
        cam = status.get("camera", {})
        trk = status.get("tracking") or {}
        set_ = lambda key, text: self.labels[key].setText(text)  # noqa: E731
        set_("daemon", f"{status.get('instance')} (pid {status.get('pid')}, "
                       f"up {int(status.get('uptime_s', 0))} s)")  # fmt: skip
        set_("acquisition", "acquiring" if status.get("acquiring") else "paused")
        set_("fps", f"{cam.get('fps', 0.0):.1f} frames/s, {cam.get('frames_acquired', 0)} acquired")
        lost = cam.get("frames_lost", 0)
        untracked = trk.get("frames_lost", 0)
        set_("lost", f"{lost} by the camera, {untracked} by tracking")
        self.labels["lost"].setStyleSheet("color:#d33;" if lost or untracked else "")
        if trk:
            set_("tracking", f"{trk.get('rois_per_s', 0.0):.0f} ROIs/s, "
                             f"{trk.get('workers_running', 0)}/{trk.get('workers', 0)} workers, "
                             f"{trk.get('zluts', 0)} Z-LUTs")  # fmt: skip
            latency = trk.get("latency_ms") or {}
            median, p99 = latency.get("median"), latency.get("p99")
            set_("latency", "-" if median is None else f"median {median:.1f} ms, p99 {p99:.1f} ms")
            set_("beads", str(trk.get("beads", 0)))
        holds = cam.get("holds") or []
        set_("holds", "; ".join(f"{h.get('name')} ({h.get('owner')}, keeps {h.get('keeps')})"
                                for h in holds) or "none")  # fmt: skip
        frozen = trk.get("frozen") or []
        set_("frozen", "frozen by " + "; ".join(f"{f.get('name')} ({f.get('owner')})"
                                                for f in frozen) if frozen else "free")  # fmt: skip
        self.labels["frozen"].setStyleSheet("color:#c80;" if frozen else "")
        script = status.get("scripts") or {}
        set_("script", "none" if script.get("state", "idle") == "idle" else
             f"{script.get('name')}: {script.get('state')}")  # fmt: skip
        level = self._feed.shared.buffer_level()
        self.buffer.setValue(
            round(100 * (level if level is not None else cam.get("buffer_level", 0)))
        )
        workers = status.get("workers", [])
        self.workers.setRowCount(len(workers))
        for row, w in enumerate(workers):
            values = (w.get("name"), w.get("state"), w.get("restarts"), w.get("last_error") or "")
            for col, value in enumerate(values):
                item = QTableWidgetItem(str(value))
                if col == 1 and value not in ("running", "starting"):
                    item.setForeground(self.palette().brightText())
                self.workers.setItem(row, col, item)
