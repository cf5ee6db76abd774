"""The camera contract."""

from __future__ import annotations

from abc import abstractmethod
from dataclasses import dataclass

import numpy as np

from .device import Device


@dataclass(frozen=True)
class Frame:
    """One camera frame.

    ``image`` has shape (height, width) and an unsigned integer dtype holding ``bits`` bits;
    ``timestamp`` is the exposure time in seconds since the epoch (``time.time()`` clock);
    ``number`` counts frames from 0 since :meth:`Camera.start`.
    """

    image: np.ndarray
    timestamp: float
    number: int


class Camera(Device):
    """A camera that streams frames.

    Settings every camera has (see :meth:`settings`): ``width``, ``height`` (pixels), ``bits``
    (bit depth per pixel), ``frame_rate`` (Hz) and ``exposure`` (ms). Size and bit depth can only
    change while the camera is stopped.
    """

    kind = "camera"

    @property
    def width(self) -> int:
        return int(self.get_setting("width"))

    @property
    def height(self) -> int:
        return int(self.get_setting("height"))

    @property
    def bits(self) -> int:
        return int(self.get_setting("bits"))

    @property
    def frame_rate(self) -> float:
        return float(self.get_setting("frame_rate"))

    @abstractmethod
    def start(self) -> None:
        """Start streaming. Idempotent."""

    @abstractmethod
    def stop(self) -> None:
        """Stop streaming. Idempotent."""

    @abstractmethod
    def read_frame(self, timeout: float) -> Frame | None:
        """Block until the next frame is ready and return it, or return None after ``timeout`` s.

        A camera paces itself: it never returns frames faster than its frame rate.
        """
