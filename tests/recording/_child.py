"""Child process for the recording tests (run as a script: ``python _child.py MODE PATH ...``).

Modes:
  crash PATH        write and flush 200 frames, print "flushed 200", write 100 more frames without
                    flushing, print "ready" and wait (the test kills it with SIGKILL).
  full PATH LIMIT GUARD
                    run with RLIMIT_FSIZE = LIMIT bytes; write frames, flushing every 20 frames and
                    printing "flushed N", until RecordingError: print "ERROR <message>" and exit 0.
                    GUARD = min_free_bytes, or "none" to hit the real write error (EFBIG).
  reader PATH       open the recording with open_recording; for every line on stdin print
                    "<track rows> <stop reason or ->"; exit at end of input.
"""

from __future__ import annotations

import resource
import signal
import sys

import numpy as np

from magscope_app.recording import RecordingError, RecordingWriter, open_recording

N_BEADS = 10


def track_rows(frame: int) -> np.ndarray:
    """Same formula as the tests: values encode frame and bead."""
    b = np.arange(N_BEADS, dtype=float)
    out = np.zeros((N_BEADS, 9))
    out[:, 0] = 100.0 + frame * 1e-3
    out[:, 1] = frame
    out[:, 2] = b
    out[:, 3] = frame * 10 + b
    return out


def crash(path: str) -> None:
    w = RecordingWriter(path, instance="child", flush_interval=3600, beads_per_frame=N_BEADS,
                        reorder_window=10, motors=["focus"], start_time=99.0)  # fmt: skip
    for f in range(200):
        w.append_tracks(track_rows(f))
    w.append_motor("focus", [100.0, 1.0, 1.0, 0.0])
    w.log("before crash", time=100.1)
    w.flush()
    print("flushed", w.stats()["tracks"] // N_BEADS, flush=True)
    for f in range(200, 300):
        w.append_tracks(track_rows(f))
    print("ready", flush=True)
    sys.stdin.readline()  # killed while waiting here


def full(path: str, limit: int, guard: str) -> None:
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # make writes fail with EFBIG instead
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
    w = RecordingWriter(path, instance="child", flush_interval=3600, beads_per_frame=N_BEADS,
                        reorder_window=5, min_free_bytes=None if guard == "none" else int(guard),
                        block_bytes=64 * 1024)  # fmt: skip
    try:
        for f in range(10**6):
            w.append_tracks(track_rows(f))
            if f % 20 == 19:
                w.flush()
                print("flushed", w.stats()["tracks"] // N_BEADS, flush=True)
    except RecordingError as e:
        print("ERROR", e, flush=True)
        return
    print("NOERROR", flush=True)
    sys.exit(1)


def reader(path: str) -> None:
    with open_recording(path) as r:
        for _line in sys.stdin:
            print(len(r.track_rows()), r.stop_reason or "-", flush=True)


if __name__ == "__main__":
    mode, target = sys.argv[1], sys.argv[2]
    if mode == "crash":
        crash(target)
    elif mode == "full":
        full(target, int(sys.argv[3]), sys.argv[4])
    elif mode == "reader":
        reader(target)
    else:
        raise SystemExit(f"unknown mode {mode}")
