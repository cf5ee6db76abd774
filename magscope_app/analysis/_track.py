"""The work of one task: re-track one chunk of a recording's video; returns the track rows.

Runs anywhere (this process, a Dask worker on another machine): it opens the recording
read-only (at the same path), reads only its chunk of frames and writes nothing. Each frame is
cut into bead ROIs by the tracking worker's own :class:`RoiCropper` (the same edge handling and
``AT_EDGE`` flags) and tracked with :func:`~magscope_app.tracking.track_xyz`, as live tracking
does. Unlike live tracking, every fit starts from the first guess rather than from the bead's
fit in the previous frame, so the result does not depend on how frames are split into chunks.
"""

from __future__ import annotations

import numpy as np

from magscope_app.buffers.layouts import TRACK_COLUMNS
from magscope_app.recording import open_recording
from magscope_app.recording.reader import VideoChunk
from magscope_app.tracking import ZLUT, ZLUTSet, track_xyz
from magscope_app.workers._crop import RoiCropper

from ._job import RetrackError, RetrackJob

#: The LUTs of the last few jobs (key -> ZLUTSet or None), shared by the threads of a worker.
_LUT_CACHE: dict[str, ZLUTSet | None] = {}
_CACHED_JOBS = 4


def _lut_set(job: RetrackJob) -> ZLUTSet | None:
    """The job's LUTs as a ZLUTSet, built once per process and job."""
    if job.key in _LUT_CACHE:
        return _LUT_CACHE[job.key]
    luts = {b: ZLUT(z, p, job.settings) for b, (z, p) in job.luts.items()}
    per_bead = {b: lut for b, lut in luts.items() if b is not None}
    lut_set = ZLUTSet(per_bead, luts.get(None)) if luts else None
    if len(_LUT_CACHE) >= _CACHED_JOBS:
        _LUT_CACHE.clear()
    _LUT_CACHE[job.key] = lut_set
    return lut_set


def _frame_from_crops(video: VideoChunk, k: int, shape: tuple[int, int]) -> np.ndarray:
    """A camera frame rebuilt from the ROI crops of video frame ``k``; pixels no crop covers
    hold the crops' median (as the live cropper pads ROIs that leave the frame)."""
    assert video.beads is not None and video.origins is not None
    used = np.flatnonzero(~np.isnan(video.origins[k, :, 0]))
    crops = video.frames[k]
    fill = np.median(crops[used, ::4, ::4]) if len(used) else 0
    frame = np.full(shape, fill, dtype=crops.dtype)
    h, w = crops.shape[1:]
    for slot in used.tolist():
        x0, y0 = (int(v) for v in video.origins[k, slot])  # may lie outside the frame
        top, left = max(y0, 0), max(x0, 0)
        bottom, right = min(y0 + h, shape[0]), min(x0 + w, shape[1])
        if bottom > top and right > left:
            part = crops[slot, top - y0 : bottom - y0, left - x0 : right - x0]
            frame[top:bottom, left:right] = part
    return frame


def track_chunk(job: RetrackJob, index: int) -> np.ndarray:
    """Track rows ``(frames × beads, 9)`` of chunk ``index`` of ``job`` (TRACK_COLUMNS; frame
    order, by bead id within a frame), as live tracking writes them."""
    chunk = job.chunks[index]
    epoch = job.epochs[chunk.epoch]
    frames = f"video frames {chunk.start}:{chunk.stop}"
    try:
        with open_recording(job.path) as reader:
            video = reader.video_chunk(chunk.start, chunk.stop)
    except OSError as exc:  # a damaged chunk, or the file is gone
        raise RetrackError(f"cannot read {frames}: {exc}") from None
    if len(video) != chunk.stop - chunk.start:
        raise RetrackError(f"{frames} are missing from the file")
    ids, n = epoch.ids, len(epoch.ids)
    rows = np.empty((len(video) * n, len(TRACK_COLUMNS)))
    if n == 0:
        return rows
    cropper = RoiCropper(*job.frame_shape, epoch.size)
    cropper.set_rois(ids, epoch.rois)
    luts, px = _lut_set(job), job.pixel_size_nm
    for k in range(len(video)):
        if job.mode == "full":
            frame = video.frames[k]
        else:
            frame = _frame_from_crops(video, k, job.frame_shape)
        result = track_xyz(cropper.crop(frame), luts, bead_ids=ids, settings=job.settings)
        x = result.x + cropper.origin_x
        y = result.y + cropper.origin_y
        block = rows[k * n : (k + 1) * n]
        block[:, 0] = video.time[k]
        block[:, 1] = video.frame[k]
        block[:, 2] = ids
        block[:, 3] = x * px
        block[:, 4] = y * px
        block[:, 5] = result.z
        block[:, 6] = x
        block[:, 7] = y
        block[:, 8] = result.flags | cropper.edge_flags
    return rows
