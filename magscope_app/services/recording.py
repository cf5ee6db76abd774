"""Recording: ``record_start`` / ``record_stop`` / ``record_status`` and the recorder worker.

One recording at a time, written by the ``recorder`` worker (``magscope_app.workers.recorder``),
started on demand with the names of the buffers that exist at that moment (``Frames``, ``Tracks``,
``Motor_<name>``, ``BeadRoiBuffer``). While it runs, daemon events (``ctx.event``), commands
received by the control server and warnings of the daemon process go to the file's ``/log``.

Faults: a write error (disk full, …) or, in the video modes, a disk slower than the stream (the
video ring full of frames not yet written) or frames the camera lost, ends the recording with stop
reason "error" and a clear ``last_error`` while acquisition and tracking go on. If the recorder
process dies, its file is repaired with ``recover()`` and the fault is reported. At daemon start,
recordings left open by a crashed daemon are recovered (see ``_recording_files``); at shutdown a
running recording is closed (reason "user") before the workers are stopped.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from pathlib import Path
from typing import Any

from ..buffers import BeadRoiBuffer, MatrixBuffer
from ..control.commands import CommandTable, Param
from ..control.protocol import CommandError
from ..hardware.registry import load_driver
from ..ipc import Notify, Ready, RecorderState, Stats, WorkerMessage
from ..paths import instance_paths
from ..recording import RecordingError, StopReason, recover
from ..workers._runtime import WorkerSpec
from ._recording_files import (
    RecordingSettings,
    RecordingState,
    config_json,
    recover_leftovers,
    target_path,
)
from .base import DaemonContext, Service

log = logging.getLogger(__name__)

RECORDER_WORKER = "recorder"
MODES = ("tracks", "roi_video", "full_video")
#: Stop reasons a client may give to record_stop.
CLIENT_STOP_REASONS = tuple(
    r.value
    for r in (StopReason.USER, StopReason.COMPLETED, StopReason.ABORTED, StopReason.SCRIPT_END)
)
#: Seconds to wait for the recorder to close the file at record_stop / daemon shutdown.
STOP_DEADLINE_S = 1.5
#: More seconds in the video modes: the recorder first writes the frames still in the ring.
VIDEO_STOP_EXTRA_S = 10.0
START_DEADLINE_S = 30.0
READ_INTERVAL_S = 0.15
#: Loggers whose INFO records also go to the file (commands received); others from WARNING up.
_FORWARDED_LOGGERS = ("magscope_app.control.server",)


class _LogForwarder(logging.Handler):
    """Sends log records of the daemon process to the recorder (commands, warnings, errors)."""

    def __init__(self, send: Any) -> None:
        super().__init__(logging.INFO)
        self._send = send

    def emit(self, record: logging.LogRecord) -> None:
        if record.name == "magscope_app.services.base":  # ctx.event(): forwarded as an event
            return
        if record.levelno < logging.WARNING and not record.name.startswith(_FORWARDED_LOGGERS):
            return
        with contextlib.suppress(Exception):
            self._send(
                {
                    "time": record.created,
                    "level": record.levelname.lower(),
                    "source": record.name,
                    "text": record.getMessage(),
                }
            )


class RecordingService(Service):
    """Owns the recorder worker and the recording commands."""

    name = "recording"

    def __init__(self, ctx: DaemonContext, tracking: Any = None) -> None:
        super().__init__(ctx)
        self.tracking = tracking  # the TrackingService, whose Z-LUTs in use are recorded
        self.state = RecordingState(instance_paths(ctx.instance).state)
        self.settings = RecordingSettings.from_config(ctx.config)
        self._running = False
        self._path: Path | None = None
        self._mode: str | None = None
        self._duration: float | None = None
        self._stats: dict[str, Any] = {}
        self._last_error: str | None = None
        self._last_file: str | None = None
        self._stop_reason: str | None = None
        self._ready: asyncio.Future | None = None
        self._watch: asyncio.Task | None = None
        self._finished = asyncio.Event()
        self._forwarder = _LogForwarder(self._forward)

    # -- start-up ---------------------------------------------------------------------------------
    def start(self) -> None:
        folders = [self.settings.folder] if self.settings.folder is not None else []
        for note in recover_leftovers(self.state, folders):
            level = "warning" if note.startswith("recovered") else "error"
            self.ctx.event(note, level=level, source=self.name)

    def _zluts_in_use(self) -> dict[int | None, Any]:
        """The Z-LUTs tracking uses now (bead id -> ZLUT; None: the default LUT)."""
        return {} if self.tracking is None else dict(self.tracking.luts)

    def add_commands(self, table: CommandTable) -> None:
        table.add(
            "record_start",
            self._record_start,
            Param("folder", "str", help="absolute folder for the file (created if missing)"),
            Param("name", "str", required=False, help="file name (default rec-<date>-<time>)"),
            Param("mode", "str", required=False, default="tracks", choices=MODES),
            Param("duration_s", "float", required=False, minimum=0.01, help="stop after"),
            help="start recording to an HDF5 file",
        )
        table.add(
            "record_stop",
            self._record_stop,
            Param("reason", "str", required=False, default=StopReason.USER.value,
                  choices=CLIENT_STOP_REASONS, help="stop reason stored in the file"),
            help="stop the running recording",
        )  # fmt: skip
        table.add("record_status", self._record_status, help="recording state and counters")

    # -- commands ---------------------------------------------------------------------------------
    async def _record_start(
        self, folder: str, name: str | None, mode: str, duration_s: float | None
    ) -> dict[str, Any]:
        if self._running or self._watch is not None:
            raise CommandError(
                "failed", f"a recording is already running ({self._path}); stop it first"
            )
        path = target_path(folder, name)
        buffers = self._buffer_names()
        if mode != "tracks" and "VideoBuffer" not in self.ctx.buffers:
            raise CommandError("failed", "record_start: video modes need the VideoBuffer")
        settings, hardware = config_json(self.ctx.config, self.ctx.instance)
        assert self.ctx.supervisor is not None
        self._running, self._path, self._mode, self._duration = True, path, mode, duration_s
        self._stats, self._last_error, self._stop_reason = {}, None, None
        self._ready = asyncio.get_running_loop().create_future()
        self.ctx.supervisor.start(
            WorkerSpec(
                RECORDER_WORKER,
                "magscope_app.workers.recorder:run",
                {
                    "instance": self.ctx.instance,
                    "locks": self.ctx.locks,
                    "path": str(path),
                    "mode": mode,
                    "duration_s": duration_s,
                    "buffers": buffers,
                    "settings": settings,
                    "hardware": hardware,
                    "zluts": self._zluts_in_use(),
                    "interval_s": READ_INTERVAL_S,
                    "video": self._video_options(),
                },
            )
        )
        self._finished = asyncio.Event()
        self._watch = asyncio.create_task(self._watch_worker(), name="recorder-watch")
        try:
            await asyncio.wait_for(asyncio.shield(self._ready), START_DEADLINE_S)
        except (TimeoutError, CommandError) as e:
            await self.ctx.supervisor.stop(RECORDER_WORKER, timeout=0.5)
            await self._wait_watcher()
            if isinstance(e, CommandError):
                raise
            raise CommandError(
                "failed", f"the recorder did not start within {START_DEADLINE_S:g} s"
            ) from None
        self.state.save(last_folder=str(path.parent), open_file=str(path))
        self.ctx.event_listeners.append(self._forward)
        logging.getLogger().addHandler(self._forwarder)
        text = f"recording started: {path} ({mode}"
        text += f", {duration_s:g} s)" if duration_s else ")"
        self.ctx.event(text, source=self.name)
        self.ctx.publish("recording", {"state": "started", "file": str(path), "mode": mode})
        return {"file": str(path), "mode": mode, "duration_s": duration_s, "buffers": buffers}

    async def _record_stop(self, reason: str = StopReason.USER.value) -> dict[str, Any]:
        if not self._running:
            raise CommandError("failed", "no recording is running")
        return await self._finish(StopReason(reason))

    async def _record_status(self) -> dict[str, Any]:
        return self.status()

    # -- worker -----------------------------------------------------------------------------------
    def _buffer_names(self) -> dict[str, Any]:
        """Names of the buffers to record, looked up now (other services create them)."""
        found: dict[str, Any] = {"frames": None, "tracks": None, "motors": {}, "rois": None}
        for key, buf in self.ctx.buffers.items():
            if isinstance(buf, MatrixBuffer):
                if key == "Frames":
                    found["frames"] = buf.name
                elif key == "Tracks":
                    found["tracks"] = buf.name
                elif key == "Drift":
                    found["drift"] = buf.name
                elif key.startswith("Motor_"):
                    motor = key.removeprefix("Motor_")
                    found["motors"][motor] = {"buffer": buf.name, "unit": self._unit(motor)}
            elif isinstance(buf, BeadRoiBuffer) and key == "BeadRoiBuffer":
                found["rois"] = buf.name
        if found["frames"] is None:
            raise CommandError("failed", "record_start: the daemon has no Frames buffer")
        return found

    def _video_options(self) -> dict[str, Any]:
        """How the recorder writes video: compression, crop size (the tracking ROI size),
        the test-only write delay."""
        beads = getattr(self.tracking, "beads", None)
        return {
            "compression": self.settings.video_compression,
            "crop_size": getattr(beads, "size", None),
            "write_delay_s": self.settings.test_video_write_delay_s,
        }

    def _unit(self, motor: str) -> str:
        spec = self.ctx.config.hardware.motors.get(motor)
        try:
            return str(getattr(load_driver(spec.driver), "unit", "")) if spec else ""
        except (LookupError, ImportError):
            return ""

    async def _finish(self, reason: StopReason) -> dict[str, Any]:
        """Ask the recorder to close with ``reason``; wait at most STOP_DEADLINE_S (plus
        VIDEO_STOP_EXTRA_S in the video modes)."""
        deadline = STOP_DEADLINE_S + (VIDEO_STOP_EXTRA_S if self._mode != "tracks" else 0.0)
        try:
            result = await self.ctx.request(
                RECORDER_WORKER, "stop", timeout=deadline, reason=reason.value
            )
            self._stats = result
        except CommandError as e:
            self._last_error = e.message
            self.ctx.event(f"recording did not close cleanly: {e.message}", level="error")
        if not await self._wait_watcher(STOP_DEADLINE_S):
            assert self.ctx.supervisor is not None  # stuck: stop it; the watcher repairs the file
            await self.ctx.supervisor.stop(RECORDER_WORKER, timeout=0.5)
            await self._wait_watcher()
        return self.status()

    async def _wait_watcher(self, timeout: float | None = None) -> bool:
        """Wait until the watcher has reaped the recorder; False on timeout."""
        watch = self._watch
        if watch is None:
            return True
        try:
            await asyncio.wait_for(asyncio.shield(watch), timeout)
        except TimeoutError:
            return False
        return True

    async def _watch_worker(self) -> None:
        """Wait for the recorder process to end; reap it (no restart) and repair after a crash."""
        assert self.ctx.supervisor is not None
        supervisor = self.ctx.supervisor
        exited = supervisor.worker(RECORDER_WORKER).exited
        assert exited is not None
        finished = asyncio.ensure_future(self._finished.wait())
        try:
            await asyncio.wait([exited, finished], return_when=asyncio.FIRST_COMPLETED)
        finally:
            finished.cancel()
            await supervisor.stop(RECORDER_WORKER, timeout=1.0)  # Shutdown; no restart
        code = exited.result() if exited.done() else None
        if not self._recorder_over() and self._path is not None:
            await self._after_crash(code)  # still "running" until the file is repaired
        self._end_recording()
        self._watch = None

    async def _after_crash(self, code: int | None) -> None:
        how = f"killed by signal {-code}" if code is not None and code < 0 else f"exit code {code}"
        problem = f"recorder worker died ({how}) while recording {self._path}"
        self._last_error = problem
        if self._ready is not None and not self._ready.done():
            self._ready.set_exception(CommandError("failed", problem))
            return  # never started: nothing was written
        self.ctx.event(problem, level="error", source=self.name)
        self.ctx.publish("recording", {"state": "error", "message": problem})
        path = self._path
        assert path is not None
        try:
            repaired = await asyncio.to_thread(recover, path)
            note = f"recovered {path} after the recorder died" if repaired else "nothing to do"
            self.ctx.event(note, level="warning", source=self.name)
            self._stop_reason = StopReason.RECOVERED_AFTER_CRASH.value
        except RecordingError as e:
            self._last_error = f"{problem}; recovery failed: {e.problem}"
            self.ctx.event(self._last_error, level="error", source=self.name)
        self.state.save(open_file=None)

    def _end_recording(self) -> None:
        if not self._running:
            return
        self._running = False
        with contextlib.suppress(ValueError):
            self.ctx.event_listeners.remove(self._forward)
        logging.getLogger().removeHandler(self._forwarder)
        if self._path is not None:
            self._last_file = str(self._path)
        if self._recorder_over():
            self.state.save(open_file=None)
            self._stop_reason = self._stats.get("stop_reason")
        self.ctx.publish(
            "recording",
            {"state": "stopped", "file": self._last_file, "mode": self._mode,
             "stop_reason": self._stop_reason, "message": self._last_error},
        )  # fmt: skip

    def _recorder_over(self) -> bool:
        """The recorder's last stats say the recording has ended."""
        state = self._stats.get("state")
        return state is not None and RecorderState(state).over

    def _forward(self, record: dict[str, Any]) -> None:
        """An event or log record for the file's /log (no reply)."""
        if self._running:
            self.ctx.send(RECORDER_WORKER, Notify("log", record))

    def on_message(self, worker: str, message: WorkerMessage) -> None:
        if worker != RECORDER_WORKER:
            return
        if isinstance(message, Ready) and self._ready is not None and not self._ready.done():
            self._ready.set_result(message.info)
        elif isinstance(message, Stats):
            self._stats = message.values
            if self._recorder_over():
                self._finished.set()
            error = message.values.get("error")
            if error and error != self._last_error:
                self._last_error = error
                self.ctx.event(error, level="error", source=self.name)
                self.ctx.publish("recording", {"state": "error", "message": error})
                if self._ready is not None and not self._ready.done():
                    self._ready.set_exception(CommandError("failed", error))

    # -- status and shutdown -----------------------------------------------------------------------
    def status(self) -> dict[str, Any]:
        s = self._stats
        path = str(self._path) if self._running and self._path else self._last_file
        size = s.get("size_bytes", 0)
        if path:
            with contextlib.suppress(OSError, ValueError):
                size = os.stat(path).st_size
        return {
            "running": self._running,
            "file": path,
            "mode": self._mode,
            "duration_s": self._duration,
            "size_bytes": size,
            "elapsed_s": s.get("elapsed_s", 0.0),
            "rows": s.get("rows", {}),
            "frames_per_s": s.get("frames_per_s", 0.0),
            "tracks_per_s": s.get("tracks_per_s", 0.0),
            "rows_lost": s.get("rows_lost", 0),
            "back_pressure": s.get("back_pressure", False),
            "buffers": s.get("buffers", {}),
            "video": s.get("video"),
            "stop_reason": None if self._running else self._stop_reason,
            "last_error": self._last_error,
            "time": time.time(),
        }

    async def stop(self) -> None:
        if self._running:
            reason = StopReason.ERROR if self._last_error else StopReason.USER
            await self._finish(reason)
        await self._wait_watcher()
