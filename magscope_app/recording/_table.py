"""One appendable dataset of the writer: buffers blocks, writes them, hashes what it wrote."""

from __future__ import annotations

import h5py
import numpy as np

from magscope_app.recording.checksum import DatasetHasher


class Table:
    """Append-only wrapper around a resizable dataset (growing along axis 0).

    ``add`` only buffers in memory; ``write`` extends the dataset and writes the buffered rows in
    one go (one resize + one write), then feeds them to the checksum. ``flushed`` is the length as
    of the last successful file flush (what a crash or a failed write falls back to).

    ``write_at_bytes``: buffered bytes at which the writer writes this table before the next
    flush (None: the writer's ``block_bytes``).
    """

    def __init__(self, ds: h5py.Dataset, *, write_at_bytes: int | None = None) -> None:
        self.ds = ds
        self.hasher = DatasetHasher(ds.dtype)
        self.write_at_bytes = write_at_bytes
        self.length = int(ds.shape[0])
        self.flushed = self.length
        self._pending: list[np.ndarray] = []
        self.pending_rows = 0
        self.pending_bytes = 0

    def add(self, block: np.ndarray) -> None:
        """Buffer rows; ``block`` has the dataset's row shape after axis 0."""
        if len(block) == 0:
            return
        if block.shape[1:] != self.ds.shape[1:]:
            want = ", ".join(map(str, self.ds.shape[1:]))
            raise ValueError(f"{self.ds.name}: rows must have shape (n, {want}), got {block.shape}")
        self._pending.append(block)
        self.pending_rows += len(block)
        self.pending_bytes += block.nbytes

    def take_pending(self) -> np.ndarray | None:
        """Remove and return the buffered rows as one array (None if nothing is buffered)."""
        if not self._pending:
            return None
        block = self._pending[0] if len(self._pending) == 1 else np.concatenate(self._pending)
        self._pending = []
        self.pending_rows = 0
        self.pending_bytes = 0
        return block

    def write_block(self, block: np.ndarray) -> None:
        """Extend the dataset by ``block`` and write it (raises what h5py raises)."""
        n = len(block)
        self.ds.resize(self.length + n, axis=0)
        self.ds[self.length : self.length + n] = block
        self.length += n
        self.hasher.update(block)

    def write(self) -> int:
        """Write everything buffered; returns the number of rows written."""
        block = self.take_pending()
        if block is None:
            return 0
        self.write_block(block)
        return len(block)

    def mark_flushed(self) -> None:
        self.flushed = self.length

    def roll_back(self) -> None:
        """Shrink the dataset to its last flushed length (after a failed write)."""
        self._pending = []
        self.pending_rows = self.pending_bytes = 0
        if self.ds.shape[0] != self.flushed:
            self.ds.resize(self.flushed, axis=0)
        self.length = self.flushed
