"""Real second processes: a live SWMR reader, a writer killed with SIGKILL, a write failure."""

from __future__ import annotations

import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import h5py
import numpy as np
import pytest

from magscope_app.recording import (
    RecordingError,
    RecordingWriter,
    inspect_summary,
    needs_recovery,
    open_recording,
    recover,
    verify,
)
from magscope_app.recording.recovery import sidecar_path

CHILD = Path(__file__).with_name("_child.py")
N_BEADS = 10


def track_rows(frame: int) -> np.ndarray:
    b = np.arange(N_BEADS, dtype=float)
    out = np.zeros((N_BEADS, 9))
    out[:, 0] = 100.0 + frame * 1e-3
    out[:, 1] = frame
    out[:, 2] = b
    out[:, 3] = frame * 10 + b
    return out


def expected(n_frames: int) -> np.ndarray:
    return np.concatenate([track_rows(f) for f in range(n_frames)])


@contextmanager
def child(*args: str) -> Iterator[subprocess.Popen[str]]:
    """Start _child.py; always stopped (killed if still running) and reaped on exit."""
    proc = subprocess.Popen(
        [sys.executable, str(CHILD), *args], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=30)
        for stream in (proc.stdin, proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()


def ask(proc: subprocess.Popen[str]) -> tuple[int, str]:
    assert proc.stdin is not None and proc.stdout is not None
    proc.stdin.write("?\n")
    proc.stdin.flush()
    line = proc.stdout.readline()
    assert line, f"reader died: {proc.stderr.read() if proc.stderr else ''}"
    rows, reason = line.split()
    return int(rows), reason


def test_second_process_reads_the_file_while_it_is_written(tmp_path):
    path = tmp_path / "live.h5"
    w = RecordingWriter(path, instance="t", beads_per_frame=N_BEADS, reorder_window=4)
    try:
        for f in range(50):
            w.append_tracks(track_rows(f))
        w.flush()
        with child("reader", str(path)) as proc:
            first, reason = ask(proc)
            assert reason == "-" and first == 50 * N_BEADS  # frames 0..49 all released
            for f in range(50, 150):
                w.append_tracks(track_rows(f))
            w.flush()
            second, _ = ask(proc)
            assert second == 150 * N_BEADS > first
            with pytest.raises(RecordingError, match="open in another process"):
                recover(path)  # refuses to touch a file being written
            w.close()
            third, reason = ask(proc)
            assert third == 150 * N_BEADS and reason == "user"
            proc.stdin.close()
            assert proc.wait(timeout=30) == 0
    finally:
        w.close()
    with open_recording(path) as r:
        np.testing.assert_array_equal(r.track_rows(), expected(150))


def test_sigkill_leaves_a_readable_file_and_recover_marks_it(tmp_path):
    path = tmp_path / "crash.h5"
    with child("crash", str(path)) as proc:
        assert proc.stdout is not None
        flushed = proc.stdout.readline().split()
        assert flushed[0] == "flushed", proc.stderr.read() if proc.stderr else ""
        n_flushed = int(flushed[1])
        assert proc.stdout.readline().strip() == "ready"
        proc.send_signal(signal.SIGKILL)
        assert proc.wait(timeout=30) == -signal.SIGKILL
    assert n_flushed > 0
    # The crashed file: plain HDF5 refuses it, the reader (SWMR) opens it.
    with pytest.raises(OSError, match="consistency flags"):
        h5py.File(path, "r")
    with open_recording(path) as r:
        rows = r.track_rows()
        assert len(rows) >= n_flushed * N_BEADS
        np.testing.assert_array_equal(rows[: n_flushed * N_BEADS], expected(n_flushed))
        assert r.stop_reason is None and not r.closed_cleanly
        assert r.log() == [(100.1, "info", "recorder", "before crash")]
    assert needs_recovery(path)
    assert verify(path).status == "no_checksum"

    assert recover(path, now=12345.0) is True
    assert not sidecar_path(path).exists()  # repaired in the file itself
    with h5py.File(path, "r") as f:  # plain HDF5 opens it again
        assert f["tracks"].shape[0] >= n_flushed * N_BEADS
    with open_recording(path) as r:
        m = r.metadata
        assert m["stop_reason"] == "recovered_after_crash" and m["recovered_time"] == 12345.0
        # stop time: the newest row found
        assert m["stop_time"] == pytest.approx(r.track_rows()[:, 0].max())
        np.testing.assert_array_equal(r.track_rows()[: n_flushed * N_BEADS], expected(n_flushed))
    assert not needs_recovery(path)
    assert recover(path) is False  # nothing left to do
    assert "recovered" in inspect_summary(path)
    assert verify(path).status == "no_checksum"


def run_full(path: Path, limit: int, guard: str) -> tuple[int, str]:
    with child("full", str(path), str(limit), guard) as proc:
        out, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, f"child failed ({proc.returncode}): {out}\n{err}"
    lines = out.splitlines()
    flushed = [int(x.split()[1]) for x in lines if x.startswith("flushed")]
    errors = [x for x in lines if x.startswith("ERROR")]
    assert len(errors) == 1, out
    return (flushed[-1] if flushed else 0), errors[0]


def test_disk_full_guard_stops_cleanly_before_the_limit(tmp_path):
    path = tmp_path / "guard.h5"
    n_flushed, error = run_full(path, limit=3_000_000, guard=str(512 * 1024))
    assert str(path) in error and "disk full" in error and "RLIMIT_FSIZE" in error
    assert "not written" in error
    with open_recording(path) as r:
        assert r.stop_reason == "error"
        rows = r.track_rows()
        assert len(rows) >= n_flushed * N_BEADS > 0
        np.testing.assert_array_equal(rows, expected(len(rows) // N_BEADS))
    with h5py.File(path, "r"):  # closed cleanly: plain HDF5 opens it
        pass
    assert verify(path).ok  # what was written is checksummed
    assert recover(path) is False


def test_write_failure_efbig_closes_with_clear_error_and_readable_file(tmp_path):
    path = tmp_path / "efbig.h5"
    n_flushed, error = run_full(path, limit=3_000_000, guard="none")
    assert str(path) in error and "File too large" in error
    with open_recording(path) as r:  # readable as left behind
        assert r.stop_reason == "error"
        rows = r.track_rows()
        assert len(rows) == n_flushed * N_BEADS > 0  # rolled back to the last flush
        np.testing.assert_array_equal(rows, expected(n_flushed))
    assert verify(path).status == "no_checksum"
    recover(path)  # repairs the superblock if the failed close left it short; keeps "error"
    with h5py.File(path, "r") as f:
        assert f["tracks"].shape[0] == n_flushed * N_BEADS
    with open_recording(path) as r:
        assert r.stop_reason == "error"


def crashed_file(path: Path) -> int:
    """Make a recording whose writer was killed with SIGKILL; returns the frames flushed."""
    with child("crash", str(path)) as proc:
        assert proc.stdout is not None
        n_flushed = int(proc.stdout.readline().split()[1])
        assert proc.stdout.readline().strip() == "ready"
        proc.kill()
        proc.wait(timeout=30)
    return n_flushed


def test_recover_falls_back_to_a_sidecar_when_the_file_is_not_writable(tmp_path, monkeypatch):
    path = tmp_path / "ro.h5"
    n_flushed = crashed_file(path)
    from magscope_app.recording import recovery

    def refuse(_path):
        raise PermissionError(13, "Read-only file system")

    monkeypatch.setattr(recovery._superblock, "repair", refuse)
    assert recover(path, now=777.0) is True
    side = sidecar_path(path)
    assert side.exists()
    with open_recording(path) as r:
        m = r.metadata
        assert m["stop_reason"] == "recovered_after_crash" and m["recovered_time"] == 777.0
        assert m["recovery_sidecar"] is True
        assert len(r.track_rows()) >= n_flushed * N_BEADS
    assert not needs_recovery(path)
    assert "recovered" in inspect_summary(path)
    assert recover(path) is False  # still not writable: nothing new
    monkeypatch.undo()  # writable again: the sidecar moves into the file
    assert recover(path) is True
    assert not side.exists()
    with h5py.File(path, "r") as f:
        assert f.attrs["stop_reason"] == b"recovered_after_crash"
        assert f.attrs["recovered_time"] == 777.0
