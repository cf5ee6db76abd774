"""The refresh rota: periodic refreshes take turns, one per slot, and stop with their owner."""

from __future__ import annotations

import itertools
import time

from magscope_app.gui._rota import SLOT_MS, Rota
from PyQt6 import sip
from PyQt6.QtCore import QObject


class _Counter(QObject):
    def __init__(self, calls: list[tuple[str, float]], name: str) -> None:
        super().__init__()
        self.calls, self.name = calls, name

    def refresh(self) -> None:
        self.calls.append((self.name, time.monotonic()))


def test_refreshes_take_turns_one_per_slot_and_end_with_their_owner(qtbot):
    calls: list[tuple[str, float]] = []
    rota = Rota()
    counters = [_Counter(calls, name) for name in "abc"]
    for counter in counters:  # all due at once, and again every slot
        rota.every(SLOT_MS, counter.refresh)
    qtbot.waitUntil(lambda: len(calls) >= 15, timeout=5_000)
    times = [t for _name, t in calls]
    assert min(b - a for a, b in itertools.pairwise(times)) >= SLOT_MS / 2e3
    assert {name for name, _t in calls[:6]} == {"a", "b", "c"}  # turns, not one hogging
    sip.delete(counters[0])  # a deleted owner is dropped, not called
    qtbot.wait(3 * SLOT_MS)
    calls.clear()
    qtbot.waitUntil(lambda: len(calls) >= 6, timeout=5_000)
    assert {name for name, _t in calls} == {"b", "c"}
    rota.stop()
    calls.clear()
    qtbot.wait(3 * SLOT_MS)
    assert calls == []
