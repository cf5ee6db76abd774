"""Shared-memory buffers: bulk data (frames, tracks, telemetry, profiles) shared by processes.

Every segment is named ``msa-{instance}-{name}[-{suffix}]``; see :mod:`._shm` for the
resource-tracker rules and :class:`SharedBuffer` for lifetime (``close`` / ``unlink``).
Images are C-order ``(height, width)`` arrays (row = y, column = x); stacks are
``(n_images, height, width)``.
"""

from ._base import SharedBuffer
from ._dtypes import int_to_uint_dtype
from ._shm import list_segments, remove_stale_segments, segment_name
from .errors import BufferOverflow, BufferUnderflow, DatasetNotReadyError
from .matrix import MatrixBuffer
from .profiles import LiveProfileBuffer
from .rois import BeadRoiBuffer
from .sweep import SweepState, ZLUTSweepDataset
from .video import RecorderBatch, RecorderOverrun, RecorderStart, StackClaim, VideoBuffer


def attach_from_description(description, locks=None):
    """Attach to the buffer described by a ``describe()`` dict (e.g. sent by the daemon)."""
    return SharedBuffer.from_description(description, locks)


__all__ = [
    "BeadRoiBuffer",
    "BufferOverflow",
    "BufferUnderflow",
    "DatasetNotReadyError",
    "LiveProfileBuffer",
    "MatrixBuffer",
    "RecorderBatch",
    "RecorderOverrun",
    "RecorderStart",
    "SharedBuffer",
    "StackClaim",
    "SweepState",
    "VideoBuffer",
    "ZLUTSweepDataset",
    "attach_from_description",
    "int_to_uint_dtype",
    "list_segments",
    "remove_stale_segments",
    "segment_name",
]
