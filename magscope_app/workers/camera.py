"""Camera worker: streams a :class:`~magscope_app.hardware.Camera` into the VideoBuffer.

Frames are numbered by this worker (0, 1, 2, … over the life of the daemon, continuing after a
restart), so a frame the camera skipped or the buffer could not take leaves a visible gap and is
counted in ``frames_lost``; nothing is dropped silently. With ``has_consumers`` False (no
tracking workers) nobody reads the buffer, so the worker itself discards the oldest stack when the
ring is full: the buffer then serves live view only and no frame counts as lost. Every completed
stack releases ``stack_ready`` once, so consumers block on it instead of polling. The worker
starts paused and follows :class:`~magscope_app.ipc.Pause` / :class:`~magscope_app.ipc.Resume`
(the camera service sends the state at every start); while paused it blocks on its pipe and the
camera is stopped.

Requests: ``describe``, ``get_setting``, ``set_setting`` and the commands the camera driver
declares (``extra_commands``; a ``frame`` argument is translated from the daemon's frame
numbering to the camera's own for the last :data:`FRAME_MAP_SIZE` frames).
"""

from __future__ import annotations

import logging
import time
from typing import Any

import numpy as np

from ..buffers import BufferOverflow, MatrixBuffer, VideoBuffer
from ..hardware.config import DeviceSpec, create_device
from ..ipc import Pause, Resume, Shutdown, Stats
from ._requests import Handler, RequestHandlers, device_command_handlers, setting_handlers
from ._runtime import WorkerContext

log = logging.getLogger(__name__)

STATS_INTERVAL_S = 0.5
#: Newest frames whose camera frame number is kept (for device commands with a ``frame``).
FRAME_MAP_SIZE = 1024
#: Settings the video buffer is sized from: fixed while the daemon runs.
FIXED_SETTINGS = ("width", "height", "bits")


def run(
    ctx: WorkerContext,
    *,
    instance: str,
    camera_spec: DeviceSpec,
    locks: dict[str, Any],
    stack_ready: Any,
    has_consumers: bool,
) -> None:
    """Worker job; returns on :class:`Shutdown` or when the manager goes away."""
    camera = create_device(camera_spec, instance=instance)
    camera.open()
    video = VideoBuffer(create=False, locks=locks, instance=instance)
    frames = MatrixBuffer(create=False, locks=locks, instance=instance, name="Frames")
    try:
        _stream(ctx, camera, video, frames, stack_ready, has_consumers)
    finally:
        camera.stop()
        camera.close()
        video.close()
        frames.close()


def _stream(
    ctx: WorkerContext,
    camera: Any,
    video: VideoBuffer,
    frames: MatrixBuffer,
    stack_ready: Any,
    has_consumers: bool,
) -> None:
    if video.image_shape != (camera.height, camera.width):
        raise RuntimeError(
            f"camera frames are {camera.height}x{camera.width} but the video buffer holds "
            f"{video.image_shape[0]}x{video.image_shape[1]}"
        )
    next_number = video.frames_written and video.latest_frame_number + 1
    acquired = lost = 0
    acquiring = False
    last_camera_number: int | None = None
    window_start, window_frames = time.monotonic(), 0
    camera_numbers = _FrameMap(FRAME_MAP_SIZE)
    requests = RequestHandlers("camera", setting_handlers(camera, fixed=FIXED_SETTINGS))
    requests.add(
        {n: camera_numbers.translating(h) for n, h in device_command_handlers(camera).items()}
    )
    ctx.ready(width=camera.width, height=camera.height, bits=camera.bits)
    log.info(
        "camera worker streaming %s (%dx%d, %d bits) into %s",
        type(camera).__name__, camera.width, camera.height, camera.bits,
        video.describe()["shm_name"],
    )  # fmt: skip

    def report(fps: float) -> None:
        ctx.send(
            Stats(
                ctx.name,
                {
                    "frames_acquired": acquired,
                    "frames_lost": lost,
                    "fps": fps,
                    "buffer_level": video.get_level(),
                    "acquiring": acquiring,
                    "latest_frame": next_number - 1,
                },
            )
        )

    report(0.0)
    while True:
        message = ctx.receive(timeout=None if not acquiring else 0)
        if isinstance(message, Shutdown):
            return
        if isinstance(message, Pause) and acquiring:
            camera.stop()
            acquiring, last_camera_number = False, None
            report(0.0)
            continue
        if isinstance(message, Resume) and not acquiring:
            camera.start()
            acquiring = True
            window_start, window_frames = time.monotonic(), 0
            continue
        if requests.serve(ctx, message):
            continue
        if not acquiring:
            continue
        frame = camera.read_frame(timeout=0.5)
        if frame is None:
            continue
        if last_camera_number is not None and frame.number > last_camera_number + 1:
            skipped = frame.number - last_camera_number - 1
            lost += skipped
            next_number += skipped
        last_camera_number = frame.number
        if (
            not has_consumers
            and video.frames_written % video.n_images == 0
            and video.get_unread_stack_count() >= video.n_stacks - 1
        ):
            video.read_stack_no_return()
        camera_numbers.add(next_number, frame.number)
        try:
            video.write_image_and_timestamp(frame.image, frame.timestamp, next_number)
            acquired += 1
            window_frames += 1
            frames.write(np.array([frame.timestamp, next_number, lost], dtype=np.float64))
            if has_consumers and video.frames_written % video.n_images == 0:
                stack_ready.release()
        except BufferOverflow:
            lost += 1
            if lost == 1 or lost % 100 == 0:
                log.warning("video buffer full: %d frame(s) lost so far", lost)
        next_number += 1
        elapsed = time.monotonic() - window_start
        if elapsed >= STATS_INTERVAL_S:
            report(window_frames / elapsed)
            window_start, window_frames = time.monotonic(), 0


class _FrameMap:
    """The camera's own number of each of the newest ``size`` frames (daemon numbering)."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.daemon = np.full(size, -1, dtype=np.int64)
        self.camera = np.zeros(size, dtype=np.int64)
        self.newest = -1

    def add(self, daemon_number: int, camera_number: int) -> None:
        self.daemon[daemon_number % self.size] = daemon_number
        self.camera[daemon_number % self.size] = camera_number
        self.newest = daemon_number

    def camera_number(self, frame: int | None) -> tuple[int, int]:
        """(daemon number, camera number) of ``frame`` (None: the newest); ValueError if it is
        not kept (too old, or not acquired yet)."""
        if frame is None and self.newest < 0:
            raise ValueError("no frame acquired yet")
        frame = self.newest if frame is None else int(frame)
        if frame < 0 or self.daemon[frame % self.size] != frame:
            raise ValueError(f"frame {frame} is not among the newest {self.size} frames")
        return frame, int(self.camera[frame % self.size])

    def translating(self, handler: Handler) -> Handler:
        """``handler`` with its ``frame`` argument (if any) in the camera's numbering."""

        def call(**args: Any) -> Any:
            if "frame" not in args:
                return handler(**args)
            frame, number = self.camera_number(args.pop("frame"))
            result = handler(frame=number, **args)
            return {**result, "frame": frame} if isinstance(result, dict) else result

        return call
