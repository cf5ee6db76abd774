"""The frame grabber: a thread that pulls the newest camera frame for the live view.

``VideoBuffer.peek_image`` is lock-free but retries (sleeping) while the camera is in the middle
of writing that frame; on a busy machine the camera process can be descheduled mid-write, so the
peek runs here, never on the GUI thread. The grabber has its own read-only handle on the
VideoBuffer (attached and closed on this thread) and hands over at most one frame at a time: the
next is pulled only after the view has taken the previous one (:meth:`FrameGrabber.taken`), so
frames never queue up behind a busy GUI thread.
"""

from __future__ import annotations

import contextlib
import threading
import time
from typing import Any

from PyQt6.QtCore import QThread, pyqtSignal

from magscope_app.buffers import BufferUnderflow, VideoBuffer, attach_from_description

#: Hand-over period (s): ~32 frames per second at most, on a schedule (a late frame does not
#: delay the next one's slot).
PERIOD_S = 0.031
#: How often (s) the thread looks again while the view is busy or no new frame has come.
POLL_S = 0.004


class FrameGrabber(QThread):
    """``frame(number, image)``: a new newest frame (a ``(height, width)`` copy)."""

    frame = pyqtSignal(int, object)

    def __init__(self, period_s: float = PERIOD_S) -> None:
        super().__init__()
        self._period = period_s
        self._lock = threading.Lock()
        self._description: dict[str, Any] | None = None
        self._generation = 0
        self._stop = threading.Event()
        self._free = threading.Event()
        self._free.set()

    def attach(self, description: dict[str, Any] | None) -> None:
        """Follow the VideoBuffer of a ``describe`` reply (None: stop pulling)."""
        entry = None
        for buffer in (description or {}).get("buffers", []):
            if buffer.get("name") == "VideoBuffer":
                entry = buffer
        with self._lock:
            self._description, self._generation = entry, self._generation + 1
        self._free.set()

    def taken(self) -> None:
        """The view has shown the last frame: the next may come."""
        self._free.set()

    def run(self) -> None:
        video: VideoBuffer | None = None
        seen, last = 0, None
        due = time.monotonic()  # when the next frame may be handed over
        try:
            while not self._stop.wait(max(due - time.monotonic(), POLL_S)):
                with self._lock:
                    generation, entry = self._generation, self._description
                if generation != seen:
                    video = _close(video)
                    seen, last = generation, None
                    with contextlib.suppress(OSError, ValueError, RuntimeError):
                        video = attach_from_description(entry) if entry else None
                if video is None or not self._free.is_set() or time.monotonic() < due:
                    continue
                try:
                    if video.latest_frame_number == last:
                        continue  # no new frame: check again soon, without copying one
                    number, image = video.peek_image()
                except (BufferUnderflow, RuntimeError):
                    continue
                if number != last:
                    last = number
                    due = max(due + self._period, time.monotonic())
                    self._free.clear()
                    self.frame.emit(number, image)
        finally:
            _close(video)

    def stop(self) -> None:
        """End the thread and wait for it (idempotent)."""
        self._stop.set()
        self.wait()


def _close(video: VideoBuffer | None) -> None:
    if video is not None:
        with contextlib.suppress(BufferError, RuntimeError):
            video.close()
