"""Recovery of a recording whose writer died (crash, SIGKILL, power loss, failed close).

Choice: pure Python/h5py, in the file itself. A file written in SWMR mode keeps its superblock
"file consistency flags" set until it is closed; HDF5 then refuses to open it for writing (and,
without ``swmr=True``, for reading) until they are cleared, as the ``h5clear`` tool does. h5py has
no API for that (``locking=False`` does not help), so ``_superblock.repair`` clears the flags
itself (a 48-byte superblock rewrite with its lookup3 checksum; it also extends a file cut short
by a failed write to its stored end-of-file). The file is then opened normally and marked:

* ``stop_time``: time of the newest row found (tracks, frames, motors, log; else start time),
* ``stop_reason``: "recovered_after_crash" (kept as is if the writer already set one, e.g. "error"),
* ``recovered_time``: when recover() ran. Nothing is trimmed; no checksum is added.

Fallback: if the file cannot be opened for writing (read-only medium, permissions), the same
fields are written to a sidecar ``<file>.recovery.json`` and ``open_recording`` honours it.
"""

from __future__ import annotations

import errno
import fcntl
import json
import math
import os
import time
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from magscope_app.recording import _superblock, schema
from magscope_app.recording.errors import RecordingError
from magscope_app.recording.schema import StopReason


def sidecar_path(path: str | Path) -> Path:
    """Where recover() puts the sidecar of ``path`` when the file itself is not writable."""
    path = Path(path)
    return path.with_name(path.name + schema.SIDECAR_SUFFIX)


def read_sidecar(path: str | Path) -> dict[str, Any] | None:
    """The recovery sidecar of ``path`` as a dict; None if there is none or it is unreadable."""
    try:
        return json.loads(sidecar_path(path).read_text())
    except (OSError, ValueError):
        return None


def _in_use(path: Path) -> bool:
    """True if another process holds the file open for writing (HDF5 takes a flock)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as e:
        if e.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
            return True
        raise
    finally:
        os.close(fd)  # also releases the lock
    return False


def _read_state(path: Path) -> tuple[float, str, float]:
    """(stop_time, stop_reason, newest data time) read with swmr=True (works on crashed files)."""
    with h5py.File(path, "r", swmr=True) as f:
        stop = float(f.attrs.get(schema.A_STOP_TIME, math.nan))
        reason = str(schema.decode(f.attrs.get(schema.A_STOP_REASON, b"")))
        newest = float(f.attrs.get(schema.A_START_TIME, math.nan))
        candidates = [schema.TRACKS, schema.FRAMES, schema.LOG, schema.ROIS, schema.VIDEO_INDEX]
        if schema.MOTORS in f:
            candidates += [f"{schema.MOTORS}/{m}" for m in f[schema.MOTORS]]
        for name in candidates:
            if name not in f or f[name].shape[0] == 0:
                continue
            tail = f[name][-min(f[name].shape[0], 4096) :]
            times = tail["time"] if tail.dtype.names else tail[:, 0]
            if np.isfinite(times).any():
                newest = float(np.nanmax([newest, np.nanmax(times)]))
    return stop, reason, newest


def needs_recovery(path: str | Path) -> bool:
    """True if ``path`` was left open (no stop time, or superblock flags still set) and no
    sidecar marks it recovered."""
    path = Path(path)
    try:
        if _superblock.inspect(path).needs_repair and read_sidecar(path) is None:
            return True
        stop, _, _ = _read_state(path)
    except (OSError, ValueError) as e:
        raise RecordingError(path, f"cannot check the recording: {e}") from e
    return math.isnan(stop) and read_sidecar(path) is None


def recover(path: str | Path, *, now: float | None = None) -> bool:
    """Mark a recording that was left open as stopped; True if something was repaired or marked,
    False if there was nothing (new) to do: closed cleanly, or already marked by a sidecar that
    still cannot be moved into the file. A sidecar is moved into the file once it is writable.

    Refuses (RecordingError) a file that another process still has open for writing, and a file
    that is not a recording this library can read.
    """
    path = Path(path)
    now = time.time() if now is None else float(now)
    try:
        state = _superblock.inspect(path)
        if _in_use(path):
            raise RecordingError(path, "cannot recover: the file is open in another process")
        stop, reason, newest = _read_state(path)
    except (OSError, ValueError) as e:
        raise RecordingError(path, f"cannot recover: {e}") from e
    if not state.needs_repair and not math.isnan(stop):
        return False
    side = read_sidecar(path)
    if side is not None:  # recovered before into a sidecar: move it into the file if possible
        new_stop = float(side[schema.A_STOP_TIME])
        new_reason = str(side[schema.A_STOP_REASON])
        now = float(side[schema.A_RECOVERED_TIME])
    elif not math.isnan(stop) and reason:
        new_stop, new_reason = stop, reason
    else:
        new_stop, new_reason = newest, StopReason.RECOVERED_AFTER_CRASH.value
    try:
        _superblock.repair(path)
        with h5py.File(path, "r+") as f:
            f.attrs.modify(schema.A_STOP_TIME, new_stop)
            f.attrs.modify(schema.A_STOP_REASON, new_reason.encode())
            f.attrs.modify(schema.A_RECOVERED_TIME, now)
        if side is not None:
            sidecar_path(path).unlink(missing_ok=True)
    except (OSError, ValueError) as e:
        if side is not None:
            return False  # still not writable; the sidecar already says it all
        record = {
            schema.A_STOP_TIME: new_stop,
            schema.A_STOP_REASON: new_reason,
            schema.A_RECOVERED_TIME: now,
            "note": f"the file could not be opened for writing: {e}",
        }
        try:
            sidecar_path(path).write_text(json.dumps(record, indent=1))
        except OSError as e2:
            raise RecordingError(path, f"cannot recover: {e}; no sidecar either: {e2}") from e2
    return True
