"""Fixtures of the window tests: a real simulated daemon and the window attached to it.

Every test must leave no window or thread behind: the autouse ``no_leaked_widgets_or_threads``
fixture checks the visible top-level widgets and the Python threads after each test (Qt's pool
threads appear to Python as never-ending "dummy" threads; the windows' bridges wait for their
pools when they close, and ``test_bridge…`` checks that nothing is pending afterwards).
"""

from __future__ import annotations

import threading
import time

import pytest
from magscope_app.gui import Bridge, DaemonEvents, MainWindow
from PyQt6.QtCore import QPoint, QPointF, QSettings, Qt
from PyQt6.QtWidgets import QApplication

from magscope_app.control import connect


@pytest.fixture(autouse=True)
def no_leaked_widgets_or_threads(qapp):
    threads = set(threading.enumerate())
    yield
    for _ in range(50):  # closed widgets are deleted by the event loop
        QApplication.processEvents()
        leftover = [w for w in QApplication.topLevelWidgets() if w.isVisible()]
        extra = [t for t in threading.enumerate() if t not in threads and t.is_alive()
                 and not isinstance(t, threading._DummyThread)]  # fmt: skip
        if not leftover and not extra:
            return
        time.sleep(0.02)
    assert not leftover, f"windows left open: {leftover}"
    assert not extra, f"threads left running: {extra}"


@pytest.fixture
def sim_daemon(start_daemon, instance_name, small_sim_config):
    """A running small simulated daemon (256×256 px, 6 beads, a focus stage)."""
    daemon = start_daemon(instance_name, "--config", str(small_sim_config))
    daemon.wait_ready()
    return daemon


@pytest.fixture
def make_window(qtbot, tmp_path):
    """Factory: ``make_window(instance, own_daemon=None, connect=control.connect)`` opens the
    window on a running daemon (``connect=magscope_app.connect``: with the typed client, which
    pushes events), waits for its first frame and returns it; closed (with its threads) at the
    end."""
    windows: list[MainWindow] = []

    def make(instance: str, own_daemon=None, connect=connect) -> MainWindow:
        bridge = Bridge(connect(instance), connect=lambda: connect(instance))
        events = DaemonEvents(bridge)
        settings = QSettings(str(tmp_path / f"{instance}.ini"), QSettings.Format.IniFormat)
        window = MainWindow(bridge, events, instance=instance, own_daemon=own_daemon,
                            settings=settings)  # fmt: skip
        window.confirm_stop_while_recording = lambda: True
        qtbot.addWidget(window)
        windows.append(window)
        window.show()
        qtbot.waitUntil(lambda: window.live_view.display_updates > 0, timeout=60_000)
        return window

    yield make
    for window in windows:
        window.close()


def view_point(window: MainWindow, x: float, y: float) -> QPoint:
    """Viewport position of bead coordinates (x, y) px in the live view."""
    view = window.live_view
    scene = view.viewbox.mapViewToScene(QPointF(x + 0.5, y + 0.5))
    return view.graphics.mapFromScene(scene)


def drag(widget, start: QPoint, end: QPoint, steps: int = 8) -> None:
    """Left-button drag on ``widget`` (QTest's mouseMove carries no buttons in Qt 6)."""
    from PyQt6.QtGui import QMouseEvent
    from PyQt6.QtTest import QTest

    QTest.mousePress(widget, Qt.MouseButton.LeftButton, pos=start)
    for i in range(1, steps + 1):
        point = QPointF(start + (end - start) * (i / steps))
        event = QMouseEvent(
            QMouseEvent.Type.MouseMove, point, widget.mapToGlobal(point),
            Qt.MouseButton.NoButton, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier,
        )  # fmt: skip
        QApplication.sendEvent(widget, event)
        QTest.qWait(20)
    QTest.mouseRelease(widget, Qt.MouseButton.LeftButton, pos=end)
