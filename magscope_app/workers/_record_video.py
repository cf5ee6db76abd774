"""The video of a recording: every frame the camera stored, through the VideoBuffer's recorder
cursor.

Design (tracking never waits for the disk; the camera is never held back by it):

* The VideoBuffer has a second consumer cursor, the recorder's, independent of the tracking
  workers' claims (see :class:`~magscope_app.buffers.VideoBuffer`). Each pass copies the frames
  stored since the last pass out of shared memory with no lock held (whole frames, or the bead
  ROI crops), confirms the copy with ``advance_recorder`` (which frees the slots and refuses a
  copy the camera overwrote meanwhile) and only then appends the copy to the file. The disk
  therefore never holds a ring slot; the ring (``[recording] video_buffer_seconds``) absorbs
  the disk's hiccups.
* If the disk stays slower than the stream until the recorder is a whole ring behind, the camera
  stores the next frame anyway and the recorder's next call raises
  :class:`~magscope_app.buffers.RecorderOverrun`: the recording stops with that error, while
  acquisition and tracking go on. There is no gap that the recording does not own up to.

* A frame the camera lost before the ring (the ring full because tracking is slower than the
  stream, or skipped by the camera) is a gap in the frame counters: it also stops the recording
  (:class:`VideoGap`), with the frames missing, rather than leave a gap in a running recording.

So the file's ``/video/index`` lists every frame of the camera from the start of the recording to
its end, in order, contiguous; or the recording ends with the reason.

ROI video: the crop of each bead whose ROI is in the BeadRoiBuffer when the frame is copied,
``crop_size`` square (the tracking ROI size when the recording started; a later change of the ROI
size keeps that crop size), placed like the tracking workers place it (:class:`RoiCropper`), with
its origin (x0, y0) in the frame; pixels outside the frame are 0.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from ..buffers import RecorderBatch, VideoBuffer
from ..recording import RecordingWriter, VideoSpec
from ._crop import RoiCropper
from ._record_sources import RoiWatcher

#: Largest batch copied at once (bytes of frames).
BATCH_BYTES = 32 * 2**20


class VideoGap(Exception):
    """Frames ``first`` … ``first + count - 1`` never reached the video ring (the camera lost
    them); every frame before them is in the file."""

    def __init__(self, first: int, count: int) -> None:
        self.first, self.count = first, count
        super().__init__(f"frames {first} to {first + count - 1} missing")


class VideoRecording:
    """The recorder's cursor on the VideoBuffer and what it has written.

    ``mode``: "full" or "roi"; ``crop_size``: ROI crop side (px, "roi" only);
    ``write_delay_s``: seconds slept per frame written (tests: a disk slower than the stream).
    Raises ValueError for ROI video without bead ROIs.
    """

    def __init__(
        self,
        video: VideoBuffer,
        mode: str,
        rois: RoiWatcher | None,
        *,
        crop_size: int | None = None,
        compression: str | None = None,
        write_delay_s: float = 0.0,
    ) -> None:
        self.video = video
        self.ring_frames = video.n_total_images
        self.mode = mode
        self.rois = rois
        self.write_delay_s = float(write_delay_s)
        self.frames_written = 0
        self.crops_written = 0
        self.max_fill = 0.0
        #: True when the last pump ran out of time with frames left (call again at once).
        self.behind = False
        self._max_batch = max(1, BATCH_BYTES // video.image_size)
        self._roi_key: Any = None
        self._placed: Any = None
        if mode == "full":
            self.spec = VideoSpec("full", video.image_shape, str(video.dtype), compression)
        else:
            if rois is None or not rois.current:
                raise ValueError("ROI video needs at least one bead ROI (add beads first)")
            if crop_size is None:
                crop_size = max(max(r[1] - r[0], r[3] - r[2]) for r in rois.current.values())
            self.crop_size = int(crop_size)
            shape = (self.crop_size, self.crop_size)
            self.spec = VideoSpec("roi", shape, str(video.dtype), compression)
        start = video.attach_recorder()
        self._next_index = start.index  # ring index of the next frame to write
        #: Frame number of the newest frame before the recording (-1: none); then of the newest
        #: frame written.
        self.last_frame = start.previous_frame_number
        self.first_frame_after = start.previous_frame_number

    def pump(self, writer: RecordingWriter, budget_s: float | None, *, final: bool = False) -> int:
        """Copy and write the frames stored since the last call, for about ``budget_s`` s at
        most (None: no limit); ``final``: only the frames stored before this call (a stop does
        not chase the stream). Returns the frames written. Raises RecorderOverrun when the
        camera overran the cursor, VideoGap when frames are missing before the next one (the
        frames before either are in the file)."""
        deadline = None if budget_s is None else time.monotonic() + budget_s
        stop_at = self.video.frames_written if final else None
        self.behind = False
        done = 0
        while True:
            limit = self._max_batch
            if stop_at is not None:
                limit = min(limit, stop_at - self._next_index)
                if limit <= 0:
                    break
            batch = self.video.recorder_batch(limit)
            if batch is None:
                break
            gap = self._first_gap(batch.frame_numbers)
            if gap == 0:
                batch.frames = None
                missing = int(batch.frame_numbers[0]) - self.last_frame - 1
                raise VideoGap(self.last_frame + 1, missing)
            if gap is not None:  # write the frames before the gap; the next call raises
                batch = RecorderBatch(
                    batch.first, batch.frames[:gap], batch.timestamps[:gap],
                    batch.frame_numbers[:gap],
                )  # fmt: skip
            self.max_fill = max(self.max_fill, self.video.recorder_fill())
            if self.mode == "full":
                assert batch.frames is not None
                frames = batch.frames.copy()
                self.video.advance_recorder(batch)
                writer.append_video(frames, batch.timestamps, batch.frame_numbers)
            else:
                crops, rows = self._crop(batch)
                self.video.advance_recorder(batch)
                writer.append_roi_video(batch.timestamps, batch.frame_numbers, crops, rows)
                self.crops_written += len(crops)
            done += len(batch)
            self.frames_written += len(batch)
            self._next_index = batch.first + len(batch)
            self.last_frame = int(batch.frame_numbers[-1])
            if self.write_delay_s:
                time.sleep(self.write_delay_s * len(batch))
            if deadline is not None and time.monotonic() >= deadline:
                self.behind = True
                break
        return done

    def _first_gap(self, numbers: np.ndarray) -> int | None:
        """Index of the first frame in ``numbers`` that does not follow the one before it (the
        last frame written, or before the recording: the frame before the cursor); None."""
        previous = self.last_frame
        if previous < 0:  # no frame before the recording: the first one starts the count
            previous = int(numbers[0]) - 1
        steps = np.diff(numbers, prepend=previous)
        gaps = np.flatnonzero(steps != 1)
        return int(gaps[0]) if len(gaps) else None

    def _crop(self, batch: RecorderBatch) -> tuple[np.ndarray, np.ndarray]:
        """Crops (k * n, c, c) of the n current beads in the k frames, and their rows
        (frame, bead, x0, y0), frame by frame, beads by id."""
        assert batch.frames is not None
        ids, origins, copies = self._placement()
        k, n, c = len(batch), len(ids), self.crop_size
        crops = np.zeros((k, n, c, c), dtype=batch.frames.dtype)
        for i, (crop_part, frame_part) in enumerate(copies):
            crops[(slice(None), i, *crop_part)] = batch.frames[(slice(None), *frame_part)]
        rows = np.empty((k, n, 4))
        rows[:, :, 0] = batch.frame_numbers[:, None]
        rows[:, :, 1] = ids
        rows[:, :, 2:] = origins
        return crops.reshape(k * n, c, c), rows.reshape(k * n, 4)

    def _placement(self) -> tuple[np.ndarray, np.ndarray, list[tuple[tuple, tuple]]]:
        """(bead ids (n,), crop origins (n, 2) = x0, y0, the copies (crop slices, frame
        slices) of the parts inside the frame) for the current ROIs, cached until they change."""
        assert self.rois is not None
        current = self.rois.current
        if self._roi_key is not current:
            height, width = self.video.image_shape
            c = self.crop_size
            ids = np.array(sorted(current), dtype=np.int64)
            cropper = RoiCropper(height, width, c)
            cropper.set_rois(ids, np.array([current[b] for b in ids.tolist()]).reshape(-1, 4))
            origins = np.column_stack([cropper.origin_x, cropper.origin_y]).astype(np.int64)
            copies = []
            for x, y in origins.tolist():
                fx0, fy0, fx1, fy1 = max(x, 0), max(y, 0), min(x + c, width), min(y + c, height)
                fx1, fy1 = max(fx1, fx0), max(fy1, fy0)  # a crop wholly outside: nothing
                crop_part = (slice(fy0 - y, fy1 - y), slice(fx0 - x, fx1 - x))
                copies.append((crop_part, (slice(fy0, fy1), slice(fx0, fx1))))
            self._placed = (ids, origins, copies)
            self._roi_key = current
        return self._placed

    def stats(self) -> dict[str, Any]:
        """Counters for the recording status."""
        return {
            "frames": self.frames_written,
            "rois": self.crops_written,
            "last_frame": self.last_frame,
            "ring_fill": round(self.video.recorder_fill(), 4),
            "ring_fill_max": round(self.max_fill, 4),
            "ring_frames": self.ring_frames,
        }

    def close(self) -> None:
        """Remove the recorder cursor."""
        self.video.detach_recorder()
