"""Which beads the operator selected, shared by the live view, the plots and the panels."""

from __future__ import annotations

from PyQt6.QtCore import QObject, pyqtSignal


class BeadSelection(QObject):
    """The selected bead ids (in selection order) and the optional reference bead.

    ``changed()`` is emitted whenever either changes.
    """

    changed = pyqtSignal()

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._ids: list[int] = []
        self._reference: int | None = None

    @property
    def ids(self) -> list[int]:
        return list(self._ids)

    @property
    def reference(self) -> int | None:
        """Bead whose motion is subtracted in the plots (None: raw positions)."""
        return self._reference

    def set(self, ids: list[int]) -> None:
        ids = list(dict.fromkeys(int(i) for i in ids))
        if ids != self._ids:
            self._ids = ids
            self.changed.emit()

    def toggle(self, bead: int) -> None:
        self.set([i for i in self._ids if i != bead] if bead in self._ids else [*self._ids, bead])

    def set_reference(self, bead: int | None) -> None:
        if bead != self._reference:
            self._reference = bead
            self.changed.emit()

    def keep_only(self, existing: set[int]) -> None:
        """Forget beads that no longer exist."""
        self.set([i for i in self._ids if i in existing])
        if self._reference is not None and self._reference not in existing:
            self.set_reference(None)
