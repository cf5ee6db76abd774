"""LiveProfileBuffer: the latest radial profile of one bead, for live display."""

from __future__ import annotations

from collections.abc import Mapping
from multiprocessing.synchronize import Lock
from typing import Any

import numpy as np

from . import _shm
from ._base import SharedBuffer
from .matrix import MatrixBuffer

_META_COLUMNS = 3  # timestamp, bead_id, profile_length


class LiveProfileBuffer:
    """One row ``[timestamp (s), bead_id, profile_length, samples…, NaN padding]``.

    Wraps a one-row :class:`MatrixBuffer` (segments ``msa-{instance}-{name}`` and
    ``…-meta``) and hides the padding: profiles up to ``profile_capacity`` samples are
    written at their native length. Writing takes the lock; reading is lock-free.
    """

    KIND = "LiveProfileBuffer"

    def __init__(
        self,
        *,
        create: bool,
        locks: Mapping[str, Lock] | None = None,
        profile_capacity: int | None = None,
        name: str = "LiveProfileBuffer",
        instance: str = "default",
    ) -> None:
        shape = None
        if create:
            capacity = _shm.positive_int(profile_capacity, "profile_capacity")
            shape = (1, _META_COLUMNS + capacity)
        self._buffer = MatrixBuffer(
            create=create, locks=locks, name=name, shape=shape, instance=instance
        )
        self.profile_capacity: int = self._buffer.columns - _META_COLUMNS
        self.name = name
        self.instance = instance

    @property
    def shape(self) -> tuple[int, int]:
        """Shape of the stored row block: ``(1, 3 + profile_capacity)``."""
        return self._buffer.shape

    @property
    def owner(self) -> bool:
        return self._buffer.owner

    @property
    def closed(self) -> bool:
        return self._buffer.closed

    @property
    def segments(self) -> list[str]:
        return self._buffer.segments

    def clear(self) -> None:
        """Reset the row to NaN."""
        self._buffer.clear()

    def write_profile(self, timestamp: float, bead_id: int, profile: np.ndarray) -> None:
        """Store the latest profile (1-D, at most ``profile_capacity`` samples) of a bead."""
        samples = np.asarray(profile, dtype=np.float64)
        if samples.ndim != 1 or len(samples) > self.profile_capacity:
            raise ValueError(
                f"{self.name}: profile must be 1-D with at most {self.profile_capacity} "
                f"samples; got shape {samples.shape}"
            )
        row = np.full(self.shape[1], np.nan)
        row[:_META_COLUMNS] = (float(timestamp), int(bead_id), len(samples))
        row[_META_COLUMNS : _META_COLUMNS + len(samples)] = samples
        self._buffer.write(row)

    def peek_unsorted(self) -> np.ndarray:
        """Copy of the stored row block ``(1, 3 + profile_capacity)`` (NaN when empty)."""
        return (
            self._buffer.peek_sorted()
            if self._buffer.total_rows_written
            else np.full(self.shape, np.nan)
        )

    def peek_profile(self) -> tuple[float, int, np.ndarray] | None:
        """``(timestamp, bead_id, profile)`` of the latest profile, None when empty/cleared."""
        row = self.peek_unsorted()[0]
        if np.isnan(row[2]):
            return None
        return float(row[0]), int(row[1]), row[_META_COLUMNS : _META_COLUMNS + int(row[2])].copy()

    def describe(self) -> dict[str, Any]:
        """As :meth:`SharedBuffer.describe`, with ``kind`` ``"LiveProfileBuffer"``."""
        return {**self._buffer.describe(), "kind": self.KIND}

    @classmethod
    def _attach_described(
        cls, description: Mapping[str, Any], locks: Mapping[str, Lock] | None
    ) -> LiveProfileBuffer:
        return cls(
            create=False, locks=locks, instance=description["instance"], name=description["name"]
        )

    def close(self) -> None:
        self._buffer.close()

    def unlink(self) -> None:
        self._buffer.unlink()

    def __enter__(self) -> LiveProfileBuffer:
        return self

    def __exit__(self, *exc: object) -> None:
        self._buffer.__exit__(*exc)


SharedBuffer._kinds[LiveProfileBuffer.KIND] = LiveProfileBuffer  # type: ignore[assignment]
