"""Acquisition: the VideoBuffer, the camera worker, ``pause``/``resume``, camera status."""

from __future__ import annotations

from typing import Any

from ..buffers import MatrixBuffer, VideoBuffer
from ..buffers.layouts import FRAME_COLUMNS
from ..control.commands import CommandTable, Param
from ..hardware.simulated.world_control import WorldControl
from ..ipc import Pause, Resume, Stats, WorkerMessage
from ..supervisor import SPAWN
from ..workers._runtime import WorkerSpec
from ._recording_files import video_ring_stacks
from .base import DaemonContext, Service

CAMERA_WORKER = "camera"
#: Rows of the Frames buffer (one per frame): minutes of frames at kHz rates.
FRAMES_ROWS = 1 << 18


def storage_bits(bits: int) -> int:
    """Bits per pixel in memory for a camera of ``bits`` bits (8, 16, 32 or 64)."""
    for width in (8, 16, 32, 64):
        if bits <= width:
            return width
    raise ValueError(f"camera bit depth {bits} is above 64")


class CameraService(Service):
    """Owns the VideoBuffer and the camera worker.

    ``stack_ready`` (a semaphore released once per completed stack) lets consumers block instead
    of polling; ``has_consumers`` tells the camera worker whether anybody reads stacks.
    """

    name = "camera"

    def __init__(self, ctx: DaemonContext, *, has_consumers: bool = False) -> None:
        super().__init__(ctx)
        self.has_consumers = has_consumers
        self.stack_ready: Any = None
        self._stats: dict[str, Any] = {}
        self._base = {"frames_acquired": 0, "frames_lost": 0}

    def start(self) -> None:
        ctx = self.ctx
        if ctx.config.uses_simulated_world:
            ctx.add_buffer("simworld", WorldControl.create(ctx.instance), private=True)
        settings = ctx.config.daemon
        geometry = ctx.config.camera_geometry()
        ctx.new_lock("VideoBuffer")
        self.stack_ready = SPAWN.Semaphore(0)
        ctx.add_buffer(
            "VideoBuffer",
            VideoBuffer(
                create=True,
                locks=ctx.locks,
                instance=ctx.instance,
                n_stacks=video_ring_stacks(ctx.config),  # [recording] video_buffer_seconds
                n_images=settings.images_per_stack,
                width=geometry["width"],
                height=geometry["height"],
                bits=storage_bits(geometry["bits"]),
            ),
        )
        ctx.new_lock("Frames")
        ctx.add_buffer(
            "Frames",
            MatrixBuffer(
                create=True,
                locks=ctx.locks,
                instance=ctx.instance,
                name="Frames",
                shape=(FRAMES_ROWS, len(FRAME_COLUMNS)),
            ),
        )
        assert ctx.supervisor is not None
        ctx.supervisor.start(
            WorkerSpec(
                CAMERA_WORKER,
                "magscope_app.workers.camera:run",
                {
                    "instance": ctx.instance,
                    "camera_spec": ctx.config.camera,
                    "locks": ctx.locks,
                    "stack_ready": self.stack_ready,
                    "acquiring": ctx.acquiring,
                    "has_consumers": self.has_consumers,
                },
            )
        )

    def add_commands(self, table: CommandTable) -> None:
        table.add("pause", self._pause, help="pause acquisition")
        table.add("resume", self._resume, help="resume acquisition")
        table.add(
            "sim_truth",
            self._sim_truth,
            Param("frame", "int", required=False, minimum=0, help="frame counter (default newest)"),
            help="simulated microscope: true bead positions, force and focus of a recent frame",
        )

    async def _sim_truth(self, frame: int | None = None) -> dict[str, Any]:
        return await self.ctx.request(CAMERA_WORKER, "truth", frame=frame)

    async def _pause(self) -> dict[str, Any]:
        self.ctx.acquiring = False
        self.ctx.send(CAMERA_WORKER, Pause())  # a restarting worker gets the state at start
        self.ctx.event("acquisition paused")
        self.ctx.publish("acquisition", {"acquiring": False, "reason": "pause"})
        return {"acquiring": False}

    async def _resume(self) -> dict[str, Any]:
        self.ctx.acquiring = True
        self.ctx.send(CAMERA_WORKER, Resume())
        self.ctx.event("acquisition resumed")
        self.ctx.publish("acquisition", {"acquiring": True, "reason": "resume"})
        return {"acquiring": True}

    def on_message(self, worker: str, message: WorkerMessage) -> None:
        if worker == CAMERA_WORKER and isinstance(message, Stats):
            self._stats = message.values

    def on_worker_started(self, worker: str) -> None:
        if worker == CAMERA_WORKER and self._stats:
            for key in self._base:  # keep the totals across camera worker restarts
                self._base[key] += self._stats.get(key, 0)
            self._stats = {}
            self.ctx.send(CAMERA_WORKER, Resume() if self.ctx.acquiring else Pause())

    def status(self) -> dict[str, Any]:
        stats = self._stats
        return {
            "frames_acquired": self._base["frames_acquired"] + stats.get("frames_acquired", 0),
            "frames_lost": self._base["frames_lost"] + stats.get("frames_lost", 0),
            "fps": stats.get("fps", 0.0) if self.ctx.acquiring else 0.0,
            "buffer_level": stats.get("buffer_level", 0.0),
            "latest_frame": stats.get("latest_frame", -1),
        }
