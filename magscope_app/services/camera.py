"""Acquisition: the VideoBuffer, the camera worker, holds on acquisition, camera status.

The camera service alone decides whether the camera acquires. Other parts ask through named
holds (:meth:`CameraService.hold` / :meth:`CameraService.release`): a hold that keeps
acquisition *paused* (``"user"`` from ``pause``/``resume``, ``"script pause"``, ``"tracking
start-up"``) or one that keeps it *running* (``"zlut sweep"``, which needs frames). Acquisition
runs when a keep-running hold exists or when no hold is left; ``status`` shows every hold and its
owner, and ``pause``/``resume`` answer what the user's change did when another hold decides.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from ..buffers import MatrixBuffer, VideoBuffer
from ..buffers.layouts import FRAME_COLUMNS
from ..control.commands import CommandTable
from ..hardware.registry import load_driver
from ..ipc import Pause, Resume, Stats, WorkerMessage
from ..supervisor import SPAWN
from ..workers._runtime import WorkerSpec
from ._device_commands import register_device_commands
from ._recording_files import video_ring_stacks
from .base import DaemonContext, Service

CAMERA_WORKER = "camera"
#: Rows of the Frames buffer (one per frame): minutes of frames at kHz rates.
FRAMES_ROWS = 1 << 18
#: The hold of the ``pause`` / ``resume`` commands.
USER_HOLD = "user"


@dataclass(frozen=True)
class Hold:
    """A named hold on acquisition: ``owner`` keeps it ``"paused"`` or ``"running"``."""

    name: str
    owner: str
    keep: Literal["paused", "running"]

    def describe(self) -> dict[str, str]:
        return {"name": self.name, "owner": self.owner, "keeps": self.keep}

    def __str__(self) -> str:
        return f"{self.name!r} ({self.owner})"


def storage_bits(bits: int) -> int:
    """Bits per pixel in memory for a camera of ``bits`` bits (8, 16, 32 or 64)."""
    for width in (8, 16, 32, 64):
        if bits <= width:
            return width
    raise ValueError(f"camera bit depth {bits} is above 64")


class CameraService(Service):
    """Owns the VideoBuffer, the camera worker and the acquisition state (through holds).

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
        self._holds: dict[str, Hold] = {}
        if ctx.config.start_paused:
            self._holds[USER_HOLD] = Hold(USER_HOLD, "user", "paused")
        self._acquiring = self._wanted()

    # -- holds ----------------------------------------------------------------------------------
    @property
    def acquiring(self) -> bool:
        """True while the camera is told to acquire."""
        return self._acquiring

    @property
    def holds(self) -> list[Hold]:
        """The holds in the order they were taken."""
        return list(self._holds.values())

    def hold(self, name: str, owner: str, *, keep: Literal["paused", "running"] = "paused") -> None:
        """Take (or retake) hold ``name`` for ``owner``; acquisition changes at once if needed."""
        if keep not in ("paused", "running"):
            raise ValueError(f"a hold keeps acquisition 'paused' or 'running', not {keep!r}")
        self._holds[name] = Hold(name, owner, keep)
        self._apply()

    def release(self, name: str) -> bool:
        """Drop hold ``name`` (False if it was not held); acquisition changes at once if needed."""
        released = self._holds.pop(name, None) is not None
        self._apply()
        return released

    def _wanted(self) -> bool:
        keeps = {h.keep for h in self._holds.values()}
        return "running" in keeps or not keeps

    def _deciding(self) -> list[Hold]:
        """The holds that decide the current state."""
        keep = "running" if self._acquiring else "paused"
        return [h for h in self._holds.values() if h.keep == keep]

    def _apply(self) -> None:
        wanted = self._wanted()
        if wanted == self._acquiring:
            return
        self._acquiring = wanted
        if self.ctx.supervisor is not None:  # else the worker gets the state when it starts
            self.ctx.send(CAMERA_WORKER, Resume() if wanted else Pause())
        why = ", ".join(map(str, self._deciding())) or "no hold left"
        self.ctx.event(f"acquisition {'resumed' if wanted else 'paused'} ({why})", source="camera")
        holds = [str(h) for h in self._deciding()]
        self.ctx.publish("acquisition", {"acquiring": wanted, "reason": why, "holds": holds})

    # -- life cycle -----------------------------------------------------------------------------
    def start(self) -> None:
        ctx = self.ctx
        for name, factory in ctx.config.daemon_resources().items():
            ctx.add_buffer(name, factory(ctx.instance), private=True)
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
                    "has_consumers": self.has_consumers,
                },
            )
        )

    # -- commands -------------------------------------------------------------------------------
    def add_commands(self, table: CommandTable) -> None:
        table.add("pause", self._pause, help="pause acquisition (the 'user' hold)")
        table.add("resume", self._resume, help="release the 'user' hold on acquisition")
        table.add("holds", self._cmd_holds, help="holds on acquisition and who owns them")
        register_device_commands(
            table, self.ctx, CAMERA_WORKER, load_driver(self.ctx.config.camera.driver)
        )

    async def _pause(self) -> dict[str, Any]:
        self.hold(USER_HOLD, "user")
        reply = self._describe_holds()
        if self._acquiring:
            reply["message"] = (
                "acquisition keeps running while held by "
                f"{', '.join(map(str, self._deciding()))}; it pauses when that ends"
            )
        return reply

    async def _resume(self) -> dict[str, Any]:
        self.release(USER_HOLD)
        reply = self._describe_holds()
        if not self._acquiring:
            held = ", ".join(map(str, self._deciding()))
            reply["message"] = f"acquisition stays paused: held by {held}"
        return reply

    async def _cmd_holds(self) -> dict[str, Any]:
        return self._describe_holds()

    def _describe_holds(self) -> dict[str, Any]:
        return {"acquiring": self._acquiring, "holds": [h.describe() for h in self.holds]}

    # -- worker -----------------------------------------------------------------------------------
    def on_message(self, worker: str, message: WorkerMessage) -> None:
        if worker == CAMERA_WORKER and isinstance(message, Stats):
            self._stats = message.values

    def on_worker_started(self, worker: str) -> None:
        if worker != CAMERA_WORKER:
            return
        if self._stats:
            for key in self._base:  # keep the totals across camera worker restarts
                self._base[key] += self._stats.get(key, 0)
            self._stats = {}
        self.ctx.send(CAMERA_WORKER, Resume() if self._acquiring else Pause())

    def status(self) -> dict[str, Any]:
        stats = self._stats
        return {
            "frames_acquired": self._base["frames_acquired"] + stats.get("frames_acquired", 0),
            "frames_lost": self._base["frames_lost"] + stats.get("frames_lost", 0),
            "fps": stats.get("fps", 0.0) if self._acquiring else 0.0,
            "buffer_level": stats.get("buffer_level", 0.0),
            "latest_frame": stats.get("latest_frame", -1),
            **self._describe_holds(),
        }
