"""The window's data feed: attaches to the daemon's shared memory and keeps the track history.

Frames are pulled by a :class:`~._frames.FrameGrabber` thread (``frames`` below); tracks are
pulled here, at :data:`TRACKS_MS`, into one :class:`~._history.TrackHistory` that every plot
reads, so the rows are copied once however many plots are open. The pull and every periodic
refresh of the window's views take turns on one :class:`~._rota.Rota` (``feed.every``).
"""

from __future__ import annotations

from collections.abc import Callable

from PyQt6.QtCore import QObject, pyqtSignal

from ._bridge import Bridge
from ._events import DaemonEvents
from ._frames import FrameGrabber
from ._history import TrackHistory
from ._rota import Rota
from ._shared import SharedViews

#: Period (ms) of the tracks pull.
TRACKS_MS = 100


class DataFeed(QObject):
    """``attached()``: the shared buffers are (re-)attached; ``tracks_updated()``: new rows;
    ``frames``: the frame grabber (its ``frame(number, image)`` signal feeds the live view)."""

    attached = pyqtSignal()
    tracks_updated = pyqtSignal()

    def __init__(self, bridge: Bridge, events: DaemonEvents, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._bridge = bridge
        self.shared = SharedViews()
        self.history = TrackHistory()
        self.frames = FrameGrabber()
        self.frames.start()
        self._rota = Rota(self)
        self._rota.every(TRACKS_MS, self._pull)
        events.connected.connect(self._describe)
        events.disconnected.connect(self._on_disconnected)
        events.beads.connect(self._on_beads)

    def _describe(self) -> None:
        self._bridge.call("describe", on_result=self._attach)

    def _attach(self, description: dict) -> None:
        self.shared.attach(description)
        self.frames.attach(description)
        self.attached.emit()

    def _on_disconnected(self, message: str) -> None:
        self.frames.attach(None)
        self.shared.close()

    def every(self, period_ms: int, refresh: Callable[[], None]) -> None:
        """Call ``refresh()`` about every ``period_ms``, taking turns with the other refreshes
        (see :class:`~._rota.Rota`)."""
        self._rota.every(period_ms, refresh)

    def _on_beads(self, beads: list) -> None:
        self.history.forget({int(b["id"]) for b in beads})

    def _pull(self) -> None:
        tracks = self.shared.tracks
        if tracks is not None and self.history.pull(tracks, self.shared.generation):
            self.tracks_updated.emit()

    def close(self) -> None:
        """Stop the tracks pull, the refreshes and the frame grabber thread; detach
        (idempotent)."""
        self._rota.stop()
        self.frames.stop()
        self.shared.close()
