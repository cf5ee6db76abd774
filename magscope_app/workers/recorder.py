"""Recorder worker: writes one recording file from the shared-memory buffers.

Started on demand by the recording service (worker name ``recorder``) for one recording; it exits
when the recording is closed. Every ``interval_s`` (a timed wait on its pipe, not a spin) it
consumes the Frames, Tracks and ``Motor_<name>`` MatrixBuffers, records ROI changes, peeks video
frames (video modes), appends everything to a :class:`~magscope_app.recording.RecordingWriter`
and lets the writer flush at least once a second. It only reads shared memory, so it never blocks
acquisition or tracking; if it falls behind it reports back-pressure (``max_fill``: the largest
share of a ring consumed in one pass) and counts rows lost to overflow (status, daemon log and the
file's ``/log``).

Requests from the manager (served by :class:`~magscope_app.workers._requests.RequestHandlers`):

* ``log`` (a :class:`~magscope_app.ipc.Notify`, no reply): ``{time, level, source, text}`` ->
  the file's /log;
* ``stop`` ``{reason}``: write the rest, close with that stop reason, reply with the final stats;
* ``stats``: reply with the current stats.

:class:`~magscope_app.ipc.Shutdown` (or the manager going away) without a ``stop`` closes the file
with stop reason "error". A :class:`~magscope_app.recording.RecordingError` (disk full, unwritable
file) ends the recording: the writer closes the file with reason "error", the worker reports the
error in its stats (``state`` "error") and exits; acquisition is not affected.
"""

from __future__ import annotations

import logging
import os
import time
from typing import Any

from ..buffers import BeadRoiBuffer, MatrixBuffer, VideoBuffer
from ..ipc import RecorderState, Shutdown, Stats
from ..recording import RecordingError, RecordingWriter, StopReason
from ..tracking import ZLUT
from ._record_sources import RoiWatcher, RowSource, VideoCapture, describe_sources
from ._requests import RequestHandlers
from ._runtime import WorkerContext

log = logging.getLogger(__name__)

STATS_INTERVAL_S = 0.5
#: Wait between passes in video modes (peeks of the newest frame).
VIDEO_INTERVAL_S = 0.01
#: Share of a ring consumed in one pass above which back-pressure is reported.
BACK_PRESSURE_FILL = 0.5


