"""The typed client against a real simulated daemon: status, motors and their handles, limit
errors, camera settings, recordings with their stop reasons (read back from the HDF5 file) and
tracks from shared memory."""

from __future__ import annotations

import asyncio
import time

import numpy as np
import pytest
from _daemon_process import wait_for

import magscope_app
from magscope_app.buffers import MatrixBuffer
from magscope_app.buffers.layouts import TRACK_COLUMNS
from magscope_app.client import (
    TRACK_DTYPE,
    CommandError,
    CommandFailed,
    InvalidArgument,
    LimitExceeded,
    MotorState,
    Status,
)
from magscope_app.control import connect as connect_plain
from magscope_app.recording import open_recording

pytestmark = pytest.mark.timeout(120)


def test_status_is_typed_and_keeps_the_raw_reply(scope, sim):
    status = scope.status()
    assert isinstance(status, Status)
    assert status.instance == sim["instance"] and status.pid == sim["daemon"].pid
    assert status.uptime_s > 0 and isinstance(status.acquiring, bool)
    assert status.camera is not None and status.camera.frames_acquired >= 0
    assert set(status.motors) == {"focus", "magnet_height"}
    assert isinstance(status.motors["magnet_height"], MotorState)
    assert status.motors["magnet_height"].unit == "mm"
    assert {w.name for w in status.workers} >= {"camera", "motor:focus", "tracking:0"}
    assert status["tracking"]["beads"] == len(sim["beads"])  # raw parts by item access
    assert status.raw["instance"] == sim["instance"]
    with pytest.raises(AttributeError):
        status.acquiring = False  # frozen


def test_move_to_waits_until_settled(scope):
    magnet = scope.motors["magnet_height"]
    assert magnet.unit == "mm" and magnet.limits == (0.3, 20.0)
    handle = magnet.move_to(18.0, wait=True, timeout=30)
    assert handle.done
    assert handle.final.position == pytest.approx(18.0)
    assert magnet.position == pytest.approx(18.0)
    assert magnet.moving is False
    assert scope.focus.unit == "nm" and scope.focus.name == "focus"
    focus = scope.focus.move_to(250.0, wait=True, timeout=30)
    assert focus.final.position == pytest.approx(250.0, abs=1.0)
    with pytest.raises(LookupError, match="magnet rotation"):
        scope.rotation  # noqa: B018 - not configured in this microscope


def test_move_by_handle_wait_and_cancel(scope):
    magnet = scope.motors["magnet_height"]
    start = magnet.move_to(17.0, wait=True, timeout=30).final.position
    handle = magnet.move_by(-1.0)
    assert handle.target == pytest.approx(start - 1.0)
    assert not handle.done  # 1 mm at 4 mm/s takes 0.25 s
    final = handle.wait(timeout=30)
    assert final.position == pytest.approx(start - 1.0) and final.moving is False
    long = magnet.move_by(-10.0)  # 2.5 s at 4 mm/s
    time.sleep(0.3)
    long.cancel()
    stopped = long.wait(timeout=10)
    assert long.cancelled and long.done
    assert start - 11.0 < stopped.position < start - 1.1  # stopped on the way
    time.sleep(0.3)
    assert magnet.position == pytest.approx(stopped.position, abs=1e-6)  # and stays there


def test_a_move_outside_the_limits_is_refused_by_code(scope):
    magnet = scope.motors["magnet_height"]
    before = magnet.move_to(10.0, wait=True, timeout=30).final.position
    with pytest.raises(LimitExceeded) as err:
        magnet.move_to(25.0)
    assert isinstance(err.value, InvalidArgument) and isinstance(err.value, CommandError)
    assert err.value.code == "invalid_argument" and err.value.reason == "limit"
    assert "above the upper limit 20 mm" in err.value.message
    with pytest.raises(LimitExceeded, match=r"below the lower limit 0\.3 mm"):
        magnet.move_by(-9.8)
    with connect_plain(scope.instance) as plain, pytest.raises(LimitExceeded):
        plain.call("move", motor="magnet_height", position=-1.0)  # the plain client too
    with pytest.raises(InvalidArgument, match="unknown motor"):
        scope.call("move", motor="magnet", position=1.0)
    state = magnet.state()
    assert state.target == pytest.approx(before) and state.moving is False  # nothing moved


def test_camera_settings_are_validated_by_the_daemon(scope):
    settings = scope.camera.settings
    assert {"exposure", "frame_rate", "width"} <= set(settings)
    assert settings.describe("exposure")["unit"] == "ms"
    settings["exposure"] = 2.0
    assert settings["exposure"] == pytest.approx(2.0)
    with pytest.raises(InvalidArgument, match="below its minimum"):
        settings["exposure"] = -1.0
    with pytest.raises(InvalidArgument, match="takes a float"):
        settings["exposure"] = "long"
    with pytest.raises(InvalidArgument, match="no setting 'shutter'"):
        settings["shutter"] = 1
    with pytest.raises(CommandFailed, match="fixed while the daemon runs"):
        settings["width"] = 128
    assert settings["exposure"] == pytest.approx(2.0)  # the refused writes changed nothing
    settings["exposure"] = 5.0


