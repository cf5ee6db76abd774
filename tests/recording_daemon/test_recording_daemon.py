"""Recording through a real daemon: record_start/stop/status, SWMR readers, duration, faults,
crash recovery at the next start, the file CLI (inspect, verify). Video: test_video_recording."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from _daemon_process import pid_alive, wait_for

from magscope_app.control import CommandError, connect
from magscope_app.recording import open_recording

pytestmark = pytest.mark.timeout(120)


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "magscope_app", *args], capture_output=True, text=True, timeout=60
    )


def _start(start_daemon, instance_name, config):
    """Start a daemon and wait until the camera delivers frames."""
    daemon = start_daemon(instance_name, "--config", str(config))
    daemon.wait_ready()
    with connect(instance_name) as client:
        wait_for(lambda: client.status()["camera"]["frames_acquired"] > 0, timeout=60)
    return daemon


def _recording(client, rows: int = 20) -> dict:
    """Wait until the running recording has ``rows`` frame rows; return its status."""

    def check():
        status = client.call("record_status")
        return status["rows"].get("frames", 0) >= rows and status

    return wait_for(check, timeout=60)


def _stopped(client) -> dict:
    return wait_for(lambda: not (s := client.call("record_status"))["running"] and s)


def _buffers(client) -> set[str]:
    return {b["name"] for b in client.status()["buffers"]}


_SWMR_READER = textwrap.dedent(
    """
    import sys
    from magscope_app.recording import open_recording
    with open_recording(sys.argv[1]) as r:
        print(len(r.frames()["frame"]), r.stop_reason)
    """
)


def test_record_read_live_stop_and_cli(start_daemon, instance_name, small_sim_config, tmp_path):
    _start(start_daemon, instance_name, small_sim_config)
    folder = tmp_path / "recs"
    with connect(instance_name) as client:
        started = client.call("record_start", folder=str(folder), name="run1")
        path = Path(started["file"])
        assert path == folder / "run1.h5" and started["mode"] == "tracks"
        with pytest.raises(CommandError, match="already running"):
            client.call("record_start", folder=str(folder), name="run2")
        _recording(client, rows=60)  # > 1 s at 50 fps: flushed at least once
        live = subprocess.run(
            [sys.executable, "-c", _SWMR_READER, str(path)], capture_output=True, text=True,
            timeout=60,
        )  # fmt: skip
        assert live.returncode == 0, live.stderr
        n_live, reason = live.stdout.split()
        assert int(n_live) > 0 and reason == "None"  # still being written
        client.pause()
        client.resume()
        buffers = _buffers(client)
        final = client.call("record_stop")
        assert not final["running"] and final["stop_reason"] == "user"
        assert final["rows_lost"] == 0 and final["last_error"] is None
        with pytest.raises(CommandError, match="no recording"):
            client.call("record_stop")

    with open_recording(path) as r:
        assert r.closed_cleanly and r.stop_reason == "user"
        frames = r.frames()
        assert len(frames["frame"]) >= max(60, int(n_live))
        assert np.all(np.diff(frames["frame"]) >= 1)  # increasing counters
        gaps = np.diff(frames["frame"]) - 1  # frames missing between two rows
        assert np.array_equal(gaps, np.diff(frames["lost"]))  # ... are the camera's lost count
        texts = [text for _t, _lvl, _src, text in r.log()]
        assert any("command pause" in t for t in texts)
        assert any("acquisition resumed" in t for t in texts)
        assert any("command record_stop" in t for t in texts)
        assert r.hardware()["camera"]["driver"] == "simulated.camera"
        assert r.config()["instance"] == instance_name
        if "Motor_focus" in buffers:
            assert "focus" in r.motor_names() and len(r.motor("focus")["time"]) > 0

    inspect = _cli("inspect", str(path))
    assert inspect.returncode == 0, inspect.stderr
    assert "closed cleanly" in inspect.stdout and "reason: user" in inspect.stdout
    verified = _cli("verify", str(path))
    assert verified.returncode == 0 and "ok" in verified.stdout


def _add_beads_or_skip(client) -> list[int]:
    """Add two beads through the tracking service, or skip if it is not wired in."""
    commands = {c["name"] for c in client.call("help")}
    if "Tracks" not in _buffers(client) or "add_beads" not in commands:
        pytest.skip("no tracking service in this daemon (Tracks buffer, add_beads)")
    return client.call("add_beads", rois=[[64, 64], [160, 128]])["ids"]


def test_tracks_and_roi_changes_recorded(start_daemon, instance_name, small_sim_config, tmp_path):
    _start(start_daemon, instance_name, small_sim_config)
    with connect(instance_name) as client:
        ids = _add_beads_or_skip(client)
        lut_z = [-100.0, 0.0, 100.0]
        n_bins = client.call("tracking_settings")["n_bins"]
        lut_profiles = [[1.0 + 0.01 * k * i for i in range(n_bins)] for k in range(3)]
        client.call("set_zlut", bead=ids[0], z_nm=lut_z, profiles=lut_profiles)
        path = Path(client.call("record_start", folder=str(tmp_path))["file"])
        wait_for(lambda: client.call("record_status")["rows"].get("tracks", 0) > 20, timeout=30)
        client.call("move_bead", id=ids[0], x=70.0, y=66.0)
        wait_for(lambda: client.call("record_status")["rows"].get("tracks", 0) > 60, timeout=30)
        final = client.call("record_stop")
        assert final["rows_lost"] == 0
    with open_recording(path) as r:
        rows = r.track_rows()
        assert len(rows) > 0 and np.all(np.diff(rows[:, 1]) >= 0)  # frame order
        assert set(np.unique(rows[:, 2]).astype(int)) == set(ids)
        log = r.roi_log()
        assert len(log["time"]) >= len(ids) + 1  # ROIs at start, then the move
        assert sorted(r.rois()) == sorted(ids)
        lut = r.zlut(ids[0])  # the Z-LUT in use when the recording started
        assert np.allclose(lut.z, lut_z) and np.allclose(lut.profiles, lut_profiles)


def test_duration_and_bad_targets(start_daemon, instance_name, small_sim_config, tmp_path):
    _start(start_daemon, instance_name, small_sim_config)
    regular = tmp_path / "a_file"
    regular.write_text("not a folder")
    with connect(instance_name) as client:
        with pytest.raises(CommandError, match="is not a folder") as info:
            client.call("record_start", folder=str(regular / "sub"))
        assert info.value.code == "invalid_argument"
        with pytest.raises(CommandError, match="unsafe file name"):
            client.call("record_start", folder=str(tmp_path), name="../escape")
        with pytest.raises(CommandError, match="absolute"):
            client.call("record_start", folder="relative/folder")
        if os.geteuid() != 0:
            locked = tmp_path / "locked"
            locked.mkdir(mode=0o500)
            with pytest.raises(CommandError, match="not writable"):
                client.call("record_start", folder=str(locked))
        # A failure inside the recorder (ROI video without bead ROIs) is a clear error too.
        if "BeadRoiBuffer" not in _buffers(client):
            with pytest.raises(CommandError, match="ROI video needs"):
                client.call("record_start", folder=str(tmp_path), name="roi", mode="roi_video")
            assert not (tmp_path / "roi.h5").exists()
        status = client.call("record_status")
        assert not status["running"]
        before = client.status()["camera"]["frames_acquired"]
        wait_for(lambda: client.status()["camera"]["frames_acquired"] > before + 5)
        # duration_s: the recording stops by itself.
        result = client.call("record_start", folder=str(tmp_path), duration_s=0.5)
        status = _stopped(client)
        assert status["stop_reason"] == "duration_reached" and status["last_error"] is None
    with open_recording(result["file"]) as r:
        assert r.stop_reason == "duration_reached" and r.closed_cleanly
        assert len(r.frames()["frame"]) > 0


def test_recorder_killed_is_reported_and_file_recovered(
    start_daemon, instance_name, small_sim_config, tmp_path
):
    _start(start_daemon, instance_name, small_sim_config)
    with connect(instance_name) as client:
        path = Path(client.call("record_start", folder=str(tmp_path))["file"])
        _recording(client, rows=60)
        (recorder,) = [w for w in client.status()["workers"] if w["name"] == "recorder"]
        os.kill(recorder["pid"], signal.SIGKILL)
        status = wait_for(
            lambda: (
                not (s := client.call("record_status"))["running"]
                and s["stop_reason"] is not None
                and s
            )
        )
        assert "recorder worker died" in status["last_error"]
        assert status["stop_reason"] == "recovered_after_crash"
        assert not any(w["name"] == "recorder" for w in client.status()["workers"])  # no restart
        before = client.status()["camera"]["frames_acquired"]
        wait_for(lambda: client.status()["camera"]["frames_acquired"] > before + 5)
        # A new recording can start after the fault.
        client.call("record_start", folder=str(tmp_path), name="after", duration_s=0.2)
        _stopped(client)
    with open_recording(path) as r:
        assert r.stop_reason == "recovered_after_crash" and not r.closed_cleanly
        assert len(r.frames()["frame"]) > 0
    assert _cli("verify", str(path)).returncode == 1  # no checksum after a crash


def test_daemon_killed_recording_recovered_at_next_start(
    start_daemon, instance_name, small_sim_config, tmp_path
):
    daemon = _start(start_daemon, instance_name, small_sim_config)
    with connect(instance_name) as client:
        path = Path(client.call("record_start", folder=str(tmp_path / "recs"))["file"])
        _recording(client, rows=60)
        pids = [w["pid"] for w in client.status()["workers"] if w["pid"]]
    # A crash of the whole daemon: the manager and every worker die at once.
    for pid in [daemon.pid, *pids]:
        os.kill(pid, signal.SIGKILL)
    daemon.wait_exit(10)
    wait_for(lambda: not any(pid_alive(p) for p in pids))
    with open_recording(path) as r:
        assert r.stop_reason is None  # left open

    _start(start_daemon, instance_name, small_sim_config)
    with open_recording(path) as r:
        assert r.stop_reason == "recovered_after_crash"
        assert len(r.frames()["frame"]) > 0
    inspect = _cli("inspect", str(path))
    assert inspect.returncode == 0 and "recovered" in inspect.stdout