class Recorder:
    """One recording: sources, writer and counters (the worker's state)."""

    def __init__(
        self,
        ctx: WorkerContext,
        *,
        instance: str,
        locks: dict[str, Any],
        path: str,
        mode: str,
        duration_s: float | None,
        buffers: dict[str, Any],
        settings: dict[str, Any],
        hardware: dict[str, Any],
        zluts: dict[int | None, ZLUT],
        interval_s: float,
    ) -> None:
        self.ctx = ctx
        self.path = path
        self.mode = mode
        self.interval_s = VIDEO_INTERVAL_S if mode != "tracks" else interval_s
        self._attached: list[Any] = []
        self.sources: list[RowSource] = []
        self.rois: RoiWatcher | None = None
        self.video: VideoCapture | None = None
        self.state = RecorderState.STARTING
        self.error: str | None = None
        self.stop_reason: str | None = None
        self._window = (time.monotonic(), 0, 0)
        self._rates = {"frames_per_s": 0.0, "tracks_per_s": 0.0}
        self._back_pressure_warned = False
        self.over = False  # the recording is closed (or failed): the worker exits
        self.requests = RequestHandlers(
            "recorder",
            {"log": self._on_log, "stop": self._on_stop, "stats": self.stats},
            expected=(RecordingError,),
        )

        try:
            self._open(instance, locks, mode, duration_s, buffers, settings, hardware, zluts)
        except BaseException:
            self.release()
            raise

    def _open(
        self,
        instance: str,
        locks: dict[str, Any],
        mode: str,
        duration_s: float | None,
        buffers: dict[str, Any],
        settings: dict[str, Any],
        hardware: dict[str, Any],
        zluts: dict[int | None, ZLUT],
    ) -> None:
        def attach(cls: type, **kw: Any) -> Any:
            buf = cls(create=False, locks=locks, instance=instance, **kw)
            self._attached.append(buf)
            return buf

        self.sources.append(RowSource("frames", attach(MatrixBuffer, name=buffers["frames"])))
        if buffers.get("tracks"):
            self.sources.append(RowSource("tracks", attach(MatrixBuffer, name=buffers["tracks"])))
        units = {}
        for motor, entry in buffers.get("motors", {}).items():
            buf = attach(MatrixBuffer, name=entry["buffer"])
            self.sources.append(RowSource("motor", buf, motor=motor))
            units[motor] = entry.get("unit", "")
        if buffers.get("rois"):
            self.rois = RoiWatcher(attach(BeadRoiBuffer, name=buffers["rois"]))
        dropped = {s.label: s.discard_old() for s in self.sources}
        start_rois = self.rois.snapshot() if self.rois is not None else {}
        if mode != "tracks":
            video = attach(VideoBuffer)
            self.video = VideoCapture(video, "full" if mode == "full_video" else "roi", self.rois)
        self.start_time = time.time()
        self.deadline = None if duration_s is None else time.monotonic() + duration_s
        self.writer = RecordingWriter(
            self.path,
            instance=instance,
            motors=units,
            settings=settings,
            hardware=hardware,
            rois=start_rois,
            zluts=zluts,
            video=self.video.spec if self.video is not None else None,
            start_time=self.start_time,
        )
        self.state = RecorderState.RECORDING
        self.writer.log(
            f"recording started: mode {mode}, duration "
            f"{'unlimited' if duration_s is None else f'{duration_s:g} s'}, buffers "
            + ", ".join(s.label for s in self.sources)
            + f"; rows from before the start discarded: {dropped}",
            source="recorder",
        )

    # -- one pass ---------------------------------------------------------------------------------
    def drain(self) -> None:
        """Move everything new from shared memory into the writer."""
        writer = self.writer
        for source in self.sources:
            rows, lost = source.take()
            if source.kind == "frames" and self.video is not None and len(rows):
                self.video.note_frames(rows)
            source.append(writer, rows)
            if lost:
                text = (
                    f"{source.label}: {lost} rows lost to buffer overflow (recorder too slow); "
                    f"{source.lost} lost in this recording"
                )
                log.warning(text)
                writer.log(text, level="warning", source="recorder")
            if source.max_fill > BACK_PRESSURE_FILL and not self._back_pressure_warned:
                self._back_pressure_warned = True
                text = f"back-pressure: one pass read {source.max_fill:.0%} of {source.label}"
                log.warning(text)
                writer.log(text, level="warning", source="recorder")
        if self.rois is not None:
            changed, removed = self.rois.changes()
            for bead, roi in changed.items():
                writer.set_roi(bead, *roi)
            for bead in removed:
                writer.remove_roi(bead)
        if self.video is not None:
            self.video.capture(writer)
        writer.flush_if_due()

    def handle(self, message: Any) -> bool:
        """Handle one manager message; True when the recording is over."""
        if isinstance(message, Shutdown):
            self.close(StopReason.ERROR, "the daemon stopped the recorder without record_stop")
            return True
        self.requests.serve(self.ctx, message)
        if self.error is not None:
            raise RecordingError(self.path, self.error)
        return self.over

    def _on_log(
        self, text: str = "", level: str = "info", source: str = "daemon", time: Any = None
    ) -> None:
        self.writer.log(str(text), level=str(level), source=str(source), time=time)

    def _on_stop(self, reason: str = StopReason.USER.value) -> dict[str, Any]:
        """Write the rest and close with ``reason``; the final stats."""
        stop_reason = StopReason(reason)
        try:
            self.drain()
            self.close(stop_reason, None)
        except RecordingError as e:
            self.error = e.problem
            raise
        finally:
            self.over = True
        return self.stats()

    def close(self, reason: StopReason, note: str | None) -> None:
        lost = {s.label: s.lost for s in self.sources}
        summary = f"recording stopped ({reason.value}); rows lost to buffer overflow: {lost}"
        if self.video is not None:
            summary += (
                f"; video frames captured {self.video.captured}, "
                f"not captured (between peeks) {self.video.missed}"
            )
        if note:
            self.writer.log(note, level="warning", source="recorder")
        self.writer.log(summary, source="recorder")
        self.writer.close(reason)
        self.stop_reason = reason.value
        self.state = RecorderState.FINISHED

    # -- reporting --------------------------------------------------------------------------------
    def stats(self) -> dict[str, Any]:
        w = self.writer.stats() if not self.writer.closed else {}
        frames = next(s for s in self.sources if s.kind == "frames")
        tracks = next((s for s in self.sources if s.kind == "tracks"), None)
        now = time.monotonic()
        t0, f0, r0 = self._window
        if now - t0 >= STATS_INTERVAL_S:
            n_tracks = tracks.rows_read if tracks else 0
            self._rates = {
                "frames_per_s": (frames.rows_read - f0) / (now - t0),
                "tracks_per_s": (n_tracks - r0) / (now - t0),
            }
            self._window = (now, frames.rows_read, n_tracks)
        out: dict[str, Any] = {
            "state": self.state,
            "file": self.path,
            "size_bytes": _size(self.path),
            "elapsed_s": time.time() - self.start_time,
            "rows": {"frames": frames.rows_read, "tracks": tracks.rows_read if tracks else 0},
            "buffers": describe_sources(self.sources),
            "rows_lost": sum(s.lost for s in self.sources),
            "back_pressure": max(s.max_fill for s in self.sources) > BACK_PRESSURE_FILL,
            "seconds_since_flush": w.get("seconds_since_flush"),
            "stop_reason": self.stop_reason,
            "error": self.error,
            **self._rates,
        }
        if self.video is not None:
            out["video"] = {
                "captured": self.video.captured,
                "not_captured": self.video.missed,
                "beads_not_cropped": self.video.beads_not_cropped,
            }
        return out

    def release(self) -> None:
        self.video = None
        for buf in self._attached:
            buf.close()
        self._attached.clear()


