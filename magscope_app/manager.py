"""The daemon: one asyncio event loop that owns the shared memory, supervises the workers and
serves the control API.

Start-up: claim the instance (refuse if a live daemon holds it; clean up after a dead one), start
logging, start the services (each creates its shared memory and workers), write the token, serve.
Shut-down (SIGINT, SIGTERM or the ``stop`` command): stop the control server, let the services
finish (e.g. close a recording), stop the workers, unlink every segment, remove the socket, token
and pid file. Nothing in this process polls: pipes and process sentinels are watched with
``loop.add_reader``; worker logs arrive on a queue listener thread.
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
from pathlib import Path
from typing import Any

from . import __version__
from .buffers import remove_stale_segments
from .config import DaemonConfig
from .control.commands import CommandTable, Param
from .control.server import ControlServer
from .ipc import Fault, Reply, WorkerMessage, WorkerState
from .paths import InstancePaths, instance_paths
from .services.base import DaemonContext, LogEvents, Service
from .services.camera import CameraService
from .services.force import ForceService
from .services.locks import LockService
from .services.motors import MotorService
from .services.recording import RecordingService
from .services.scripts import ScriptService
from .services.tracking import TrackingService
from .services.zlut import ZLUTService
from .supervisor import SPAWN, Supervisor, name_semaphores, remove_stale_semaphores

log = logging.getLogger(__name__)

LOG_FORMAT = "%(asctime)s %(processName)s %(name)s %(levelname)s: %(message)s"


class InstanceBusy(RuntimeError):
    """Another live daemon runs under the same instance name."""


def build_services(ctx: DaemonContext) -> list[Service]:
    """The daemon's parts, in start order."""
    camera = CameraService(ctx, has_consumers=ctx.config.tracking.workers > 0)
    motors = MotorService(ctx)
    tracking = TrackingService(ctx, camera)
    zlut = ZLUTService(ctx, motors, tracking)
    locks = LockService(ctx, motors, tracking)
    force = ForceService(ctx, motors, tracking)
    services = [camera, motors, tracking, zlut, locks, RecordingService(ctx, tracking), force]
    return [*services, ScriptService(ctx)]


