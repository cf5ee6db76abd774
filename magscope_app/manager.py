"""The daemon: one asyncio event loop that owns the shared memory, supervises the workers and
serves the control API.

Start-up: claim the instance (refuse if a live daemon holds it; clean up after a dead one), create
the shared-memory buffers, write the token, start the workers and the control server. Shut-down
(SIGINT, SIGTERM or the ``stop`` command): stop the control server, stop the workers, unlink every
segment, remove the socket, token and pid file. Nothing in this process polls: pipes and process
sentinels are watched with ``loop.add_reader``, logs from workers arrive on a queue listener thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import logging.handlers
import os
import secrets
import signal
import time
from typing import Any

from . import __version__
from .buffers import VideoBuffer, remove_stale_segments
from .config import DaemonConfig
from .control.commands import CommandTable
from .control.server import ControlServer
from .hardware.simulated.world_control import WorldControl
from .ipc import Fault, Pause, Resume, Stats, WorkerMessage
from .paths import InstancePaths, instance_paths
from .supervisor import SPAWN, Supervisor
from .workers._runtime import WorkerSpec

log = logging.getLogger(__name__)

LOG_FORMAT = "%(asctime)s %(processName)s %(name)s %(levelname)s: %(message)s"


class InstanceBusy(RuntimeError):
    """Another live daemon runs under the same instance name."""


class Daemon:
    """A daemon instance. ``await Daemon(...).run()`` returns when it has shut down."""

    def __init__(
        self, instance: str, config: DaemonConfig, *, tcp_port: int | None = None
    ) -> None:
        self.instance = instance
        self.config = config
        self.paths: InstancePaths = instance_paths(instance)
        self._tcp_port = tcp_port
        self._started = time.monotonic()
        self._stop_requested: asyncio.Event | None = None
        self._stop_reason = "user"
        self._acquiring = not config.start_paused
        self._locks: dict[str, Any] = {}
        self._buffers: dict[str, Any] = {}
        self._stack_ready: Any = None
        self._camera_stats: dict[str, Any] = {}
        self._camera_base = {"frames_acquired": 0, "frames_lost": 0}
        self._faults: list[dict[str, Any]] = []
        self._supervisor: Supervisor | None = None
        self._server: ControlServer | None = None
        self._log_queue: Any = None
        self._log_listener: logging.handlers.QueueListener | None = None

    # -- life cycle -----------------------------------------------------------------------------
    async def run(self) -> int:
        """Run until asked to stop; returns the process exit status (0 after a clean stop)."""
        loop = asyncio.get_running_loop()
        self._stop_requested = asyncio.Event()
        self._claim_instance()
        try:
            self._start_logging()
            log.info(
                "magscope-app %s daemon %r starting (pid %d, config %s)",
                __version__, self.instance, os.getpid(), self.config.source or "built-in simulator",
            )  # fmt: skip
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(sig, self.request_stop, f"signal {sig.name}")
            self._create_buffers()
            self._supervisor = Supervisor(
                loop,
                self._log_queue,
                self._on_worker_message,
                on_started=self._on_worker_started,
                locks=list(self._locks.values()),
                max_crashes=self.config.daemon.max_worker_crashes,
            )
            self._start_workers()
            token = secrets.token_hex(32)
            self._write_private(self.paths.token, token)
            self._server = ControlServer(
                self._commands(), token, self.paths.socket, tcp_port=self._tcp_port
            )
            await self._server.start()
            log.info("listening on %s", self.paths.socket)
            await self._stop_requested.wait()
            log.info("stopping (%s)", self._stop_reason)
        finally:
            await self._shutdown()
        return 0

    def request_stop(self, reason: str = "user") -> None:
        """Begin a clean shutdown (safe to call more than once)."""
        if self._stop_requested is not None and not self._stop_requested.is_set():
            self._stop_reason = reason
            self._stop_requested.set()

    async def _shutdown(self) -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
        if self._server is not None:
            await self._server.close()
        if self._supervisor is not None:
            await self._supervisor.stop_all(timeout=1.0)
        for buffer in self._buffers.values():
            buffer.unlink()
        self._buffers.clear()
        for path in (self.paths.token, self.paths.socket, self.paths.pid_file):
            path.unlink(missing_ok=True)
        log.info("daemon %r stopped", self.instance)
        self._stop_logging()

    # -- instance ownership ---------------------------------------------------------------------
    def _claim_instance(self) -> None:
        """Write the pid file; refuse if a live daemon owns the instance, clean up a dead one."""
        pid_file = self.paths.pid_file
        try:
            fd = os.open(pid_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            owner = _read_pid(pid_file)
            if owner is not None and _pid_alive(owner):
                raise InstanceBusy(
                    f"daemon {self.instance!r} is already running (pid {owner}); "
                    "choose another name with --instance"
                ) from None
            stale = remove_stale_segments(self.instance)
            logging.getLogger(__name__).warning(
                "previous daemon %r (pid %s) died; removed %d stale shared-memory segment(s)",
                self.instance, owner, len(stale),
            )  # fmt: skip
            for path in (pid_file, self.paths.socket, self.paths.token):
                path.unlink(missing_ok=True)
            fd = os.open(pid_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(f"{os.getpid()}\n")

    @staticmethod
    def _write_private(path, text: str) -> None:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(text)

    # -- logging --------------------------------------------------------------------------------
    def _start_logging(self) -> None:
        formatter = logging.Formatter(LOG_FORMAT)
        stderr = logging.StreamHandler()
        rotating = logging.handlers.RotatingFileHandler(
            self.paths.log_file, maxBytes=5_000_000, backupCount=5
        )
        root = logging.getLogger()
        root.setLevel(logging.INFO)
        for handler in (stderr, rotating):
            handler.setFormatter(formatter)
            root.addHandler(handler)
        self._log_handlers = [stderr, rotating]
        self._log_queue = SPAWN.Queue()
        self._log_listener = logging.handlers.QueueListener(self._log_queue, stderr, rotating)
        self._log_listener.start()

    def _stop_logging(self) -> None:
        if self._log_listener is not None:
            self._log_listener.stop()
            self._log_queue.close()
            self._log_queue.join_thread()
        root = logging.getLogger()
        for handler in getattr(self, "_log_handlers", []):
            root.removeHandler(handler)
            handler.close()

    # -- buffers and workers --------------------------------------------------------------------
    def _create_buffers(self) -> None:
        if self.config.uses_simulated_world:
            self._buffers["simworld"] = WorldControl.create(self.instance)
        settings = self.config.daemon
        camera = self.config.camera_geometry()
        self._locks["VideoBuffer"] = SPAWN.Lock()
        self._stack_ready = SPAWN.Semaphore(0)
        self._buffers["VideoBuffer"] = VideoBuffer(
            create=True,
            locks=self._locks,
            instance=self.instance,
            n_stacks=settings.video_stacks,
            n_images=settings.images_per_stack,
            width=camera["width"],
            height=camera["height"],
            bits=storage_bits(camera["bits"]),
        )

    def _start_workers(self) -> None:
        assert self._supervisor is not None
        self._supervisor.start(
            WorkerSpec(
                "camera",
                "magscope_app.workers.camera:run",
                {
                    "instance": self.instance,
                    "camera_spec": self.config.camera,
                    "locks": self._locks,
                    "stack_ready": self._stack_ready,
                    "acquiring": self._acquiring,
                    "has_consumers": False,
                },
            )
        )

    def _on_worker_started(self, name: str) -> None:
        if name == "camera" and self._camera_stats:
            for key in self._camera_base:  # keep totals across camera worker restarts
                self._camera_base[key] += self._camera_stats.get(key, 0)
            self._camera_stats = {}
            if self._supervisor is not None:
                self._supervisor.send("camera", Resume() if self._acquiring else Pause())

    def _on_worker_message(self, name: str, message: WorkerMessage) -> None:
        if isinstance(message, Stats) and name == "camera":
            self._camera_stats = message.values
        elif isinstance(message, Fault):
            log.error("worker %s reported: %s", name, message.message)
            self._faults.append({"time": time.time(), "worker": name, "message": message.message})
            del self._faults[:-50]

    # -- control commands ------------------------------------------------------------------------
    def _commands(self) -> CommandTable:
        table = CommandTable()
        table.add("status", self._cmd_status, help="daemon status")
        table.add("describe", self._cmd_describe, help="shared-memory buffers, to attach to them")
        table.add("pause", self._cmd_pause, help="pause acquisition")
        table.add("resume", self._cmd_resume, help="resume acquisition")
        table.add("stop", self._cmd_stop, help="shut the daemon down")
        table.add("help", self._cmd_help, help="list commands")
        self._table = table
        return table

    async def _cmd_status(self) -> dict[str, Any]:
        assert self._supervisor is not None
        stats = self._camera_stats
        workers = self._supervisor.status()
        return {
            "instance": self.instance,
            "version": __version__,
            "pid": os.getpid(),
            "uptime_s": time.monotonic() - self._started,
            "acquiring": self._acquiring,
            "camera": {
                "frames_acquired": self._camera_base["frames_acquired"]
                + stats.get("frames_acquired", 0),
                "frames_lost": self._camera_base["frames_lost"] + stats.get("frames_lost", 0),
                "fps": stats.get("fps", 0.0) if self._acquiring else 0.0,
                "buffer_level": stats.get("buffer_level", 0.0),
                "latest_frame": stats.get("latest_frame", -1),
            },
            "workers": workers,
            "buffers": [self._buffer_summary(b) for b in self._shared_buffers()],
            "faults": [
                *self._faults,
                *(
                    {"time": None, "worker": w["name"], "message": f"gave up: {w['last_error']}"}
                    for w in workers
                    if w["state"] == "failed"
                ),
            ],
        }

    def _shared_buffers(self) -> list[Any]:
        """The buffers clients may attach to (the simulator's world block is internal)."""
        return [b for name, b in self._buffers.items() if name != "simworld"]

    @staticmethod
    def _buffer_summary(buffer: Any) -> dict[str, Any]:
        d = buffer.describe()
        return {k: d[k] for k in ("name", "shm_name", "shape", "dtype")}

    async def _cmd_describe(self) -> dict[str, Any]:
        return {
            "instance": self.instance,
            "buffers": [b.describe() for b in self._shared_buffers()],
        }

    async def _cmd_pause(self) -> dict[str, Any]:
        self._acquiring = False
        self._send_camera(Pause())
        return {"acquiring": False}

    async def _cmd_resume(self) -> dict[str, Any]:
        self._acquiring = True
        self._send_camera(Resume())
        return {"acquiring": True}

    def _send_camera(self, message: Any) -> None:
        # A camera worker that is restarting gets the current state when it starts again.
        assert self._supervisor is not None
        self._supervisor.send("camera", message)

    async def _cmd_stop(self) -> dict[str, Any]:
        asyncio.get_running_loop().call_soon(self.request_stop, "stop command")
        return {"stopping": True}

    async def _cmd_help(self) -> list[dict[str, Any]]:
        return self._table.describe()


def storage_bits(bits: int) -> int:
    """Bits per pixel in memory for a camera of ``bits`` bits (8, 16, 32 or 64)."""
    for width in (8, 16, 32, 64):
        if bits <= width:
            return width
    raise ValueError(f"camera bit depth {bits} is above 64")


def _read_pid(path) -> int | None:
    with contextlib.suppress(OSError, ValueError):
        return int(path.read_text().split()[0])
    return None


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
