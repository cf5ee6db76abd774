"""A form generated from described settings (name, kind, unit, limits, choices, read-only).

Used by the camera panel (the camera's ``devices`` description) and the tracking panel. Editors
enforce the described type and range; the daemon validates again and a refused value is shown
as an error and reverted by the caller's refresh.
"""

from __future__ import annotations

from typing import Any

from PyQt6.QtCore import pyqtSignal
from PyQt6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QLabel,
    QLineEdit,
    QSpinBox,
    QWidget,
)

_BIG = 1e12


class SettingsForm(QWidget):
    """``edited(name, value)`` when the user commits a value (Enter / focus out / choice)."""

    edited = pyqtSignal(str, object)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._layout = QFormLayout(self)
        self._editors: dict[str, QWidget] = {}
        self._kinds: dict[str, str] = {}
        self._signature: list[tuple[str, str]] = []

    def editor(self, name: str) -> QWidget:
        return self._editors[name]

    def names(self) -> list[str]:
        return list(self._editors)

    def set_settings(self, settings: list[dict[str, Any]]) -> None:
        """Build (or, for the same settings, update) the form from setting descriptions."""
        signature = [(s["name"], s.get("kind", "float")) for s in settings]
        if signature != self._signature:
            self._build(settings)
            self._signature = signature
        self.set_values({s["name"]: s.get("value") for s in settings})

    def _build(self, settings: list[dict[str, Any]]) -> None:
        while self._layout.rowCount():
            self._layout.removeRow(0)
        self._editors.clear()
        for s in settings:
            name, kind = s["name"], s.get("kind", "float")
            editor = self._make_editor(name, kind, s)
            editor.setToolTip(s.get("description") or name)
            editor.setEnabled(not s.get("read_only", False))
            label = QLabel(name.replace("_", " "))
            self._layout.addRow(label, editor)
            self._editors[name] = editor
            self._kinds[name] = kind

    def _make_editor(self, name: str, kind: str, s: dict[str, Any]) -> QWidget:
        unit = f" {s['unit']}" if s.get("unit") else ""
        if s.get("choices"):
            box = QComboBox()
            for choice in s["choices"]:
                box.addItem(str(choice), choice)
            box.activated.connect(lambda _i, n=name, b=box: self.edited.emit(n, b.currentData()))
            return box
        if kind == "bool":
            check = QCheckBox()
            check.clicked.connect(lambda on, n=name: self.edited.emit(n, bool(on)))
            return check
        if kind in ("int", "float"):
            spin = QSpinBox() if kind == "int" else QDoubleSpinBox()
            low = s.get("minimum")
            high = s.get("maximum")
            if kind == "int":
                spin.setRange(int(low if low is not None else -(2**31)),
                              int(high if high is not None else 2**31 - 1))  # fmt: skip
            else:
                spin.setDecimals(4)
                spin.setRange(low if low is not None else -_BIG, high if high is not None else _BIG)
            spin.setSuffix(unit)
            spin.setKeyboardTracking(False)
            spin.editingFinished.connect(lambda n=name, w=spin: self._commit(n, w))
            return spin
        line = QLineEdit()
        line.editingFinished.connect(lambda n=name, w=line: self.edited.emit(n, w.text()))
        return line

    def _commit(self, name: str, spin: QWidget) -> None:
        value = spin.value()
        if spin.property("shown") != value:
            spin.setProperty("shown", value)
            self.edited.emit(name, value)

    def set_values(self, values: dict[str, Any]) -> None:
        """Show ``values`` without emitting ``edited`` (an editor with focus is left alone)."""
        for name, value in values.items():
            editor = self._editors.get(name)
            if editor is None or value is None or editor.hasFocus():
                continue
            editor.blockSignals(True)
            if isinstance(editor, QComboBox):
                index = editor.findData(value)
                if index >= 0:
                    editor.setCurrentIndex(index)
            elif isinstance(editor, QCheckBox):
                editor.setChecked(bool(value))
            elif isinstance(editor, QSpinBox | QDoubleSpinBox):
                editor.setValue(value)
                editor.setProperty("shown", editor.value())
            elif isinstance(editor, QLineEdit):
                editor.setText(str(value))
            editor.blockSignals(False)
