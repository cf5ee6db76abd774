"""Driving the panels against a real simulated daemon: recording, Z-LUT sweep, motors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from magscope_app.gui._history import Z_NM
from PyQt6.QtCore import Qt
from PyQt6.QtTest import QTest

from magscope_app.control import connect
from magscope_app.recording import open_recording


def test_recording_started_and_stopped_from_the_panel(sim_daemon, make_window, qtbot, tmp_path):
    window = make_window(sim_daemon.instance)
    with connect(sim_daemon.instance) as client:
        client.call("add_beads", rois=[[60.0, 60.0], [150.0, 150.0]])
    panel = window.recording_panel
    panel.folder.setText(str(tmp_path / "recordings"))
    panel.name.setText("from_panel")
    qtbot.mouseClick(panel.start_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: panel.running, timeout=40_000)
    assert "recording" in panel.state.text()
    qtbot.waitUntil(lambda: "rows/s" in panel.counters.text() and not panel.counters.text()
                    .startswith("00:00.0"), timeout=20_000)  # fmt: skip
    qtbot.mouseClick(panel.stop_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not panel.running and "stopped" in panel.message.text(),
                    timeout=20_000)  # fmt: skip
    files = list(Path(tmp_path / "recordings").glob("from_panel*"))
    assert len(files) == 1, files
    with open_recording(files[0]) as rec:
        assert rec.stop_reason == "user"
        assert set(rec.bead_ids()) == {0, 1}
        assert len(rec.frames()["frame"]) > 0


def test_motor_move_jog_and_stop_all_from_the_panel(sim_daemon, make_window, qtbot):
    window = make_window(sim_daemon.instance)
    panel = window.motors_panel
    qtbot.waitUntil(lambda: "focus" in panel.rows, timeout=20_000)
    row = panel.rows["focus"]
    qtbot.waitUntil(lambda: "limits" in row.limits.text(), timeout=20_000)

    def position() -> float:
        with connect(sim_daemon.instance) as client:
            return client.call("motor_state", motor="focus")["position"]

    row.target.setValue(400.0)
    qtbot.mouseClick(row.move, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: abs(position() - 400.0) < 1.0, timeout=20_000)
    row.step.setValue(50.0)
    qtbot.mouseClick(row.plus, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: abs(position() - 450.0) < 1.0, timeout=20_000)
    qtbot.waitUntil(lambda: row.position.text().startswith("450.0"), timeout=20_000)
    # outside the soft limits: refused, and the refusal is shown next to the motor
    row.target.setMaximum(1e6)
    row.target.setValue(90_000.0)
    qtbot.mouseClick(row.move, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: "limit" in row.message.text(), timeout=20_000)
    assert abs(position() - 450.0) < 1.0
    # Stop all: the toolbar action's shortcut (Esc)
    window.activateWindow()
    QTest.keyClick(window, Qt.Key.Key_Escape)
    qtbot.waitUntil(lambda: panel.message.text() == "all motors stopped", timeout=20_000)


def test_zlut_sweep_from_the_panel(sim_daemon, make_window, qtbot):
    window = make_window(sim_daemon.instance)
    with connect(sim_daemon.instance) as client:
        truth = client.call("sim_truth")  # the stuck (reference) bead: still while the focus steps
        stuck = truth["is_reference"].index(True)
        client.call("add_beads", rois=[[truth["x_px"][stuck], truth["y_px"][stuck]]])
    panel = window.zlut_panel
    panel.start_nm.setValue(-600.0)
    panel.stop_nm.setValue(600.0)
    panel.step_nm.setValue(100.0)
    panel.per_plane.setValue(10)
    panel.settle.setValue(0.0)
    qtbot.mouseClick(panel.start_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: "sweep of 13 planes" in panel.message.text(), timeout=20_000)
    seen, holds, frozen = [], set(), set()
    labels = window.status_panel.labels

    def watch() -> bool:
        holds.add(labels["holds"].text())
        frozen.add(labels["frozen"].text())
        seen.append(panel.progress.format())
        return seen[-1] in ("complete", "failed")

    qtbot.waitUntil(watch, timeout=90_000)
    assert any(text.startswith("plane ") for text in seen)  # the progress bar followed it
    # the status panel showed the sweep's hold on acquisition and its freeze of the bead ROIs
    assert any("zlut sweep" in text for text in holds), holds
    assert any(text.startswith("frozen by zlut sweep") for text in frozen), frozen
    qtbot.waitUntil(lambda: labels["frozen"].text() == "free", timeout=10_000)
    assert panel.progress.format() == "complete", panel.message.text()
    qtbot.waitUntil(lambda: panel.table.rowCount() == 1, timeout=20_000)
    assert panel.table.item(0, 0).text() == "0" and panel.table.item(0, 1).text() == "yes"
    # the LUT of bead 0 as an image: radius across, 13 planes from -600 to 600 nm up
    view = panel.lut_view
    qtbot.waitUntil(lambda: view.image.image is not None, timeout=20_000)
    assert view.bead.currentText() == "0" and "13 planes" in view.info.text()
    assert view.image.image.shape[1] == 13
    rect = view.image.mapRectToParent(view.image.boundingRect())
    assert rect.top() < -600 < 600 < rect.bottom()
    # the live profile of bead 0 over the LUT plane nearest its z
    window.docks["Profile"].raise_()
    window.selection.set([0])
    profile = window.profile_plot
    qtbot.waitUntil(lambda: "Z-LUT plane at z =" in profile.title.text(), timeout=20_000)
    index, z = profile.nearest_plane()
    live_z = window.feed.history.latest(0)[Z_NM]
    assert abs(z - live_z) <= 60.0  # the nearest of planes 100 nm apart (z moves a little)
    assert np.array_equal(profile.lut_curve.getData()[1], view.image.image[:, index])
    panel.path.setText(str(Path(window.settings.fileName()).with_name("luts.h5")))
    qtbot.mouseClick(panel.save_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: "saved" in panel.message.text(), timeout=20_000)
    assert Path(panel.path.text()).is_file()


def test_camera_and_tracking_settings_from_their_panels(sim_daemon, make_window, qtbot):
    window = make_window(sim_daemon.instance)
    form = window.camera_panel.form
    qtbot.waitUntil(lambda: "exposure" in form.names(), timeout=20_000)
    exposure = form.editor("exposure")
    assert exposure.suffix() == " ms" and exposure.maximum() == 20.0  # 50 frames/s: ≤ 20 ms
    assert not form.editor("pixel_size").isEnabled()  # read-only settings cannot be edited
    exposure.setFocus()
    exposure.selectAll()
    QTest.keyClicks(exposure, "7.5")
    QTest.keyClick(exposure, Qt.Key.Key_Return)

    def setting(name):
        with connect(sim_daemon.instance) as client:
            return client.call("get_setting", device="camera", name=name)

    qtbot.waitUntil(lambda: setting("exposure") == 7.5, timeout=20_000)

    panel = window.tracking_panel
    qtbot.waitUntil(lambda: bool(panel.form.names()), timeout=20_000)
    panel.roi_size.setFocus()
    panel.roi_size.selectAll()
    QTest.keyClicks(panel.roi_size, "48")
    QTest.keyClick(panel.roi_size, Qt.Key.Key_Return)

    def roi_size():
        with connect(sim_daemon.instance) as client:
            return client.call("tracking_settings")["roi_size"]

    qtbot.waitUntil(lambda: roi_size() == 48, timeout=20_000)
