"""Recorder worker: writes one recording file from the shared-memory buffers.

Started on demand by the recording service (worker name ``recorder``) for one recording; it exits
when the recording is closed. Every ``interval_s`` (a timed wait on its pipe, not a spin) it
consumes the Frames, Tracks and ``Motor_<name>`` MatrixBuffers, records ROI changes, writes every
new video frame or bead crop (video modes, through the VideoBuffer's recorder cursor: see
``_record_video``), appends everything to a :class:`~magscope_app.recording.RecordingWriter`
and lets the writer flush at least once a second. It only reads shared memory, so it never blocks
acquisition or tracking; if it falls behind it reports back-pressure (``max_fill``: the largest
share of a ring consumed in one pass) and counts rows lost to overflow (status, daemon log and the
file's ``/log``). Video never has a gap while it runs: if the disk is slower than the stream until
the video ring is full, or the camera lost frames before the ring, the recording stops with stop
reason "error" and that cause.

In the video modes ``/frames`` lists the same frames as ``/video/index`` (rows of frames before
the recording's first video frame are dropped; at the end the recorder waits for the rows of the
last video frame and drops later ones), unless the recording stopped on an error.

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

from ..buffers import BeadRoiBuffer, MatrixBuffer, RecorderOverrun, VideoBuffer
from ..ipc import RecorderState, Shutdown, Stats
from ..recording import RecordingError, RecordingWriter, StopReason
from ..tracking import ZLUT
from ._record_sources import RoiWatcher, RowSource, describe_sources
from ._record_video import VideoGap, VideoRecording
from ._requests import RequestHandlers
from ._runtime import WorkerContext

log = logging.getLogger(__name__)

STATS_INTERVAL_S = 0.5
#: Wait between passes in video modes.
VIDEO_INTERVAL_S = 0.02
#: Longest video copying in one pass (s), so the pipe is answered meanwhile.
VIDEO_PASS_S = 0.25
#: Longest wait at the end for the Frames rows of the last video frame (s).
FRAMES_ROW_WAIT_S = 0.5
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
        video: dict[str, Any] | None = None,
    ) -> None:
        self.ctx = ctx
        self.path = path
        self.mode = mode
        self.interval_s = VIDEO_INTERVAL_S if mode != "tracks" else interval_s
        self._attached: list[Any] = []
        self.sources: list[RowSource] = []
        self.rois: RoiWatcher | None = None
        self.video: VideoRecording | None = None
        self.state = RecorderState.STARTING
        self.error: str | None = None
        self.stop_reason: str | None = None
        self._window = (time.monotonic(), 0, 0)
        self._rates = {"frames_per_s": 0.0, "tracks_per_s": 0.0}
        self._back_pressure_warned = False
        self.over = False  # the recording is closed (or failed): the worker exits
        self._stop_error: RecordingError | None = None
        self.requests = RequestHandlers(
            "recorder",
            {"log": self._on_log, "stop": self._on_stop, "stats": self.stats},
            expected=(RecordingError,),
        )

        try:
            self._open(
                instance, locks, mode, duration_s, buffers, settings, hardware, zluts, video or {}
            )
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
        video_options: dict[str, Any],
    ) -> None:
        def attach(cls: type, **kw: Any) -> Any:
            buf = cls(create=False, locks=locks, instance=instance, **kw)
            self._attached.append(buf)
            return buf

        self.sources.append(RowSource("frames", attach(MatrixBuffer, name=buffers["frames"])))
        if buffers.get("tracks"):
            self.sources.append(RowSource("tracks", attach(MatrixBuffer, name=buffers["tracks"])))
        if buffers.get("drift"):
            self.sources.append(RowSource("drift", attach(MatrixBuffer, name=buffers["drift"])))
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
            self.video = VideoRecording(
                attach(VideoBuffer),
                "full" if mode == "full_video" else "roi",
                self.rois,
                crop_size=video_options.get("crop_size"),
                compression=video_options.get("compression"),
                write_delay_s=video_options.get("write_delay_s", 0.0),
            )
            frames = next(s for s in self.sources if s.kind == "frames")
            frames.after_frame = self.video.first_frame_after  # /frames matches /video/index
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
            + f"; rows from before the start discarded: {dropped}"
            + (self._video_note() if self.video is not None else ""),
            source="recorder",
        )

    def _video_note(self) -> str:
        assert self.video is not None
        spec = self.video.spec
        return (
            f"; video {spec.mode} {spec.shape[0]}x{spec.shape[1]} {spec.dtype}, compression "
            f"{spec.compression or 'none'}, every frame after frame "
            f"{self.video.first_frame_after} (video ring of {self.video.ring_frames} frames)"
        )

    # -- one pass ---------------------------------------------------------------------------------
    def drain(self, final: bool = False) -> None:
        """Move everything new from shared memory into the writer (``final``: all the video
        up to now, and the Frames rows that go with it). Video that cannot go on complete ends
        the recording (:meth:`stop_video`); a RecordingError propagates."""
        writer = self.writer
        for source in self.sources:
            rows, lost = source.take()
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
            try:
                self.video.pump(writer, None if final else VIDEO_PASS_S, final=final)
            except (RecorderOverrun, VideoGap) as e:
                self.stop_video(e)
                return
            if final:
                self._frames_rows_up_to(self.video.last_frame)
        writer.flush_if_due()

    def _frames_rows_up_to(self, last: int) -> None:
        """Write the Frames rows up to frame ``last`` (waiting briefly for the camera to write
        them), none after it: ``/frames`` then lists the frames of ``/video/index``."""
        frames = next(s for s in self.sources if s.kind == "frames")
        deadline = time.monotonic() + FRAMES_ROW_WAIT_S
        newest = -1
        while True:
            rows, _lost = frames.take()
            frames.append(self.writer, rows[rows[:, 1] <= last])
            newest = max(newest, int(rows[:, 1].max())) if len(rows) else newest
            if newest >= last or time.monotonic() >= deadline:
                return
            time.sleep(0.002)

    def stop_video(self, problem: RecorderOverrun | VideoGap) -> None:
        """The video cannot go on complete: close the file (stop reason "error") with the cause;
        acquisition and tracking are not affected."""
        assert self.video is not None
        if isinstance(problem, RecorderOverrun):
            cause = (
                "the disk is slower than the stream: the recorder fell "
                f"{problem.frames_behind} frames behind the camera (the whole video ring)"
            )
            advice = (
                "Record to a faster disk, with faster or no video compression, or with a larger "
                "ring ([recording] video_buffer_seconds)"
            )
        else:
            cause = (
                f"the camera lost {problem.count} frame(s) (from frame {problem.first} on) "
                "before they reached the video ring: the ring was full because tracking is "
                "slower than the stream, or the camera skipped them"
            )
            advice = "Track fewer beads, add tracking workers or lower the frame rate"
        text = (
            f"video recording stopped: {cause}; the file holds every frame up to frame "
            f"{self.video.last_frame}. Acquisition and tracking go on. {advice}"
        )
        log.error("%s", text)
        self.close(StopReason.ERROR, text)
        self.state, self.error = RecorderState.ERROR, text

    def handle(self, message: Any) -> bool:
        """Handle one manager message; True when the recording is over."""
        if isinstance(message, Shutdown):
            self.close(StopReason.ERROR, "the daemon stopped the recorder without record_stop")
            return True
        self.requests.serve(self.ctx, message)
        if self._stop_error is not None:
            raise self._stop_error
        return self.over

    def _on_log(
        self, text: str = "", level: str = "info", source: str = "daemon", time: Any = None
    ) -> None:
        self.writer.log(str(text), level=str(level), source=str(source), time=time)

    def _on_stop(self, reason: str = StopReason.USER.value) -> dict[str, Any]:
        """Write the rest and close with ``reason``; the final stats."""
        stop_reason = StopReason(reason)
        try:
            self.finish(stop_reason)
        except RecordingError as e:
            self._stop_error = e  # answered to the manager, then ends the worker
            raise
        finally:
            self.over = True
        return self.stats()

    def finish(self, reason: StopReason) -> None:
        """Write everything up to now and close with ``reason`` (unless :meth:`stop_video` already
        closed the recording with an error)."""
        self.drain(final=True)
        if not self.writer.closed:
            self.close(reason, None)

    def close(self, reason: StopReason, note: str | None) -> None:
        lost = {s.label: s.lost for s in self.sources}
        summary = f"recording stopped ({reason.value}); rows lost to buffer overflow: {lost}"
        if self.video is not None:
            v = self.video.stats()
            summary += (
                f"; video: {v['frames']} frames written (frames {self.video.first_frame_after + 1}"
                f" to {v['last_frame']}), {v['rois']} ROI crops, video ring at most "
                f"{v['ring_fill_max']:.0%} full"
            )
        if note:
            self.writer.log(note, level="error", source="recorder")
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
            "back_pressure": max(
                [s.max_fill for s in self.sources]
                + [self.video.max_fill if self.video is not None else 0.0]
            )
            > BACK_PRESSURE_FILL,
            "seconds_since_flush": w.get("seconds_since_flush"),
            "stop_reason": self.stop_reason,
            "error": self.error,
            **self._rates,
        }
        if self.video is not None:
            out["video"] = self.video.stats()
        return out

    def release(self) -> None:
        if self.video is not None:
            self.video.close()
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
        if recorder.video is not None and recorder.video.behind:
            timeout = 0.0  # frames are waiting: only look at the pipe
        if recorder.deadline is not None:
            timeout = max(0.0, min(timeout, recorder.deadline - time.monotonic()))
        message = ctx.receive(timeout=timeout)
        while message is not None:
            if recorder.handle(message):
                return
            message = ctx.receive(timeout=0)
        recorder.drain()
        if recorder.writer.closed:  # stopped by stop_video
            return
        if recorder.deadline is not None and time.monotonic() >= recorder.deadline:
            recorder.finish(StopReason.DURATION_REACHED)
            return
        if time.monotonic() - last_stats >= STATS_INTERVAL_S:
            ctx.send(Stats(ctx.name, recorder.stats()))
            last_stats = time.monotonic()
