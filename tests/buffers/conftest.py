"""Fixtures of the buffer tests: spawn-context locks and a factory that cleans up."""

from __future__ import annotations

import contextlib
import multiprocessing
import os
from pathlib import Path

import pytest

from magscope_app.buffers import ZLUTSweepDataset

SPAWN = multiprocessing.get_context("spawn")


@pytest.fixture
def locks() -> dict:
    """One spawn-context lock per buffer name used in the tests (picklable to spawn children)."""
    names = ["VideoBuffer", "m", "BeadRoiBuffer", "LiveProfileBuffer", "ZLUTSweepDataset"]
    return {name: SPAWN.Lock() for name in names}


@pytest.fixture
def track():
    """Register buffers (or ZLUT datasets); at teardown attached ones are closed, then owners
    unlinked (so a failing test does not leak segments into the next one)."""
    buffers: list = []

    def register(buffer):
        buffers.append(buffer)
        return buffer

    yield register
    for buffer in sorted(buffers, key=lambda b: b.owner):  # attached handles first
        with contextlib.suppress(Exception):
            if buffer.owner:
                if isinstance(buffer, ZLUTSweepDataset):
                    buffer.destroy()
                else:
                    buffer.unlink()
            else:
                buffer.close()


def stop_process(process, timeout: float = 60.0) -> None:
    """Join a test's child process; kill it if it does not end in time."""
    process.join(timeout)
    if process.is_alive():
        process.kill()
        process.join(10)


@pytest.fixture(autouse=True)
def no_leaked_shared_memory():
    """Overrides the suite-wide check for these tests: only segments of this pytest process's
    instances (``msa-t{pid}x…``, see the ``instance_name`` fixture) count, so a teardown here
    never unlinks the segments of another test run that happens to run at the same time."""
    prefix = f"msa-t{os.getpid()}x"

    def ours() -> set[str]:
        return {p.name for p in Path("/dev/shm").iterdir() if p.name.startswith(prefix)}

    before = ours()
    yield
    leaked = ours() - before
    for name in leaked:
        (Path("/dev/shm") / name).unlink(missing_ok=True)
    assert not leaked, f"test leaked shared-memory segments: {sorted(leaked)}"
