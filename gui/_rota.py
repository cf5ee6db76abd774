"""The refresh rota: the window's periodic refreshes (plots, histogram, bead states, the tracks
pull) take turns, at most one per :data:`SLOT_MS` slot.

Each refresh costs the GUI thread a few milliseconds (and its repaint as much again); on their
own timers, refreshes with related periods fall due together (Qt even aligns coarse timers) and
their work piles up into one long stretch during which the window does not respond. Here the
most overdue refresh runs in each slot, so a stretch holds one refresh, whatever their number.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

from PyQt6 import sip
from PyQt6.QtCore import QObject, Qt, QTimer

#: Slot period (ms): at most one refresh per slot.
SLOT_MS = 20


class _Job:
    def __init__(self, refresh: Callable[[], None], period_s: float, due: float) -> None:
        self.refresh, self.period_s, self.due = refresh, period_s, due


class Rota(QObject):
    """Runs each refresh added with :meth:`every` about every ``period_ms``, one per slot (and
    never two within half a slot)."""

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._jobs: list[_Job] = []
        self._last_run = -math.inf
        self._timer = QTimer(self)
        self._timer.setTimerType(Qt.TimerType.PreciseTimer)  # slots, not aligned batches
        self._timer.timeout.connect(self._slot)
        self._timer.start(SLOT_MS)

    def every(self, period_ms: int, refresh: Callable[[], None]) -> None:
        """Call ``refresh()`` about every ``period_ms`` (later when the slots are busy; never
        once its owner, a Qt object, has been deleted)."""
        self._jobs.append(_Job(refresh, period_ms / 1e3, time.monotonic()))

    def _slot(self) -> None:
        now = time.monotonic()
        due = [job for job in self._jobs if job.due <= now]
        if not due or now - self._last_run < SLOT_MS / 2e3:  # (a late slot's catch-up tick)
            return
        self._last_run = now
        job = min(due, key=lambda j: j.due)
        job.due = max(job.due + job.period_s, now + job.period_s / 2)  # late: no catching up
        owner = getattr(job.refresh, "__self__", None)
        if isinstance(owner, QObject) and sip.isdeleted(owner):
            self._jobs.remove(job)
            return
        job.refresh()

    def stop(self) -> None:
        """No more refreshes (idempotent)."""
        self._timer.stop()
