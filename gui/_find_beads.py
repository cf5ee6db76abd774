"""The "Find beads" dialog: asks the daemon for candidates (``find_beads`` with ``add=False``),
previews them with their scores on the live view, and adds the ticked ones (``add_beads``)."""

from __future__ import annotations

from typing import Any

from PyQt6.QtCore import Qt
from PyQt6.QtWidgets import (
    QDialog,
    QDoubleSpinBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSpinBox,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from ._bridge import Bridge
from ._events import DaemonEvents
from ._live_view import LiveView


def parse_candidates(result: Any) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """``(candidates, rejected)`` from a ``find_beads`` reply: entries with ``x``, ``y`` (px),
    ``score`` and, for rejected ones, ``reason``. Accepts a list or a dict with ``candidates``
    (and optional ``rejected``); a candidate's position may also be ``[x, y]`` under
    ``centre``/``center``/``position``."""
    if isinstance(result, dict):
        found = result.get("candidates", result.get("beads", []))
        rejected = result.get("rejected", [])
    else:
        found, rejected = result or [], []

    def entry(c: Any) -> dict[str, Any]:
        if isinstance(c, list | tuple):
            return {"x": float(c[0]), "y": float(c[1]), "score": float(c[2]) if len(c) > 2 else 0.0}
        pos = c.get("centre") or c.get("center") or c.get("position")
        x, y = (pos[0], pos[1]) if pos is not None else (c["x"], c["y"])
        return {**c, "x": float(x), "y": float(y), "score": float(c.get("score") or 0.0)}

    return [entry(c) for c in found], [entry(c) for c in rejected]


class FindBeadsDialog(QDialog):
    """Non-modal dialog; candidates stay previewed on the live view until it closes."""

    def __init__(self, bridge: Bridge, events: DaemonEvents, view: LiveView,
                 parent: QWidget | None = None) -> None:  # fmt: skip
        super().__init__(parent)
        self.setWindowTitle("Find beads")
        self._bridge, self._events, self._view = bridge, events, view
        self.candidates: list[dict[str, Any]] = []
        self.max = QSpinBox()
        self.max.setRange(1, 1024)
        self.max.setValue(100)
        self.min_distance = QDoubleSpinBox()
        self.min_distance.setRange(0.0, 1000.0)
        self.min_distance.setValue(0.0)
        self.min_distance.setSpecialValueText("default")
        self.min_distance.setSuffix(" px")
        form = QFormLayout()
        form.addRow("At most", self.max)
        form.addRow("Min. distance", self.min_distance)
        self.find_button = QPushButton("Find")
        self.find_button.clicked.connect(self.find)
        self.add_button = QPushButton("Add ticked beads")
        self.add_button.clicked.connect(self.add_ticked)
        self.add_button.setEnabled(False)
        self.message = QLabel("")
        self.message.setWordWrap(True)
        self.table = QTableWidget(0, 4)
        self.table.setHorizontalHeaderLabels(["add", "x (px)", "y (px)", "score / reason"])
        self.table.horizontalHeader().setStretchLastSection(True)
        self.table.verticalHeader().hide()
        buttons = QHBoxLayout()
        buttons.addWidget(self.find_button)
        buttons.addWidget(self.add_button)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addLayout(buttons)
        layout.addWidget(self.message)
        layout.addWidget(self.table, 1)
        self.resize(420, 480)
        self.finished.connect(view.clear_candidates)

    def find(self) -> None:
        self.message.setText("searching the newest frame…")
        args: dict[str, Any] = {"add": False, "max": self.max.value()}
        if self.min_distance.value() > 0:
            args["min_distance"] = self.min_distance.value()
        self._bridge.call("find_beads", on_result=self._show, on_error=self._refused, **args)

    def _refused(self, code: str, message: str) -> None:
        if code == "unknown_command":
            message = ("This daemon cannot find beads yet (it has no find_beads command): "
                       "click on the beads in the live view to add them.")  # fmt: skip
        self.message.setText(f"<span style='color:#d33'>{message}</span>")

    def _show(self, result: Any) -> None:
        found, rejected = parse_candidates(result)
        self.candidates = found
        self.table.setRowCount(len(found) + len(rejected))
        for row, c in enumerate([*found, *rejected]):
            tick = QTableWidgetItem()
            accepted = row < len(found)
            tick.setFlags(Qt.ItemFlag.ItemIsUserCheckable | Qt.ItemFlag.ItemIsEnabled if accepted
                          else Qt.ItemFlag.NoItemFlags)  # fmt: skip
            if accepted:
                tick.setCheckState(Qt.CheckState.Checked)
            self.table.setItem(row, 0, tick)
            self.table.setItem(row, 1, QTableWidgetItem(f"{c['x']:.1f}"))
            self.table.setItem(row, 2, QTableWidgetItem(f"{c['y']:.1f}"))
            note = f"{c['score']:.3g}" if accepted else f"not added: {c.get('reason', '?')}"
            self.table.setItem(row, 3, QTableWidgetItem(note))
        self._view.show_candidates([(c["x"], c["y"], c["score"]) for c in found])
        self.message.setText(f"{len(found)} candidate(s), {len(rejected)} excluded")
        self.add_button.setEnabled(bool(found))

    def ticked(self) -> list[dict[str, Any]]:
        return [c for row, c in enumerate(self.candidates)
                if self.table.item(row, 0).checkState() == Qt.CheckState.Checked]  # fmt: skip

    def add_ticked(self) -> None:
        chosen = self.ticked()
        if chosen:
            rois = [[round(c["x"], 2), round(c["y"], 2)] for c in chosen]
            self._bridge.call("add_beads", on_result=self._added, on_error=self._refused, rois=rois)

    def _added(self, result: dict[str, Any]) -> None:
        self.message.setText(f"added {len(result.get('ids', []))} bead(s)")
        self._view.clear_candidates()
        self.add_button.setEnabled(False)
        self._events.refresh()
