"""POSIX shared-memory helpers: names, create/attach/unlink and the resource tracker.

Segment names are ``msa-{instance}-{name}`` plus ``-{suffix}`` for every extra segment of a
buffer; on Linux they appear as files in ``/dev/shm``.

Resource tracker rules (Python 3.11, where attaching also registers the segment):

* the creator keeps the default registration; :func:`unlink_segment` unregisters it;
* a process that was *not* started by :mod:`multiprocessing` (``parent_process() is None``) and
  attaches to a segment it did not create unregisters it right away, or the tracker of that
  process would unlink the segment when the process exits;
* a ``spawn``/``fork`` child shares its parent's tracker and must not unregister (the tracker
  would print a ``KeyError`` traceback when the owner unlinks).
"""

from __future__ import annotations

import contextlib
import errno
import multiprocessing
import os
import re
import shutil
import time
from collections.abc import Iterator
from multiprocessing import resource_tracker
from multiprocessing.shared_memory import SharedMemory
from pathlib import Path

import numpy as np

PREFIX = "msa"
SHM_DIR = Path("/dev/shm")
_INSTANCE_RE = re.compile(r"^[A-Za-z0-9_]{1,64}$")

#: Names (without the leading "/") of the segments created by this process and not unlinked yet.
_created_here: set[str] = set()


def validate_instance(instance: str) -> str:
    """Return ``instance`` if it is a valid instance name (1-64 of ``A-Za-z0-9_``).

    Dashes are refused so that the prefix of one instance is never a prefix of another's.
    """
    if not isinstance(instance, str) or not _INSTANCE_RE.match(instance):
        raise ValueError(
            f"instance must be 1-64 characters of letters, digits or '_'; got {instance!r}"
        )
    return instance


def validate_name(name: str) -> str:
    """Return ``name`` if it is a valid buffer name (letters, digits, '_'; 1-64 characters)."""
    if not isinstance(name, str) or not _INSTANCE_RE.match(name):
        raise ValueError(f"name must be 1-64 characters of letters, digits or '_'; got {name!r}")
    return name


def segment_prefix(instance: str) -> str:
    """Prefix shared by every segment of ``instance``: ``msa-{instance}-``."""
    return f"{PREFIX}-{validate_instance(instance)}-"


def segment_name(instance: str, name: str, suffix: str = "") -> str:
    """``msa-{instance}-{name}`` or ``msa-{instance}-{name}-{suffix}``."""
    base = segment_prefix(instance) + validate_name(name)
    return f"{base}-{suffix}" if suffix else base


def positive_int(value: object, parameter: str) -> int:
    """Return ``value`` as int if it is a positive integer, else raise ValueError naming it."""
    if value is None:
        raise ValueError(f"{parameter} is required when creating the buffer")
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value <= 0:
        raise ValueError(f"{parameter} must be a positive integer; got {value!r}")
    return int(value)


def create_segment(name: str, nbytes: int) -> SharedMemory:
    """Create segment ``name`` of ``nbytes`` bytes (zero-filled); FileExistsError if it exists.

    The memory is allocated now (``posix_fallocate``), not page by page at first write: a
    ``/dev/shm`` too small for it raises OSError (ENOSPC) here instead of killing a writer with
    SIGBUS later, and the first pass of a writer through a large ring costs minor page faults
    only (~0.7 ms instead of ~4 ms per 2 MB frame).
    """
    try:
        shm = SharedMemory(name=name, create=True, size=nbytes)
    except FileExistsError:
        raise FileExistsError(
            f"shared-memory segment {name!r} already exists (another daemon with the same "
            "instance name, or a stale segment: see remove_stale_segments())"
        ) from None
    _created_here.add(name)
    try:
        os.posix_fallocate(shm._fd, 0, nbytes)  # type: ignore[attr-defined]
    except OSError as exc:
        if exc.errno in (errno.EOPNOTSUPP, errno.EINVAL):  # a file system without fallocate
            return shm
        shm.close()
        unlink_segment(shm)
        free = shutil.disk_usage(SHM_DIR).free if SHM_DIR.is_dir() else 0
        raise OSError(
            exc.errno,
            f"cannot allocate shared-memory segment {name!r} ({nbytes / 1e6:.1f} MB; "
            f"{SHM_DIR} has {free / 1e6:.1f} MB free): {os.strerror(exc.errno)}",
        ) from None
    return shm


def attach_segment(name: str) -> SharedMemory:
    """Attach to the existing segment ``name``; FileNotFoundError naming it if it is missing."""
    try:
        shm = SharedMemory(name=name, create=False)
    except FileNotFoundError:
        raise FileNotFoundError(f"shared-memory segment {name!r} does not exist") from None
    if multiprocessing.parent_process() is None and name not in _created_here:
        # Not started by multiprocessing: this process has its own resource tracker, which
        # would unlink the segment at exit. The owner is responsible for unlinking it.
        resource_tracker.unregister(shm._name, "shared_memory")  # type: ignore[attr-defined]
    return shm


def unlink_segment(shm: SharedMemory) -> None:
    """Unlink a segment this process created (tolerates it being gone already)."""
    try:
        shm.unlink()  # also unregisters it from the resource tracker
    except FileNotFoundError:
        resource_tracker.unregister(shm._name, "shared_memory")  # type: ignore[attr-defined]
    _created_here.discard(shm.name)


def close_segment(shm: SharedMemory, owner_name: str) -> None:
    """Close the mapping; raise a clear BufferError if arrays still point into it."""
    try:
        shm.close()
    except BufferError:
        raise BufferError(
            f"cannot close {owner_name}: arrays returned by it (zero-copy views such as a "
            "StackClaim's frames or peek_unsorted()) are still alive; drop them first"
        ) from None


def list_segments(instance: str) -> list[str]:
    """Names of the existing segments of ``instance`` (sorted)."""
    prefix = segment_prefix(instance)
    if not SHM_DIR.is_dir():
        return []
    return sorted(p.name for p in SHM_DIR.iterdir() if p.name.startswith(prefix))


def remove_stale_segments(instance: str) -> list[str]:
    """Unlink every ``/dev/shm/msa-{instance}-*`` segment and return their names.

    Meant for a daemon that starts after the previous owner of ``instance`` died. Never call it
    while another live daemon uses the same instance name.
    """
    removed = []
    for name in list_segments(instance):
        with contextlib.suppress(FileNotFoundError):
            os.unlink(SHM_DIR / name)
            removed.append(name)
        if name in _created_here:  # created by this process: its tracker must forget it too
            resource_tracker.unregister("/" + name, "shared_memory")
            _created_here.discard(name)
    return removed


def retry_delays(attempts: int = 400) -> Iterator[None]:
    """Yield ``attempts`` times, sleeping a little (growing to 1 ms) from the 4th time on.

    Used by the lock-free (sequence-counter) readers: a retry is needed only while a writer is
    in the middle of a write, so almost every read succeeds the first time, and a reader that
    has to wait sleeps instead of spinning.
    """
    for attempt in range(attempts):
        yield
        if attempt >= 3:
            time.sleep(min(1e-3, 1e-6 * 2 ** (attempt - 3)))
