"""A camera that cycles through a few pre-made noise frames, for benchmarks and pipeline tests.

With ``frame_rate = 0`` it returns frames as fast as they are asked for (no pacing, no
rendering), so what a benchmark measures is the pipeline behind the camera.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from ..camera import Camera, Frame
from ..errors import SettingError
from ..settings import Setting


class TestPatternCamera(Camera):
    """Frames of uniform noise, ``n_patterns`` distinct ones in rotation.

    ``frame_rate`` in Hz (0 = unpaced); ``width``/``height`` in pixels; ``bits`` per pixel.
    """

    __test__ = False  # not a pytest test class, despite the name

    def __init__(
        self,
        name: str = "camera",
        *,
        width: int = 512,
        height: int = 512,
        bits: int = 16,
        frame_rate: float = 0.0,
        n_patterns: int = 4,
        seed: int = 0,
    ) -> None:
        super().__init__(name)
        self._values: dict[str, Any] = {
            "width": width, "height": height, "bits": bits, "frame_rate": frame_rate,
        }  # fmt: skip
        if width < 1 or height < 1 or bits not in (8, 10, 12, 14, 16, 32) or frame_rate < 0:
            raise SettingError(
                f"{name}: bad test pattern geometry {width}x{height}, {bits} bits, {frame_rate} Hz"
            )
        dtype = np.dtype(f"uint{8 if bits <= 8 else 16 if bits <= 16 else 32}")
        rng = np.random.default_rng(seed)
        self._patterns = rng.integers(0, 2**bits, (n_patterns, height, width), dtype=dtype)
        self._running = False
        self._number = 0
        self._next_time = 0.0

    def settings(self) -> list[Setting]:
        return [
            Setting("width", "int", "px", 1, 8192, read_only=True),
            Setting("height", "int", "px", 1, 8192, read_only=True),
            Setting("bits", "int", "bit", choices=(8, 10, 12, 14, 16, 32), read_only=True),
            Setting("frame_rate", "float", "Hz", 0.0, 100_000.0, description="0 = unpaced"),
        ]

    def _read_setting(self, name: str) -> Any:
        return self._values[name]

    def _write_setting(self, name: str, value: Any) -> None:
        if name != "frame_rate":
            raise SettingError(f"{self.name}: setting {name!r} is read-only")
        self._values[name] = value

    def start(self) -> None:
        if not self._running:
            self._running, self._number = True, 0
            self._next_time = time.monotonic()

    def stop(self) -> None:
        self._running = False

    def read_frame(self, timeout: float) -> Frame | None:
        if not self._running:
            time.sleep(timeout)
            return None
        rate = self._values["frame_rate"]
        if rate > 0:
            wait = self._next_time - time.monotonic()
            if wait > timeout:
                time.sleep(timeout)
                return None
            if wait > 0:
                time.sleep(wait)
            self._next_time = max(self._next_time + 1.0 / rate, time.monotonic() - 1.0)
        image = self._patterns[self._number % len(self._patterns)]
        frame = Frame(image, time.time(), self._number)
        self._number += 1
        return frame
