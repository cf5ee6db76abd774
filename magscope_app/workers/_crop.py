"""Cutting square bead ROIs out of camera frames, padding the parts outside the frame."""

from __future__ import annotations

import numpy as np

from ..buffers.layouts import TrackFlags


class RoiCropper:
    """Crops ``size × size`` ROIs of a ``(height, width)`` frame, one slice copy per ROI.

    :meth:`set_rois` takes the BeadRoiBuffer's ``(ids, rois)``, ROIs ``(x0, x1, y0, y1)`` in
    frame pixels (exclusive ends) as stored by the tracking service: clipped to the frame. A ROI
    clipped at the left/top edge (``x0 == 0`` and narrower than ``size``) is placed so that it
    ends at ``x1`` (its intended origin is ``x1 - size``, possibly negative). A ROI that touches
    or crosses an edge gets :attr:`edge_flags` ``AT_EDGE``; :meth:`crop` fills its pixels outside
    the frame with the frame's median.
    """

    def __init__(self, height: int, width: int, size: int) -> None:
        self.height, self.width, self.size = int(height), int(width), int(size)
        self.set_rois(np.zeros(0, np.int64), np.zeros((0, 4), np.int64))

    def set_rois(self, ids: np.ndarray, rois: np.ndarray) -> None:
        """Use these beads from now on: ``ids`` (n,), ``rois`` (n, 4) int."""
        size = self.size
        rois = np.asarray(rois, dtype=np.int64).reshape(-1, 4)
        x0, x1, y0, y1 = rois.T
        ox = np.where((x0 == 0) & (x1 - x0 < size), x1 - size, x0)
        oy = np.where((y0 == 0) & (y1 - y0 < size), y1 - size, y0)
        edge = (ox <= 0) | (oy <= 0) | (ox + size >= self.width) | (oy + size >= self.height)
        # the part of each ROI inside the frame: (ROI rows, ROI columns, frame rows, frame columns)
        fx0, fy0 = np.maximum(ox, 0), np.maximum(oy, 0)
        fx1, fy1 = np.minimum(ox + size, self.width), np.minimum(oy + size, self.height)
        self._copies = [
            (slice(b - y, d - y), slice(a - x, c - x), slice(b, d), slice(a, c))
            for x, y, a, b, c, d in np.stack([ox, oy, fx0, fy0, fx1, fy1], axis=1).tolist()
        ]
        self._padded = bool(((fx1 - fx0 < size) | (fy1 - fy0 < size)).any())
        self.ids = np.asarray(ids, dtype=np.int64).reshape(-1)
        self.origin_x = ox.astype(np.float64)
        self.origin_y = oy.astype(np.float64)
        self.edge_flags = np.where(edge, int(TrackFlags.AT_EDGE), 0).astype(np.int64)

    def crop(self, frame: np.ndarray) -> np.ndarray:
        """ROIs ``(n, size, size)`` of ``frame``: the frame's dtype, float32 if any is padded."""
        shape = (len(self._copies), self.size, self.size)
        if self._padded:
            crops = np.full(shape, np.median(frame[::8, ::8]), dtype=np.float32)
        else:
            crops = np.empty(shape, dtype=frame.dtype)
        for crop, (roi_rows, roi_cols, frame_rows, frame_cols) in zip(
            crops, self._copies, strict=True
        ):
            crop[roi_rows, roi_cols] = frame[frame_rows, frame_cols]
        return crops
