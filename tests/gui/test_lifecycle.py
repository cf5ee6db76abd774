"""Launch and life cycle: the window's own daemon, a daemon dying under the window, headless."""

from __future__ import annotations

import os
import subprocess
import sys

from _daemon_process import wait_for
from magscope_app.gui import OwnDaemon
from PyQt6.QtCore import Qt

from magscope_app.control import DaemonNotRunning, connect
from magscope_app.recording import open_recording


def test_a_dying_daemon_shows_the_banner_and_restart_brings_it_back(
    sim_daemon, make_window, qtbot, small_sim_config
):
    window = make_window(sim_daemon.instance)
    assert not window.banner.isVisible()
    sim_daemon.proc.kill()  # the daemon dies (its workers are cleaned up by the fixture)
    sim_daemon.proc.wait()  # reaped, as its parent would
    qtbot.waitUntil(window.banner.isVisible, timeout=20_000)
    assert "not running" in window.banner.text.text()
    assert "not connected" in window.windowTitle()
    assert any("not running" in line for line in window.log_panel.texts())
    # the window stays responsive: its frame timer keeps ticking without long stalls
    ticks = window.live_view.max_gap_ms
    qtbot.wait(500)
    assert window.live_view.max_gap_ms < max(ticks, 1000.0)

    window.own_daemon = OwnDaemon(sim_daemon.instance, small_sim_config)
    shown = window.live_view.display_updates
    qtbot.mouseClick(window.banner.restart_button, Qt.MouseButton.LeftButton)
    try:
        qtbot.waitUntil(lambda: not window.banner.isVisible(), timeout=60_000)
    finally:
        print(window.banner.text.text())
    qtbot.waitUntil(lambda: window.live_view.display_updates > shown + 3, timeout=60_000)
    process = window.own_daemon.process
    window.close()  # the window now owns the daemon: closing it stops the daemon
    assert process.poll() is not None


def test_closing_the_window_stops_its_own_daemon_asking_while_recording(
    instance_name, daemon_dirs, small_sim_config, make_window, qtbot, tmp_path
):
    own = OwnDaemon(instance_name, small_sim_config)
    own.start()
    try:
        window = make_window(instance_name, own_daemon=own)
        with connect(instance_name) as client:
            client.call("add_beads", rois=[[60.0, 60.0]])
            path = client.call("record_start", folder=str(tmp_path), name="closing")["file"]
        qtbot.waitUntil(lambda: window.recording_panel.running, timeout=20_000)
        asked = []
        window.confirm_stop_while_recording = lambda: asked.append(1) or False
        window.close()
        assert asked and window.isVisible() and own.running  # "no": nothing happens
        window.confirm_stop_while_recording = lambda: asked.append(2) or True
        window.close()
        assert asked == [1, 2] and not window.isVisible()
        assert not own.running
        try:
            connect(instance_name).close()
            raise AssertionError("the daemon still answers")
        except DaemonNotRunning:
            pass
        with open_recording(path) as rec:
            assert rec.stop_reason == "user"
    finally:
        own.stop()


def test_no_display_runs_the_daemon_headless(instance_name, daemon_dirs, small_sim_config):
    env = {k: v for k, v in os.environ.items()
           if k not in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM")}  # fmt: skip
    proc = subprocess.Popen(
        [sys.executable, "-m", "magscope_app", "--instance", instance_name,
         "--config", str(small_sim_config)],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env, text=True,
    )  # fmt: skip
    try:
        first = proc.stderr.readline()
        assert first.startswith("magscope-app: no display"), first
        assert "headless" in first

        def status():
            try:
                with connect(instance_name) as client:
                    return client.call("status")
            except DaemonNotRunning:
                return None

        assert wait_for(status, timeout=60)["instance"] == instance_name
        with connect(instance_name) as client:
            client.call("stop")
        assert proc.wait(30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stderr.close()


def test_gui_subcommand_refuses_without_a_display(instance_name, daemon_dirs):
    env = {k: v for k, v in os.environ.items()
           if k not in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM")}  # fmt: skip
    command = [sys.executable, "-m", "magscope_app", "gui", "--instance", instance_name]
    done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=60)
    assert done.returncode == 2
    assert "gui needs a display" in done.stderr and len(done.stderr.splitlines()) == 1
