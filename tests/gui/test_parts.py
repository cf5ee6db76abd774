"""The window's parts without a daemon: track history, the bridge, events, bead candidates."""

from __future__ import annotations

import threading

import numpy as np
import pytest
from magscope_app.gui import Bridge, DaemonEvents
from magscope_app.gui._bridge import error_code
from magscope_app.gui._find_beads import parse_candidates
from magscope_app.gui._history import BEAD, TIME, Z_NM, TrackHistory

from magscope_app.buffers import MatrixBuffer
from magscope_app.buffers.layouts import TRACK_COLUMNS
from magscope_app.control import CommandError, DaemonNotRunning


def _rows(frames: range, beads: list[int], t0: float = 1000.0, fps: float = 100.0) -> np.ndarray:
    rows = []
    for frame in frames:
        for bead in beads:
            z = 10.0 * bead + frame
            rows.append([t0 + frame / fps, frame, bead, 1.0, 2.0, z, 5.0, 6.0, 0.0])
    return np.array(rows)


def test_history_pulls_only_new_rows_per_bead(instance_name):
    tracks = MatrixBuffer(create=True, name="Tracks", shape=(500, len(TRACK_COLUMNS)),
                          instance=instance_name, locks={"Tracks": threading.Lock()})  # fmt: skip
    try:
        history = TrackHistory(capacity=64)
        tracks.write(_rows(range(10), [3, 1]))
        assert history.pull(tracks) == 20
        assert history.pull(tracks) == 0
        tracks.write(_rows(range(10, 100), [3, 1]))
        assert history.pull(tracks) == 180
        assert history.beads() == [1, 3]
        rows = history.rows(3)
        assert 32 <= len(rows) <= 64  # capacity per bead, older half dropped when full
        assert np.all(np.diff(rows[:, TIME]) > 0) and rows[-1, Z_NM] == 30.0 + 99
        assert np.all(rows[:, BEAD] == 3)
        since = 1000.0 + 95 / 100.0
        assert len(history.rows(1, since)) == 5
        image = history.z_image([1, 3], 1000.0 + 50 / 100, 1000.0 + 100 / 100, 5)
        assert image.shape == (5, 2)
        assert np.nanmax(image[:, 1] - image[:, 0]) == pytest.approx(20.0)
        history.forget({3})
        assert history.beads() == [3]
        assert history.pull(tracks, generation=1) == 200  # re-attached: starts over
    finally:
        tracks.unlink()


class _FakeClient:
    def __init__(self) -> None:
        self.calls: list[tuple[str, dict]] = []
        self.threads: set[str] = set()
        self.closed = False

    def call(self, command: str, **args):
        self.calls.append((command, args))
        self.threads.add(threading.current_thread().name)
        if command == "bad":
            raise CommandError("invalid_argument", "bad: no")
        if command == "gone":
            raise DaemonNotRunning("daemon 'x' closed the connection")
        if command == "status":
            return {"faults": [], "recording": {}, "zlut": {"state": "idle"}}
        if command == "beads":
            return {"roi_size": 32, "beads": [{"id": 1, "x": 5.0, "y": 6.0}]}
        return {"echo": args}

    def close(self) -> None:
        self.closed = True


def test_bridge_runs_calls_off_the_gui_thread_and_reports_errors(qtbot):
    client = _FakeClient()
    bridge = Bridge(client)
    results, errors, failed, lost = [], [], [], []
    bridge.failed.connect(lambda *a: failed.append(a))
    bridge.disconnected.connect(lost.append)
    bridge.call("echo", on_result=results.append, value=3)
    bridge.call("bad", on_error=lambda code, text: errors.append((code, text)))
    bridge.call("bad")
    qtbot.waitUntil(lambda: bool(results and errors and failed))
    assert results == [{"echo": {"value": 3}}]
    assert errors == [("invalid_argument", "bad: no")]
    assert failed == [("bad", "invalid_argument", "bad: no")]
    assert threading.main_thread().name not in client.threads
    bridge.call("gone")
    qtbot.waitUntil(lambda: bool(lost))
    assert not bridge.connected and "closed the connection" in lost[0]
    bridge.call("echo", on_error=lambda code, text: errors.append(code))
    qtbot.waitUntil(lambda: errors[-1] == "disconnected")  # the broken client is not reused
    bridge.set_client(_FakeClient())
    assert bridge.connected
    bridge.close()
    assert bridge.pending() == 0


def test_events_poll_status_and_beads_as_the_fallback(qtbot):
    bridge = Bridge(_FakeClient())
    events = DaemonEvents(bridge)
    assert not events.subscribed
    with qtbot.waitSignals([events.connected, events.status, events.beads], timeout=5000):
        events.start()
    events.stop()
    bridge.close()


class _PushingClient(_FakeClient):
    """Subscribes like the typed client of issue #11 (topic "log" for warnings and errors)."""

    closed_subscriptions = 0

    def subscribe(self, topics, callback):
        self.topics = topics
        self.callback = callback
        client = self

        class Subscription:
            def close(self) -> None:
                client.closed_subscriptions += 1

        return Subscription()


def test_events_use_subscribe_when_the_client_has_it(qtbot):
    client = _PushingClient()
    bridge = Bridge(client)
    events = DaemonEvents(bridge)
    assert events.subscribed and "motor" in client.topics
    event = {"topic": "log", "payload": {"level": "warning", "text": "hot", "source": "cam"}}
    with qtbot.waitSignal(events.notification, timeout=5000) as note:
        threading.Thread(target=client.callback, args=(event,)).start()
    assert note.args == ["warning", "cam", "hot"]
    with qtbot.waitSignal(events.disconnected, timeout=5000):
        threading.Thread(target=client.callback, args=({"topic": "disconnected"},)).start()
    events.stop()
    assert client.closed_subscriptions == 1
    bridge.close()


def test_error_codes_of_both_clients():
    class TypedDaemonNotRunning(CommandError, ConnectionError):  # as the typed client's
        def __init__(self, message):
            CommandError.__init__(self, "daemon_not_running", message)

    assert error_code(TypedDaemonNotRunning("gone")) == "disconnected"
    assert error_code(DaemonNotRunning("gone")) == "disconnected"
    assert error_code(CommandError("unknown_command", "x")) == "unknown_command"
    assert error_code(TimeoutError("slow")) == "timeout"
    assert error_code(ValueError("bug")) == "error"


def test_find_beads_replies_are_parsed_with_rejections():
    found, rejected = parse_candidates(
        {"candidates": [{"x": 10, "y": 20, "score": 0.9}, {"centre": [30, 40], "score": 0.5}],
         "rejected": [{"x": 1, "y": 2, "score": 0.2, "reason": "ROI leaves the image"}]}
    )  # fmt: skip
    assert [(c["x"], c["y"], c["score"]) for c in found] == [(10, 20, 0.9), (30, 40, 0.5)]
    assert rejected[0]["reason"] == "ROI leaves the image"
    assert parse_candidates([[1, 2, 0.3]])[0] == [{"x": 1.0, "y": 2.0, "score": 0.3}]
