"""Scripts run by a real simulated daemon: output and progress as events and in the recording's
/log, pause and resume at a checkpoint, abort mid-move and mid-recording (file read back), a
script that raises, one that hangs (killed), two at once, and bad requests."""

from __future__ import annotations

import os
import signal
import time

import pytest
from _daemon_process import pid_alive, wait_for

from magscope_app.client import CommandFailed, InvalidArgument
from magscope_app.recording import open_recording

from .conftest import outputs

pytestmark = pytest.mark.timeout(120)


def _running(run):
    """Wait until the script's process has attached (its main is about to run or runs)."""
    wait_for(lambda: run.status().state == "running", timeout=60)
    return run


def _collect(run, timeout: float = 60.0):
    events = []
    final = run.wait(timeout, on_event=events.append)
    return final, events


def test_output_progress_and_warnings_reach_events_and_the_recording_log(
    scope, write_script, tmp_path
):
    script = write_script("""
        import sys, warnings
        def main(scope, folder, label="x"):
            with scope.record(folder, name="out") as rec:
                print("hello", label)
                print("to stderr", file=sys.stderr)
                warnings.warn("careful")
                scope.progress(0.5, "half way")
                scope.wait(0.5)
            print("file", rec.path)
    """)
    run = scope.scripts.start(script, {"folder": str(tmp_path), "label": "run-1"})
    final, events = _collect(run)
    assert final.state == "completed" and final.exit_code == 0, final
    stdout = outputs(events)
    assert stdout[0] == "hello run-1" and stdout[-1] == f"file {tmp_path / 'out.h5'}"
    stderr = outputs(events, "stderr")
    assert "to stderr" in stderr and any("UserWarning: careful" in line for line in stderr)
    progress = [e.payload for e in events if "progress" in e.payload]
    assert progress == [{"id": run.id, "name": "script.py", "progress": 0.5, "text": "half way"}]
    assert [e.payload["state"] for e in events if "state" in e.payload][-1] == "completed"
    with open_recording(tmp_path / "out.h5") as rec:
        texts = [(source, text) for _, _, source, text in rec.log()]
        assert rec.stop_reason == "completed"
    source = f"script {run.id}"
    assert (source, "hello run-1") in texts and (source, "to stderr") in texts
    assert (source, "progress 50 % half way") in texts
    assert final.output_tail[-1] == f"file {tmp_path / 'out.h5'}"


def test_pause_waits_for_the_next_call_and_resume_continues(scope, write_script):
    script = write_script("""
        def main(scope):
            scope.status()
            print("before", flush=True)
            scope.wait(2.0)           # not a call: the pause waits for the next one
            scope.status()            # the checkpoint
            print("after", flush=True)
    """)
    run = scope.scripts.start(script)
    wait_for(lambda: "before" in run.status().output_tail)
    assert scope.scripts.pause().state == "pausing"
    assert run.status().state == "pausing"  # still in scope.wait
    wait_for(lambda: run.status().state == "paused", timeout=30)
    time.sleep(1.0)
    held = run.status()
    assert held.state == "paused" and "after" not in held.output_tail  # held at the call
    assert scope.status()["scripts"]["state"] == "paused"  # the daemon's status shows it
    assert scope.scripts.resume().state == "running"
    final = run.wait(30)
    assert final.state == "completed" and final.output_tail[-1] == "after"


def test_a_paused_script_is_held_until_resumed_even_inside_a_move_wait(scope, write_script):
    """The move goes on while its script is paused (a move already started finishes)."""
    script = write_script("""
        def main(scope):
            magnet = scope.motors["magnet_height"]
            magnet.move_to(18.0, wait=True)
            move = magnet.move_to(12.0)
            print("moving", flush=True)
            move.wait()
            print("arrived", magnet.position, flush=True)
    """)
    with scope.events("motor") as motor_events:
        run = scope.scripts.start(script)
        wait_for(lambda: "moving" in run.status().output_tail)
        scope.scripts.pause()
        wait_for(lambda: run.status().state == "paused", timeout=30)
        for event in motor_events:  # the move finishes while the script is held
            p = event.payload
            settled = p.get("motor") == "magnet_height" and p.get("state") == "settled"
            if settled and abs(p["position"] - 12.0) < 0.01:
                break
    assert run.status().state == "paused"
    scope.scripts.resume()
    final = run.wait(30)
    assert final.state == "completed"
    assert final.output_tail[-1].startswith("arrived 12.0")


