"""Worker jobs for supervisor tests (importable by spawn children as ``core._workers``)."""

from __future__ import annotations

import os


def hold_lock_and_die(ctx, *, lock) -> None:
    """Take ``lock`` and die without releasing it, as a crash in the middle of a write would."""
    ctx.ready()
    lock.acquire()
    os._exit(3)
