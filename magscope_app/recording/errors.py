"""The one exception the recording library raises for problems a user can act on."""

from __future__ import annotations

from pathlib import Path


class RecordingError(Exception):
    """A recording could not be created, written, read or repaired.

    The message always names the file (or folder) and the problem, e.g. ``cannot write
    /data/run1.h5: disk full (12 MB free, 64 MB reserve)``. ``path`` and ``problem`` are also
    available as attributes for programs.
    """

    def __init__(self, path: str | Path, problem: str) -> None:
        self.path = Path(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}")
