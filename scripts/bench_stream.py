"""Benchmark: frames/s the camera worker sustains into the VideoBuffer while a reader consumes.

For 512×512 and 1024×1024 uint16 frames, the real camera worker (a spawn process running
``magscope_app.workers.camera.run`` with an unpaced test-pattern camera) streams into a real
shared-memory VideoBuffer for a fixed time while a reader process claims and releases every stack.
The memcpy rate of this machine is measured in the same run. Prints one JSON line.

Target: stream rate (frames/s × frame bytes) ≥ 60 % of the memcpy rate, with 0 frames lost.
"""

from __future__ import annotations

import json
import logging
import logging.handlers
import multiprocessing
import os
import time

import numpy as np
from magscope_app.hardware.config import DeviceSpec

from magscope_app.buffers import MatrixBuffer, VideoBuffer
from magscope_app.buffers.layouts import FRAME_COLUMNS
from magscope_app.ipc import Shutdown, Stats
from magscope_app.workers._runtime import WorkerSpec, worker_entry

SPAWN = multiprocessing.get_context("spawn")
DURATION_S = 4.0


def memcpy_gbps(nbytes: int = 256 << 20, repeats: int = 5) -> float:
    """Best-of-``repeats`` copy rate of a large array, GB/s (1e9 bytes)."""
    src = np.ones(nbytes, dtype=np.uint8)
    dst = np.empty_like(src)
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        np.copyto(dst, src)
        best = min(best, time.perf_counter() - t0)
    return nbytes / best / 1e9


def reader(instance: str, locks, stack_ready, stop, counts) -> None:
    """Consume every stack: block on the semaphore, claim, touch the pixels, release."""
    video = VideoBuffer(create=False, locks=locks, instance=instance)
    frames = 0
    try:
        while not stop.is_set():
            if not stack_ready.acquire(timeout=0.2):
                continue
            claim = video.claim_stack()
            if claim is None:
                continue
            claim.frames[:, ::64, ::64].sum()  # touch every frame of the stack
            video.release_stack(claim)
            frames += len(claim.frame_numbers)
    finally:
        counts.put(frames)
        video.close()


def run_size(size: int) -> dict:
    instance = f"bench{os.getpid()}"
    locks = {"VideoBuffer": SPAWN.Lock(), "Frames": SPAWN.Lock()}
    stack_ready = SPAWN.Semaphore(0)
    n_images = 4
    video = VideoBuffer(
        create=True, locks=locks, instance=instance,
        n_stacks=64, n_images=n_images, width=size, height=size, bits=16,
    )  # fmt: skip
    frames_buffer = MatrixBuffer(
        create=True, locks=locks, instance=instance, name="Frames",
        shape=(1 << 16, len(FRAME_COLUMNS)),
    )  # fmt: skip
    stop, counts = SPAWN.Event(), SPAWN.Queue()
    consumer = SPAWN.Process(target=reader, args=(instance, locks, stack_ready, stop, counts))
    consumer.start()
    parent, child = SPAWN.Pipe()
    spec = WorkerSpec(
        "camera",
        "magscope_app.workers.camera:run",
        {
            "instance": instance,
            "camera_spec": DeviceSpec(
                "camera", "simulated.test_pattern",
                {"width": size, "height": size, "bits": 16, "frame_rate": 0.0},
            ),
            "locks": locks,
            "stack_ready": stack_ready,
            "acquiring": True,
            "has_consumers": True,
        },
    )  # fmt: skip
    log_queue = SPAWN.Queue()  # the worker's log records go to this process's stderr
    listener = logging.handlers.QueueListener(log_queue, logging.StreamHandler())
    listener.start()
    camera = SPAWN.Process(target=worker_entry, args=(spec, child, log_queue))
    camera.start()
    child.close()
    stats: dict = {}
    try:
        deadline = None
        while True:  # the worker reports twice a second
            message = parent.recv()
            if isinstance(message, Stats):
                if deadline is None and message.values["frames_acquired"] > 0:
                    start_stats, t_start = message.values, time.monotonic()
                    deadline = t_start + DURATION_S
                elif deadline is not None and time.monotonic() >= deadline:
                    stats, t_end = message.values, time.monotonic()
                    break
        parent.send(Shutdown())
        camera.join(10)
        stop.set()
        frames_read = counts.get(timeout=10)
        consumer.join(10)
    finally:
        for proc in (camera, consumer):
            if proc.is_alive():
                proc.kill()
        listener.stop()
        video.unlink()
        frames_buffer.unlink()
    frames = stats["frames_acquired"] - start_stats["frames_acquired"]
    fps = frames / (t_end - t_start)
    frame_bytes = size * size * 2
    return {
        "fps": round(fps, 1),
        "gbps": round(fps * frame_bytes / 1e9, 3),
        "frames_acquired": stats["frames_acquired"],
        "frames_read": frames_read,
        "frames_lost": stats["frames_lost"],
    }


def main() -> None:
    memcpy = memcpy_gbps()
    result: dict = {"benchmark": "stream", "memcpy_gbps": round(memcpy, 3)}
    for size in (512, 1024):
        r = run_size(size)
        r["fraction_of_memcpy"] = round(r["gbps"] / memcpy, 3)
        result[f"{size}x{size}_uint16"] = r
    print(json.dumps(result))


if __name__ == "__main__":
    main()