def _size(path: str) -> int:
    try:
        return os.stat(path).st_size
    except OSError:
        return 0


def run(ctx: WorkerContext, **kwargs: Any) -> None:
    """Worker job: record until ``stop``, the duration, an error or Shutdown; then exit."""
    try:
        recorder = Recorder(ctx, **kwargs)
    except (RecordingError, ValueError, FileNotFoundError) as e:
        log.error("recording not started: %s", e)
        ctx.send(
            Stats(ctx.name, {"state": RecorderState.ERROR, "error": f"recording not started: {e}"})
        )
        return
    try:
        _record(ctx, recorder)
    except RecordingError as e:
        recorder.state, recorder.error = RecorderState.ERROR, str(e)
        recorder.stop_reason = StopReason.ERROR.value
        log.error("%s", e)
    finally:
        final = recorder.stats()
        recorder.release()
        ctx.send(Stats(ctx.name, final))


def _record(ctx: WorkerContext, recorder: Recorder) -> None:
    ctx.ready(file=recorder.path, mode=recorder.mode)
    ctx.send(Stats(ctx.name, recorder.stats()))
    last_stats = time.monotonic()
    while True:
        timeout = recorder.interval_s
        if recorder.deadline is not None:
            timeout = max(0.0, min(timeout, recorder.deadline - time.monotonic()))
        message = ctx.receive(timeout=timeout)
        while message is not None:
            if recorder.handle(message):
                return
            message = ctx.receive(timeout=0)
        recorder.drain()
        if recorder.deadline is not None and time.monotonic() >= recorder.deadline:
            recorder.close(StopReason.DURATION_REACHED, None)
            return
        if time.monotonic() - last_stats >= STATS_INTERVAL_S:
            ctx.send(Stats(ctx.name, recorder.stats()))
            last_stats = time.monotonic()