class Daemon:
    """A daemon instance. ``await Daemon(...).run()`` returns when it has shut down."""

    def __init__(self, instance: str, config: DaemonConfig, *, tcp_port: int | None = None) -> None:
        self.instance = instance
        self.paths: InstancePaths = instance_paths(instance)
        self.ctx = DaemonContext(instance, config)
        self._tcp_port = tcp_port
        self._started = time.monotonic()
        self._stop_requested: asyncio.Event | None = None
        self._stop_reason = "user"
        self._services: list[Service] = []
        self._faults: list[dict[str, Any]] = []
        self._server: ControlServer | None = None
        self._log_queue: Any = None
        self._log_listener: logging.handlers.QueueListener | None = None
        self._log_handlers: list[logging.Handler] = []

    # -- life cycle -----------------------------------------------------------------------------
    async def run(self) -> int:
        """Run until asked to stop; returns the process exit status (0 after a clean stop)."""
        loop = asyncio.get_running_loop()
        self._stop_requested = asyncio.Event()
        self._claim_instance()
        name_semaphores(self.instance)
        try:
            self._start_logging()
            log.info(
                "magscope-app %s daemon %r starting (pid %d, config %s)",
                __version__, self.instance, os.getpid(), self.ctx.config.source,
            )  # fmt: skip
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(sig, self.request_stop, f"signal {sig.name}")
            self.ctx.supervisor = Supervisor(
                loop,
                self._log_queue,
                self._on_worker_message,
                on_started=self._on_worker_started,
                locks=self.ctx.locks,
                max_crashes=self.ctx.config.daemon.max_worker_crashes,
            )
            self._services = build_services(self.ctx)
            for service in self._services:
                service.start()
            token = secrets.token_hex(32)
            _write_private(self.paths.token, token)
            daemon_settings = self.ctx.config.daemon
            self._server = ControlServer(
                self._commands(),
                token,
                self.paths.socket,
                tcp_port=self._tcp_port,
                instance=self.instance,
                queue_events=daemon_settings.client_queue_events,
                stuck_after_s=daemon_settings.client_stuck_s,
            )
            self.ctx.event_sinks.append(self._server.publish)
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
            self.ctx.publish("daemon", {"state": "stopping", "reason": reason})

    async def _shutdown(self) -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
        if self._server is not None:
            await self._server.close()
        for service in reversed(self._services):
            try:
                await service.stop()
            except Exception:
                log.exception("service %s failed to stop cleanly", service.name)
        if self.ctx.supervisor is not None:
            await self.ctx.supervisor.stop_all(timeout=1.0)
        for buffer in self.ctx.buffers.values():
            buffer.unlink()
        self.ctx.buffers.clear()
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
            semaphores = remove_stale_semaphores(self.instance)
            self._stale_note = (
                f"previous daemon {self.instance!r} (pid {owner}) died; removed {len(stale)} "
                f"stale shared-memory segment(s) and {len(semaphores)} semaphore(s)"
            )
            for path in (pid_file, self.paths.socket, self.paths.token):
                path.unlink(missing_ok=True)
            fd = os.open(pid_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(f"{os.getpid()}\n")

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
        events = LogEvents(self.ctx, asyncio.get_running_loop())  # warnings as "log" events
        root.addHandler(events)
        self._log_handlers = [stderr, rotating, events]
        self._log_queue = SPAWN.Queue()
        self._log_listener = logging.handlers.QueueListener(
            self._log_queue, stderr, rotating, events
        )
        self._log_listener.start()
        if note := getattr(self, "_stale_note", None):
            log.warning(note)

    def _stop_logging(self) -> None:
        if self._log_listener is not None:
            self._log_listener.stop()
            self._log_queue.close()
            self._log_queue.join_thread()
        root = logging.getLogger()
        for handler in self._log_handlers:
            root.removeHandler(handler)
            handler.close()

    # -- workers --------------------------------------------------------------------------------
    def _on_worker_started(self, name: str) -> None:
        self.ctx.publish("daemon", {"worker": name, "state": "started"})
        for service in self._services:
            service.on_worker_started(name)

    def _on_worker_message(self, name: str, message: WorkerMessage) -> None:
        if isinstance(message, Reply):
            self.ctx.resolve(message)
            return
        if isinstance(message, Fault):
            self.ctx.event(message.message, level="error", source=name)
            self._faults.append({"time": time.time(), "worker": name, "message": message.message})
            del self._faults[:-50]
        for service in self._services:
            service.on_message(name, message)

    # -- control commands ------------------------------------------------------------------------
    def command_table(self) -> CommandTable:
        """Every control command of this daemon; before :meth:`run`, the services are built (not
        started) for it, e.g. to generate the reference page (``scripts/gen_docs.py``)."""
        if not self._services:
            self._services = build_services(self.ctx)
        return self._commands()

    def _commands(self) -> CommandTable:
        table = CommandTable()
        table.add("status", self._cmd_status, help="daemon status")
        table.add("describe", self._cmd_describe, help="shared-memory buffers, to attach to them")
        table.add("stop", self._cmd_stop, help="shut the daemon down")
        table.add("help", self._cmd_help, help="list commands")
        table.add(
            "ping_event",
            self._cmd_ping_event,
            Param("count", "int", required=False, default=1, minimum=1, maximum=10_000),
            help="publish COUNT events on the topic 'ping' (event latency and load tests)",
        )
        for service in self._services:
            service.add_commands(table)
        self._table = table
        return table

    async def _cmd_help(self) -> list[dict[str, Any]]:
        return self._table.describe()

    async def _cmd_status(self) -> dict[str, Any]:
        assert self.ctx.supervisor is not None
        workers = self.ctx.supervisor.status()
        status: dict[str, Any] = {
            "instance": self.instance,
            "version": __version__,
            "pid": os.getpid(),
            "uptime_s": time.monotonic() - self._started,
            "acquiring": self._camera().acquiring,
            "workers": workers,
            "buffers": [_buffer_summary(b) for b in self.ctx.shared_buffers()],
            "faults": [
                *self._faults,
                *(
                    {"time": None, "worker": w["name"], "message": f"gave up: {w['last_error']}"}
                    for w in workers
                    if w["state"] == WorkerState.FAILED
                ),
            ],
        }
        for service in self._services:
            part = service.status()
            if part is not None:
                status[service.name] = part
        return status

    async def _cmd_ping_event(self, count: int) -> dict[str, Any]:
        for seq in range(count):
            self.ctx.publish("ping", {"seq": seq, "sent": time.time()})
        return {"published": count}

    def _camera(self) -> CameraService:
        return next(s for s in self._services if isinstance(s, CameraService))

    async def _cmd_describe(self) -> dict[str, Any]:
        return {
            "instance": self.instance,
            "buffers": [b.describe() for b in self.ctx.shared_buffers()],
        }

    async def _cmd_stop(self) -> dict[str, Any]:
        asyncio.get_running_loop().call_soon(self.request_stop, "stop command")
        return {"stopping": True}


def _buffer_summary(buffer: Any) -> dict[str, Any]:
    d = buffer.describe()
    return {k: d[k] for k in ("name", "shm_name", "shape", "dtype")}


def _write_private(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` readable by this user only (mode 0600)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(fd, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)


def _read_pid(path: Path) -> int | None:
    with contextlib.suppress(OSError, ValueError, IndexError):
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
