"""The window against a real simulated daemon: frames, panels, beads with the mouse, layout."""

from __future__ import annotations

import re

from conftest import drag, view_point
from PyQt6.QtCore import QSettings, Qt
from PyQt6.QtTest import QTest

from magscope_app.control import connect


def _beads(instance: str) -> dict[int, tuple[float, float]]:
    with connect(instance) as client:
        return {b["id"]: (b["x"], b["y"]) for b in client.call("beads")["beads"]}


def test_window_shows_live_frames_status_and_panels(sim_daemon, make_window, qtbot):
    window = make_window(sim_daemon.instance)
    view = window.live_view
    first = view.display_updates
    qtbot.waitUntil(lambda: view.display_updates >= first + 5, timeout=20_000)
    assert view.image.image.shape == (256, 256)
    low, high = view.levels()
    assert 0 <= low < high <= 4095  # 12-bit camera: levels from the frame, not per frame
    qtbot.waitUntil(lambda: "focus" in window.motors_panel.rows, timeout=20_000)
    qtbot.waitUntil(lambda: "exposure" in window.camera_panel.form.names(), timeout=20_000)
    qtbot.waitUntil(lambda: sim_daemon.instance in window.status_panel.labels["daemon"].text())
    assert window.status_panel.workers.rowCount() >= 2
    # the frames-lost readout is the daemon's count (a loaded machine may lose a few frames)
    shown = re.search(r"frames lost (\d+)", view.rates.text())
    assert shown is not None, view.rates.text()
    with connect(sim_daemon.instance) as client:
        assert int(shown.group(1)) <= client.call("status")["camera"]["frames_lost"]
    # growing numbers in the readout never re-lay out (nor widen) the window
    size = view.graphics.size()
    view.rates.setText("frames lost 12345678  ·  " * 20)
    qtbot.wait(50)
    assert view.graphics.size() == size
    # the pixel readout follows the mouse
    QTest.mouseMove(view.graphics.viewport(), view_point(window, 100, 60))
    qtbot.waitUntil(lambda: view.readout.text().startswith("x 100  y 60  value "))
    # the plots and panels never run client calls on the GUI thread: nothing is pending long
    qtbot.waitUntil(lambda: window.bridge.pending() <= 2, timeout=20_000)
    # pause and resume acquisition from the toolbar
    window.acquire_action.trigger()
    qtbot.waitUntil(lambda: window.acquire_action.text() == "Paused", timeout=20_000)
    with connect(sim_daemon.instance) as client:
        assert client.call("status")["acquiring"] is False
    window.acquire_action.trigger()
    qtbot.waitUntil(lambda: window.acquire_action.text() == "Acquiring", timeout=20_000)


def test_beads_are_added_moved_and_removed_with_the_mouse(sim_daemon, make_window, qtbot):
    window = make_window(sim_daemon.instance)
    view, viewport = window.live_view, window.live_view.graphics.viewport()
    instance = sim_daemon.instance

    QTest.mouseClick(viewport, Qt.MouseButton.LeftButton, pos=view_point(window, 80, 90))
    qtbot.waitUntil(lambda: len(_beads(instance)) == 1, timeout=20_000)
    ((bead, (x, y)),) = _beads(instance).items()
    assert abs(x - 80) <= 1 and abs(y - 90) <= 1
    qtbot.waitUntil(lambda: bead in view.bead_items(), timeout=10_000)

    drag(viewport, view_point(window, 80, 90), view_point(window, 150, 120))
    qtbot.waitUntil(lambda: abs(_beads(instance)[bead][0] - 150) <= 2, timeout=20_000)
    assert abs(_beads(instance)[bead][1] - 120) <= 2

    QTest.mouseClick(viewport, Qt.MouseButton.RightButton, pos=view_point(window, 150, 120))
    qtbot.waitUntil(lambda: not _beads(instance), timeout=20_000)
    qtbot.waitUntil(lambda: not view.bead_items(), timeout=10_000)

    # select with a click, remove with Delete
    QTest.mouseClick(viewport, Qt.MouseButton.LeftButton, pos=view_point(window, 60, 60))
    qtbot.waitUntil(lambda: len(view.bead_items()) == 1, timeout=20_000)
    (bead,) = view.bead_items()
    QTest.mouseClick(viewport, Qt.MouseButton.LeftButton, pos=view_point(window, 60, 60))
    qtbot.waitUntil(lambda: window.selection.ids == [bead])
    assert view.bead_items()[bead].bead_state == "selected"
    QTest.keyClick(view.graphics, Qt.Key.Key_Delete)
    qtbot.waitUntil(lambda: not _beads(instance), timeout=20_000)


def test_find_beads_previews_candidates_or_explains(sim_daemon, make_window, qtbot):
    window = make_window(sim_daemon.instance)
    with connect(sim_daemon.instance) as client:
        known = {c["name"] for c in client.call("help")}
    window.find_action.trigger()
    dialog = window._dialog
    assert dialog is not None and dialog.isVisible()
    if "find_beads" in known:
        qtbot.waitUntil(lambda: bool(dialog.candidates), timeout=30_000)
        assert window.live_view._candidates  # previewed before anything is added
        assert not _beads(sim_daemon.instance)
        dialog.add_ticked()
        qtbot.waitUntil(lambda: len(_beads(sim_daemon.instance)) == len(dialog.candidates),
                        timeout=20_000)  # fmt: skip
    else:
        qtbot.waitUntil(lambda: "cannot find beads" in dialog.message.text(), timeout=20_000)
    dialog.close()
    assert not window.live_view._candidates


def test_layout_is_saved_per_instance_and_reset(sim_daemon, make_window, qtbot, tmp_path):
    window = make_window(sim_daemon.instance)
    window.docks["Log"].hide()
    window.close()
    settings = QSettings(str(tmp_path / f"{sim_daemon.instance}.ini"), QSettings.Format.IniFormat)
    assert settings.value("state") is not None
    again = make_window(sim_daemon.instance)
    assert not again.docks["Log"].isVisible()  # restored
    again.reset_layout_action.trigger()
    assert again.docks["Log"].isVisibleTo(again) or not again.docks["Log"].isHidden()
    # the window was attached: closing it left the daemon running
    with connect(sim_daemon.instance) as client:
        assert client.call("status")["instance"] == sim_daemon.instance