def test_record_stop_reasons_completed_and_aborted(scope, tmp_path):
    with scope.record(tmp_path, name="ok.h5") as rec:
        assert rec.running and rec.path == tmp_path / "ok.h5"
        scope.wait(0.5)
    assert rec.status().stop_reason == "completed"
    with (
        pytest.raises(RuntimeError, match="experiment went wrong"),
        scope.record(tmp_path, name="bad.h5") as bad,
    ):
        scope.wait(0.3)
        raise RuntimeError("experiment went wrong")
    assert not bad.running
    with open_recording(rec.path) as r:
        assert r.stop_reason == "completed"
        assert len(r.track_rows()) > 0
    with open_recording(bad.path) as r:
        assert r.stop_reason == "aborted"
    with scope.record(tmp_path, name="timed.h5", duration=0.5) as timed:
        final = timed.wait(timeout=30)  # ends by itself; the block's end leaves it as it is
    assert final.stop_reason == "duration_reached"
    with open_recording(timed.path) as r:
        assert r.stop_reason == "duration_reached"
    with pytest.raises(InvalidArgument, match="mode"):
        scope.record(tmp_path, mode="everything")


def test_tracks_latest_reads_named_columns_from_shared_memory(scope, sim):
    assert scope.status().acquiring
    wait_for(lambda: len(scope.tracks.latest(1.0)) > 0)
    time.sleep(1.2)
    t = scope.tracks.latest(seconds=1.0)
    assert t.dtype == TRACK_DTYPE and t.dtype.names == TRACK_COLUMNS
    assert set(np.unique(t["bead"])) == set(sim["beads"])
    assert t["time"].max() - t["time"].min() <= 1.0
    assert t["time"].max() - t["time"].min() > 0.5  # 1 s at 50 frames/s: a full second's rows
    frames = np.unique(t["frame"])
    assert len(t) == len(frames) * len(sim["beads"]) or len(t) >= 20 * len(sim["beads"])
    for bead in scope.beads.list():  # each row lies in its bead's ROI, near the bead
        mine = t[t["bead"] == bead["id"]]
        x0, x1, y0, y1 = bead["roi"]
        assert np.all((x0 <= mine["x_px"]) & (mine["x_px"] < x1)), bead
        assert np.all((y0 <= mine["y_px"]) & (mine["y_px"] < y1)), bead
        assert np.nanstd(mine["x_px"]) < 10.0
    # The same rows as a direct peek of the daemon's Tracks buffer (nothing consumed).
    tracks = MatrixBuffer(create=False, locks=None, instance=sim["instance"], name="Tracks")
    try:
        newest = t["time"].max()
        rows = tracks.peek_last(4 * len(t) + 1000)
        rows = rows[(rows[:, 0] > newest - 1.0) & (rows[:, 0] <= newest)]
    finally:
        tracks.close()
    assert len(rows) == len(t)
    np.testing.assert_array_equal(rows[:, TRACK_COLUMNS.index("x_px")], t["x_px"])
    np.testing.assert_array_equal(rows[:, TRACK_COLUMNS.index("frame")], t["frame"])
    with pytest.raises(ValueError, match="seconds"):
        scope.tracks.latest(0)


def test_beads_list_move_remove(scope, sim):
    beads = scope.beads
    assert [b["id"] for b in beads.list()] == sim["beads"]
    (extra,) = beads.add((200.0, 200.0))
    assert extra not in sim["beads"] and len(beads) == len(sim["beads"]) + 1
    moved = beads.move(extra, 190.0, 195.0)
    assert moved["id"] == extra
    assert beads.remove(extra) == [extra]
    with pytest.raises(InvalidArgument):
        beads.remove([extra])
    assert [b["id"] for b in beads.list()] == sim["beads"]


def test_call_is_the_escape_hatch_and_errors_keep_their_class(scope):
    assert scope.call("motor_state", motor="focus")["unit"] == "nm"
    with pytest.raises(magscope_app.client.UnknownCommand, match="unknown command 'fly'"):
        scope.call("fly")
    with pytest.raises(CommandFailed, match="no recording is running"):
        scope.call("record_stop")


def test_the_client_works_inside_a_running_event_loop(sim):
    # As in a Jupyter notebook: the caller's thread runs an asyncio loop; the client uses none.
    async def notebook_cell() -> tuple[str, float]:
        with magscope_app.connect(sim["instance"]) as scope:
            status = scope.status()
            return status.instance, scope.focus.position

    instance, position = asyncio.run(notebook_cell())
    assert instance == sim["instance"] and position is not None