def test_abort_mid_move_stops_the_motor_where_it_is(scope, write_script):
    scope.motors["magnet_height"].move_to(18.0, wait=True, timeout=30)
    script = write_script("""
        def main(scope):
            magnet = scope.motors["magnet_height"]
            magnet.move_to(2.0, wait=True)   # 4 s at 4 mm/s; ends when the abort stops it
            print("stopped at", magnet.position)  # the next call raises ScriptAborted
    """)
    with scope.events("motor") as motor_events:
        run = scope.scripts.start(script)
        for event in motor_events:
            p = event.payload
            if p.get("motor") == "magnet_height" and p.get("state") == "moving":
                break
        time.sleep(0.5)
        final = run.abort(wait=True, timeout=30)
    assert final.state == "aborted" and final.exit_code == 3, final
    assert not any(line.startswith("stopped at") for line in final.output_tail)
    magnet = wait_for(lambda: (m := scope.status().motors["magnet_height"]).moving is False and m)
    assert 2.5 < magnet.position < 17.5  # stopped on the way: not at the target, not reset
    time.sleep(0.5)
    assert scope.motors["magnet_height"].position == pytest.approx(magnet.position, abs=1e-3)


def test_abort_mid_recording_closes_the_file_with_reason_aborted(scope, write_script, tmp_path):
    script = write_script("""
        def main(scope, folder):
            with scope.record(folder, name="long") as rec:
                print("recording", rec.path, flush=True)
                scope.wait(100)
    """)
    run = scope.scripts.start(script, {"folder": str(tmp_path)})
    wait_for(lambda: any(line.startswith("recording") for line in run.status().output_tail))
    started = time.monotonic()
    final = run.abort(wait=True, timeout=30)
    assert final.state == "aborted" and final.exit_code == 3  # ended at once (ScriptAborted)
    assert time.monotonic() - started < 10
    assert not scope.call("record_status")["running"]
    with open_recording(tmp_path / "long.h5") as rec:
        assert rec.stop_reason == "aborted"
        assert len(rec.frames()["frame"]) > 0  # it recorded until the abort
        assert any(f"script {run.id} (script.py) aborting" in t for _, _, _, t in rec.log())
    assert all(not m.moving for m in scope.status().motors.values())


def test_abort_leaves_a_recording_the_operator_started_before_the_script(
    scope, write_script, tmp_path
):
    recording = scope.record(tmp_path, name="operator")
    try:
        run = _running(scope.scripts.start(write_script("def main(scope):\n    scope.wait(100)\n")))
        assert run.abort(wait=True, timeout=30).state == "aborted"
        assert recording.running
    finally:
        recording.stop()
    with open_recording(recording.path) as rec:
        assert rec.stop_reason == "user"


def test_a_script_that_raises_fails_with_its_traceback_and_is_cleaned_up(
    scope, write_script, tmp_path
):
    script = write_script("""
        def helper(x):
            return 1 / x

        def main(scope, folder):
            scope.record(folder, name="left-open")
            helper(0)
    """)
    run = scope.scripts.start(script, {"folder": str(tmp_path)})
    final, events = _collect(run)
    assert final.state == "failed" and final.exit_code == 1
    assert final.error == "ZeroDivisionError: division by zero"
    assert 'script.py", line 3, in helper' in final.traceback
    assert "script_runner" not in final.traceback  # the runner's own frames are left out
    assert outputs(events, "traceback") == [final.traceback]
    with open_recording(tmp_path / "left-open.h5") as rec:
        assert rec.stop_reason == "aborted"
    # the daemon is ready for the next script
    run = scope.scripts.start(write_script("def main(scope):\n    print('ok')\n", "next.py"))
    assert run.wait(60).state == "completed"


def test_a_script_that_ignores_the_abort_is_killed_after_2_s(scope, write_script):
    script = write_script("""
        import time
        from magscope_app.client import ScriptAborted

        def main(scope):
            try:
                scope.wait(100)
            except ScriptAborted:
                print("ignoring the abort", flush=True)
            while True:
                time.sleep(0.1)
    """)
    run = scope.scripts.start(script)
    pid = _running(run).status().pid
    started = time.monotonic()
    final = run.abort(wait=True, timeout=30)
    elapsed = time.monotonic() - started
    assert final.state == "killed" and final.exit_code == -9
    assert "ignoring the abort" in final.output_tail
    assert elapsed >= 1.9  # it had its 2 s
    assert not pid_alive(pid)
    run = scope.scripts.start(write_script("def main(scope):\n    scope.status()\n", "next.py"))
    assert run.wait(60).state == "completed"


