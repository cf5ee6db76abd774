"""Read-only handles on the daemon's shared memory, for the live view and the plots.

Bulk data never goes through the socket: the window asks the daemon once for ``describe``
(segment names, shapes, dtypes) and attaches to the buffers without their locks, so only the
lock-free readers work (``MatrixBuffer.peek_last``, ``LiveProfileBuffer.peek_profile``,
``VideoBuffer.get_level``; frames are peeked by the :class:`~._frames.FrameGrabber` thread)
and the window can never slow the camera or the trackers. The window is not a
``multiprocessing`` child, so attaching unregisters each segment from this process's resource
tracker (:func:`magscope_app.buffers._shm.attach_segment`): the daemon alone unlinks them.
"""

from __future__ import annotations

import contextlib
import logging
from typing import Any

from magscope_app.buffers import (
    LiveProfileBuffer,
    MatrixBuffer,
    VideoBuffer,
    attach_from_description,
)

log = logging.getLogger(__name__)

MOTOR_PREFIX = "Motor_"


class SharedViews:
    """The buffers of one daemon, attached from its ``describe`` reply.

    ``video`` (VideoBuffer), ``tracks`` (MatrixBuffer of :data:`TRACK_COLUMNS` rows),
    ``profile`` (LiveProfileBuffer) and ``motors`` (motor name -> MatrixBuffer of
    :data:`MOTOR_COLUMNS` rows) are None / empty when the daemon does not have them.
    """

    def __init__(self) -> None:
        self.video: VideoBuffer | None = None
        self.tracks: MatrixBuffer | None = None
        self.profile: LiveProfileBuffer | None = None
        self.motors: dict[str, MatrixBuffer] = {}
        self.generation = 0  # counts attach(): readers reset their state when it changes

    @property
    def attached(self) -> bool:
        return self.video is not None

    def attach(self, description: dict[str, Any]) -> None:
        """Attach to every buffer in a ``describe`` reply (closing earlier handles first)."""
        self.close()
        for entry in description.get("buffers", []):
            name = entry.get("name", "")
            try:
                buffer = attach_from_description(entry)
            except (OSError, ValueError, RuntimeError) as exc:
                log.warning("cannot attach to %s: %s", name, exc)
                continue
            if isinstance(buffer, VideoBuffer) and name == "VideoBuffer":
                self.video = buffer
            elif isinstance(buffer, LiveProfileBuffer):
                self.profile = buffer
            elif isinstance(buffer, MatrixBuffer) and name == "Tracks":
                self.tracks = buffer
            elif isinstance(buffer, MatrixBuffer) and name.startswith(MOTOR_PREFIX):
                self.motors[name.removeprefix(MOTOR_PREFIX)] = buffer
            else:
                buffer.close()
        self.generation += 1

    def buffer_level(self) -> float | None:
        """Fraction of the frame ring in use (0…1), None when not attached."""
        return None if self.video is None else self.video.get_level()

    def close(self) -> None:
        """Unmap every segment (never unlinks: the daemon owns them). Idempotent."""
        handles = [self.video, self.tracks, self.profile, *self.motors.values()]
        self.video = self.tracks = self.profile = None
        self.motors = {}
        for handle in handles:
            if handle is not None:
                with contextlib.suppress(BufferError, RuntimeError):
                    handle.close()
