"""Camera worker: streams a :class:`~magscope_app.hardware.Camera` into the VideoBuffer.

Frames are numbered by this worker (0, 1, 2, … over the life of the daemon, continuing after a
restart), so a frame the camera skipped or the buffer could not take leaves a visible gap and is
counted in ``frames_lost``; nothing is dropped silently. With ``has_consumers`` False (no
tracking workers) nobody reads the buffer, so the worker itself discards the oldest stack when the
ring is full: the buffer then serves live view only and no frame counts as lost. Every completed
stack releases ``stack_ready`` once, so consumers block on it instead of polling. While paused
the worker blocks on its pipe and the camera is stopped.
"""

from __future__ import annotations

import logging
import time
from collections import OrderedDict
from typing import Any

import numpy as np

from ..buffers import BufferOverflow, MatrixBuffer, VideoBuffer
from ..hardware.config import DeviceSpec, create_device
from ..ipc import Pause, Request, Resume, Shutdown, Stats
from ._device_requests import answer, setting_handlers
from ._runtime import WorkerContext

log = logging.getLogger(__name__)

STATS_INTERVAL_S = 0.5
#: Frames whose ground truth (simulated cameras) can be asked for, newest first.
TRUTH_FRAMES = 1024
#: Settings the video buffer is sized from: fixed while the daemon runs.
FIXED_SETTINGS = ("width", "height", "bits")


def run(
    ctx: WorkerContext,
    *,
    instance: str,
    camera_spec: DeviceSpec,
    locks: dict[str, Any],
    stack_ready: Any,
    acquiring: bool,
    has_consumers: bool,
) -> None:
    """Worker job; returns on :class:`Shutdown` or when the manager goes away."""
    camera = create_device(camera_spec, instance=instance)
    camera.open()
    video = VideoBuffer(create=False, locks=locks, instance=instance)
    frames = MatrixBuffer(create=False, locks=locks, instance=instance, name="Frames")
    try:
        _stream(ctx, camera, video, frames, stack_ready, acquiring, has_consumers)
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
    acquiring: bool,
    has_consumers: bool,
) -> None:
    if video.image_shape != (camera.height, camera.width):
        raise RuntimeError(
            f"camera frames are {camera.height}x{camera.width} but the video buffer holds "
            f"{video.image_shape[0]}x{video.image_shape[1]}"
        )
    next_number = video.frames_written and video.latest_frame_number + 1
    acquired = lost = 0
    last_camera_number: int | None = None
    window_start, window_frames = time.monotonic(), 0
    # Simulated cameras keep the ground truth of recent frames under their own frame numbers.
    truth_numbers: OrderedDict[int, int] | None = (
        OrderedDict() if hasattr(camera, "truth_dict") else None
    )
    ctx.ready(width=camera.width, height=camera.height, bits=camera.bits)
    log.info(
        "camera worker streaming %s (%dx%d, %d bits) into %s",
        type(camera).__name__, camera.width, camera.height, camera.bits,
        video.describe()["shm_name"],
    )  # fmt: skip
    if acquiring:
        camera.start()

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
        if isinstance(message, Request):  # describe, get_setting, set_setting, truth
            handlers = setting_handlers(camera, fixed=FIXED_SETTINGS)
            if truth_numbers is not None:
                handlers["truth"] = lambda frame=None: _truth(camera, truth_numbers, frame)
            ctx.send(answer(message, handlers, "camera"))
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
        if truth_numbers is not None:
            truth_numbers[next_number] = frame.number
            if len(truth_numbers) > TRUTH_FRAMES:
                truth_numbers.popitem(last=False)
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


def _truth(camera: Any, numbers: OrderedDict[int, int], frame: int | None) -> dict[str, Any]:
    """Ground truth of frame ``frame`` (this worker's numbering; None: the newest)."""
    if frame is None and numbers:
        frame = next(reversed(numbers))
    truth = camera.truth_dict(numbers[frame]) if frame in numbers else None
    if truth is None:
        raise ValueError(f"no ground truth for frame {frame} (not simulated, or too old)")
    return {**truth, "frame": frame}