def test_a_second_script_is_refused_naming_the_running_one(scope, write_script):
    first = scope.scripts.start(write_script("def main(scope):\n    scope.wait(100)\n", "a.py"))
    with pytest.raises(CommandFailed, match=rf"script {first.id} \(a.py\) is (starting|running)"):
        scope.scripts.start(write_script("def main(scope):\n    pass\n", "b.py"))
    assert _running(first).abort(wait=True, timeout=30).state == "aborted"
    second = _running(scope.scripts.start(write_script("def main(scope):\n    scope.wait(100)\n")))
    with pytest.raises(CommandFailed, match=rf"script {first.id} is not running"):
        first.abort()  # a stale handle never aborts another run
    assert second.abort(wait=True, timeout=30).state == "aborted"


def test_a_held_call_of_a_script_that_dies_while_paused_never_runs(scope, write_script):
    scope.motors["magnet_height"].move_to(18.0, wait=True, timeout=30)
    script = write_script("""
        def main(scope):
            magnet = scope.motors["magnet_height"]
            print("ready", flush=True)
            scope.wait(1.5)
            magnet.move_to(10.0)   # held: the script is paused
    """)
    run = scope.scripts.start(script)
    wait_for(lambda: "ready" in run.status().output_tail)
    scope.scripts.pause()
    pid = wait_for(lambda: (s := run.status()).state == "paused" and s.pid)
    os.kill(pid, signal.SIGKILL)  # e.g. killed by hand
    final = run.wait(30)
    assert final.state == "failed" and final.exit_code == -9
    time.sleep(0.5)
    magnet = scope.status().motors["magnet_height"]
    assert magnet.position == pytest.approx(18.0, abs=1e-3) and not magnet.moving


def test_bad_script_requests_are_refused_before_anything_runs(scope, write_script, tmp_path):
    before = scope.scripts.status().id
    with pytest.raises(InvalidArgument, match="must be absolute"):
        scope.call("script_start", path="relative.py")
    with pytest.raises(InvalidArgument, match="no script file"):
        scope.scripts.start(tmp_path / "missing.py")
    with pytest.raises(InvalidArgument, match=r"broken.py line 2: "):
        scope.scripts.start(write_script("def main(scope):\nreturn 1\n", "broken.py"))
    with pytest.raises(InvalidArgument, match="defines no main"):
        scope.scripts.start(write_script("def run(scope):\n    pass\n", "nomain.py"))
    assert scope.scripts.status().id == before
    with pytest.raises(CommandFailed, match="no script is running"):
        scope.scripts.pause()
    with pytest.raises(CommandFailed, match="only the running script"):
        scope.call("script_progress", fraction=0.5)


def test_only_the_script_process_can_attach_and_wrong_params_fail_clearly(scope, write_script):
    script = write_script("def main(scope, n=1):\n    scope.wait(100)\n")
    run = _running(scope.scripts.start(script))
    with pytest.raises(CommandFailed, match=r"only script \d+'s own process"):
        scope.call("script_attach", id=run.id)
    run.abort(wait=True, timeout=30)
    run = scope.scripts.start(write_script("def main(scope, n=1):\n    pass\n"), {"m": 2})
    final = run.wait(60)
    assert final.state == "failed" and final.exit_code == 2
    assert "unexpected keyword argument 'm'" in final.error


def test_a_flood_of_output_is_counted_not_relayed_line_by_line(scope, write_script):
    script = write_script("""
        def main(scope):
            for i in range(3000):
                print("line", i)
    """)
    final, events = _collect(scope.scripts.start(script))
    assert final.state == "completed"
    lines = outputs(events)
    notes = [line for line in outputs(events, "stderr") if "not relayed" in line]
    dropped = sum(int(note.split()[0].lstrip("[")) for note in notes)
    assert notes and len(lines) < 3000
    assert len(lines) + dropped == 3000  # every line relayed or counted
    assert lines[0] == "line 0"


def test_sys_exit_in_a_script(scope, write_script):
    done = scope.scripts.start(write_script("import sys\ndef main(scope):\n    sys.exit()\n"))
    assert done.wait(60).state == "completed"
    script = write_script("import sys\ndef main(scope):\n    sys.exit('no beads found')\n")
    final = scope.scripts.start(script).wait(60)
    assert final.state == "failed" and final.exit_code == 1
    assert "no beads found" in final.output_tail
