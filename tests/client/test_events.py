"""Live events from a real simulated daemon: motor, recording, acquisition, beads and Z-LUT
events arrive; callbacks may call the daemon; a client that reads too slowly gets the count of
the events it lost; a client that never reads is disconnected while the others get every event."""

from __future__ import annotations

import io
import threading
import time

import pytest

from magscope_app.client import Event

from ._raw import RawClient
from .conftest import QUEUE_EVENTS

pytestmark = pytest.mark.timeout(120)


def _collect(sub, until, timeout: float = 30.0) -> list[Event]:
    """Events of ``sub`` until ``until(events)`` holds (AssertionError after ``timeout`` s)."""
    events: list[Event] = []
    deadline = time.monotonic() + timeout
    while not until(events):
        assert time.monotonic() < deadline, f"{len(events)} events so far, last {events[-3:]}"
        event = sub.get(0.5)
        if event is not None:
            events.append(event)
    return events


def _has(events, topic, **payload) -> bool:
    return any(
        e.topic == topic and all(e.payload.get(k) == v for k, v in payload.items()) for e in events
    )


def test_motor_recording_acquisition_and_bead_events_arrive(scope, sim, tmp_path):
    wanted = [
        ("motor", {"motor": "magnet_height", "state": "moving"}),
        ("motor", {"motor": "magnet_height", "state": "settled"}),
        ("acquisition", {"acquiring": False}),
        ("acquisition", {"acquiring": True}),
        ("recording", {"state": "started"}),
        ("recording", {"state": "stopped", "stop_reason": "completed"}),
        ("beads", {"change": "added"}),
        ("beads", {"change": "removed"}),
    ]
    with scope.events("motor", "recording", "acquisition", "beads") as sub:
        sent = time.time()
        scope.motors["magnet_height"].move_to(12.0)
        scope.pause()
        scope.resume()
        with scope.record(tmp_path, name="events.h5"):
            scope.wait(0.2)
        (extra,) = scope.beads.add((128.0, 40.0))
        scope.beads.remove(extra)
        events = _collect(sub, lambda ev: all(_has(ev, t, **p) for t, p in wanted))
    assert all(e.time >= sent - 1.0 for e in events)
    settled = next(e for e in events if e.payload.get("state") == "settled")
    assert settled.payload["position"] == pytest.approx(12.0)
    started = next(e for e in events if e.payload.get("state") == "started")
    assert started.payload["file"] == str(tmp_path / "events.h5")
    added = next(e for e in events if e.topic == "beads")
    assert added.payload["ids"] == [extra] and added.payload["count"] == len(sim["beads"]) + 1
    topics = [e.topic for e in events]
    assert topics.index("acquisition") < topics.index("recording")  # in the order they happened


def test_events_iterator_ends_after_its_timeout_and_rejects_unknown_topics(scope):
    start = time.monotonic()
    assert [e.topic for e in scope.events("script", timeout=0.5)] == []
    assert 0.5 <= time.monotonic() - start < 10
    with pytest.raises(ValueError, match="unknown event topic"):
        scope.events("motors")


def test_a_callback_gets_its_events_and_may_call_the_daemon(scope):
    got: list[tuple[int, str]] = []
    done = threading.Event()

    def on_ping(event: Event) -> None:
        got.append((event.payload["seq"], scope.call("hello")["version"]))  # no deadlock
        if len(got) == 5:
            done.set()

    handle = scope.subscribe(["ping"], on_ping)
    try:
        scope.call("ping_event", count=5)
        assert done.wait(30), got
    finally:
        handle.close()
    assert [seq for seq, _ in got] == [0, 1, 2, 3, 4]
    assert got[0][1] == scope.daemon_version


