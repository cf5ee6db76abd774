"""Recording from the client: ``with scope.record(folder) as rec: ...``.

The block's end stops the recording with stop reason ``completed``; an exception leaving the
block stops it with ``aborted`` (and the exception goes on). The file is one HDF5 file
(``rec.path``), readable with :mod:`magscope_app.recording` while and after it is written.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..control.errors import CommandFailed
from ._status import RecordingStatus

if TYPE_CHECKING:
    from ._scope import Scope

CHECK_S = 0.2


class Recording:
    """A recording this client started: :attr:`path`, :meth:`status`, :meth:`stop`,
    :meth:`wait`; a context manager (see the module docstring)."""

    def __init__(self, scope: Scope, started: dict[str, Any]) -> None:
        self._scope = scope
        self.path = Path(started["file"])
        self.mode: str = started["mode"]
        self.duration_s: float | None = started.get("duration_s")
        self._final: RecordingStatus | None = None

    def status(self) -> RecordingStatus:
        """The daemon's recording status (file, size_bytes, elapsed_s, rows_lost, …)."""
        status = RecordingStatus.from_dict(self._scope.call("record_status"))
        if self._final is None and not status.running and status.file == str(self.path):
            self._final = status
        return status

    @property
    def running(self) -> bool:
        """Whether this recording is still being written."""
        status = self.status()
        return status.running and status.file == str(self.path)

    def stop(self, reason: str = "user") -> RecordingStatus:
        """Stop now with ``reason`` (``user``, ``completed``, ``aborted``, ``script_end``) and
        return the final status; a recording that has already ended is left as it is."""
        if self._final is not None:
            return self._final
        if self.running:
            try:
                self._final = RecordingStatus.from_dict(
                    self._scope.call("record_stop", reason=reason)
                )
            except CommandFailed:
                self.status()  # it ended by itself meanwhile (duration reached, error)
        return self._final or self.status()

    def wait(self, timeout: float | None = None) -> RecordingStatus:
        """Block until the recording ends by itself (e.g. its duration is reached), at most
        ``timeout`` s (TimeoutError); returns the final status."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while self.running:
            if deadline is not None and time.monotonic() > deadline:
                raise TimeoutError(f"recording {self.path} still running after {timeout:g} s")
            time.sleep(CHECK_S)
        return self.status()

    def __enter__(self) -> Recording:
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        self.stop("completed" if exc_type is None else "aborted")

    def __repr__(self) -> str:
        return f"<Recording {self.path} ({self.mode})>"