def test_zlut_sweep_handle_progress_and_events(scope, capsys):
    with scope.events("zlut") as sub:
        sweep = scope.zlut.sweep(start=-600, stop=600, step=100, per_plane=5, settle=0.05)
        assert sweep.planes == 13 and len(sweep.beads) >= 4
        out = io.StringIO()
        final = sweep.wait(timeout=90, progress=True, file=out)
        events = _collect(sub, lambda ev: _has(ev, "zlut", state=final.state))
    assert final.state == "complete", final.message
    assert sweep.done and sweep.progress.plane == 13
    assert "plane 13/13" in out.getvalue() and "Z-LUT sweep complete" in out.getvalue()
    planes = [e.payload["plane"] for e in events if e.payload["state"] == "running"]
    assert planes[-1] == 13 and planes == sorted(planes)
    assert sweep.report["report"]
    assert scope.zlut.status().state == "complete"


def test_a_slow_reader_is_told_how_many_events_it_lost(scope, sim):
    raw = RawClient(sim["instance"])
    try:
        raw.request("subscribe", topics=["ping"])
        total = 10_000  # far more than the socket buffers and the queue of 256 events hold
        scope.call("ping_event", count=total)
        time.sleep(0.3)  # not reading meanwhile (less than client_stuck_s)
        messages, closed = raw.read_messages(timeout=1.0)
        assert not closed
    finally:
        raw.close()
    pings = [m["payload"]["seq"] for m in messages if m.get("event") == "ping"]
    dropped = sum(m["payload"]["dropped"] for m in messages if m.get("event") == "overflow")
    assert dropped > 0
    assert len(pings) + dropped == total  # every event either arrived or was counted
    assert pings == sorted(pings) and len(set(pings)) == len(pings)


def test_a_stuck_client_is_disconnected_and_others_get_every_event(scope, sim):
    stuck = RawClient(sim["instance"])
    burst = QUEUE_EVENTS // 2  # fits the daemon's queue of a client that reads
    try:
        stuck.request("subscribe", topics=["ping"])
        with scope.events("ping") as healthy:
            received: list[Event] = []
            deadline = time.monotonic() + 60
            while "does not read its events" not in sim["daemon"].stderr():
                assert time.monotonic() < deadline, "the stuck client was never disconnected"
                scope.call("ping_event", count=burst)
                received += _collect(healthy, lambda ev: len(ev) >= burst)
        assert {e.topic for e in received} == {"ping"}  # never an overflow for it
        assert [e.payload["seq"] for e in received] == list(range(burst)) * (len(received) // burst)
        _, closed = stuck.read_messages(timeout=5.0)
        assert closed
    finally:
        stuck.close()
    assert "event queue full (256 events) for more than 2 s" in sim["daemon"].stderr()
    assert scope.status().instance == sim["instance"]  # healthy


def test_a_move_wait_has_a_deadline_and_survives_a_lost_settle_event(scope):
    magnet = scope.motors["magnet_height"]
    magnet.move_to(15.0, wait=True, timeout=30)
    handle = magnet.move_to(12.0)  # 0.75 s at 4 mm/s
    with scope.motors._lock:  # as if its settle event had been lost
        scope.motors._handles.remove(handle)
    with pytest.raises(TimeoutError, match=r"magnet_height still moving after 0.1 s \(at "):
        handle.wait(timeout=0.1)
    final = handle.wait(timeout=30)  # ends by asking motor_state
    assert final.position == pytest.approx(12.0) and handle.done


def test_warnings_logged_by_the_daemon_arrive_as_log_events(scope, sim):
    with scope.events("log") as sub:
        intruder = RawClient(sim["instance"])
        try:
            intruder.token = "wrong"
            intruder.send("status")  # refused, and logged as a warning
        finally:
            intruder.close()
        scope.call("set_setting", device="camera", name="exposure", value=5.0)  # a ctx.event
        events = _collect(
            sub,
            lambda ev: _has(ev, "log", level="warning", text="refused a request with a missing "
                            "or wrong token") and _has(ev, "log", level="info"),
        )  # fmt: skip
    info = next(e for e in events if e.payload["level"] == "info")
    assert "setting camera.exposure = 5.0" in info.payload["text"]
