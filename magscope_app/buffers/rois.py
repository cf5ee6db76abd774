"""BeadRoiBuffer: the bead ROIs (one fixed row per bead id) shared with the tracking workers."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from multiprocessing.synchronize import Lock

import numpy as np

from . import _shm
from ._base import HEADER_NBYTES, SharedBuffer, shm_view
from .errors import BufferOverflow

# Header fields (int64).
_CAPACITY = 2
_SEQ = 3  # odd while a change is in progress; version = seq // 2
_ACTIVE = 4
_MAX_ID_PLUS_ONE = 5

Roi = tuple[int, int, int, int]


class BeadRoiBuffer(SharedBuffer):
    """Bead regions of interest, one row per bead id (``0 <= id < capacity``).

    A ROI is ``(x0, x1, y0, y1)`` in pixels of the full camera frame, x = column, y = row,
    ``x1`` and ``y1`` exclusive: the crop is ``frame[y0:y1, x0:x1]``.

    Segments: ``msa-{instance}-{name}`` (int64 ``(capacity, 4)`` ROIs) and
    ``msa-{instance}-{name}-meta`` (header and a uint8 occupancy flag per id).

    Changes take the lock. :attr:`version` grows by one on every change, so a tracking worker
    re-reads the ROIs only when it changed. :meth:`get_beads` and the properties are lock-free
    (sequence counter), so they also work on a handle attached without a lock.
    Bad bead ids, ids outside the capacity and bad ROIs raise ValueError naming them; nothing
    is changed then.
    """

    KIND = "BeadRoiBuffer"
    KIND_CODE = 3

    def __init__(
        self,
        *,
        create: bool,
        locks: Mapping[str, Lock] | None = None,
        capacity: int | None = None,
        name: str = "BeadRoiBuffer",
        instance: str = "default",
    ) -> None:
        self._init_common(name, instance, locks)
        self._rois: np.ndarray | None = None
        self._header: np.ndarray | None = None
        self._occupancy: np.ndarray | None = None
        if create:
            capacity = _shm.positive_int(capacity, "capacity")
            self._run_constructor(lambda: self._create(capacity))
        else:
            self._run_constructor(self._attach)

    def _create(self, capacity: int) -> None:
        self.capacity = capacity
        main = self._open_segment("", capacity * 4 * 8)
        meta = self._open_segment("meta", HEADER_NBYTES + capacity)
        self._map(main, meta)
        self._init_header(self._header, {_CAPACITY: capacity})

    def _attach(self) -> None:
        meta = self._open_segment("meta")
        header = self._header_view(meta)
        try:
            self._check_header(header, meta.name)
            self.capacity = int(header[_CAPACITY])
        finally:
            del header
        self._map(self._open_segment(""), meta)

    def _map(self, main, meta) -> None:
        self._rois = shm_view(main, np.int64, (self.capacity, 4))
        self._header = self._header_view(meta)
        self._occupancy = shm_view(meta, np.uint8, (self.capacity,), HEADER_NBYTES)

    def _drop_views(self) -> None:
        self._rois = self._header = self._occupancy = None

    def _suffixes(self) -> list[str]:
        return ["", "meta"]

    def _describe_shape(self) -> tuple[int, ...]:
        return (self.capacity, 4)

    def _describe_dtype(self) -> np.dtype:
        return np.dtype(np.int64)

    # -- lock-free reads ------------------------------------------------------------------------
    def _consistent(self, read):
        header = self._header
        for _ in _shm.retry_delays():
            before = int(header[_SEQ])
            if before & 1:
                continue
            value = read()
            if int(header[_SEQ]) == before:
                return value
        raise RuntimeError(f"{self.name}: could not read a consistent snapshot (writer stuck?)")

    @property
    def version(self) -> int:
        """Number of changes since creation."""
        self._check_open()
        return self._consistent(lambda: int(self._header[_SEQ]) // 2)

    @property
    def active_count(self) -> int:
        """Number of beads."""
        self._check_open()
        return self._consistent(lambda: int(self._header[_ACTIVE]))

    @property
    def max_id_plus_one(self) -> int:
        """Largest bead id + 1 (0 without beads)."""
        self._check_open()
        return self._consistent(lambda: int(self._header[_MAX_ID_PLUS_ONE]))

    def get_beads(self) -> tuple[np.ndarray, np.ndarray]:
        """``(ids, rois)``: int64 ``(n,)`` ids in increasing order and int64 ``(n, 4)`` ROIs
        ``(x0, x1, y0, y1)`` (copies)."""
        self._check_open()

        def read() -> tuple[np.ndarray, np.ndarray]:
            ids = np.flatnonzero(self._occupancy).astype(np.int64)
            return ids, self._rois[ids].copy()

        return self._consistent(read)

    def get_next_available_bead_id(self) -> int:
        """``max_id_plus_one`` if it is within the capacity, else the smallest free id;
        BufferOverflow when every id is taken."""
        self._check_open()

        def read() -> int:
            top = int(self._header[_MAX_ID_PLUS_ONE])
            if top < self.capacity:
                return top
            free = np.flatnonzero(self._occupancy == 0)
            return int(free[0]) if len(free) else -1

        bead_id = self._consistent(read)
        if bead_id < 0:
            raise BufferOverflow(f"{self.name}: all {self.capacity} bead ids are taken")
        return bead_id

    # -- validation -----------------------------------------------------------------------------
    def _validate_bead_id(self, bead_id: object) -> int:
        if isinstance(bead_id, bool) or not isinstance(bead_id, int | np.integer):
            raise ValueError(f"{self.name}: bead id must be an int; got {bead_id!r}")
        if not 0 <= bead_id < self.capacity:
            raise ValueError(
                f"{self.name}: bead id {bead_id} is outside 0…{self.capacity - 1} (capacity)"
            )
        return int(bead_id)

    def _normalize_ids(self, ids: Iterable[int] | int) -> np.ndarray:
        if isinstance(ids, int | np.integer):
            ids = [ids]
        return np.array([self._validate_bead_id(i) for i in ids], dtype=np.int64)

    def _normalize_bead_mapping(self, value: Mapping[int, Roi]) -> dict[int, Roi]:
        if not isinstance(value, Mapping):
            raise ValueError(f"{self.name}: beads must be a dict {{id: (x0, x1, y0, y1)}}")
        result = {}
        for bead_id, roi in value.items():
            bead = self._validate_bead_id(bead_id)
            try:
                x0, x1, y0, y1 = (int(v) for v in roi)
                exact = all(float(v) == int(v) for v in roi)
            except (TypeError, ValueError):
                exact = False
            if not exact or not (0 <= x0 < x1 and 0 <= y0 < y1):
                raise ValueError(
                    f"{self.name}: ROI of bead {bead} must be integers (x0, x1, y0, y1) with "
                    f"0 <= x0 < x1 and 0 <= y0 < y1; got {roi!r}"
                )
            result[bead] = (x0, x1, y0, y1)
        return result

    # -- changes (under the lock) ---------------------------------------------------------------
    def _change(self, method: str, apply, check=None):
        """Under the lock: ``check()`` (may raise; nothing changed), then ``apply()`` inside
        the sequence-counter window, then the derived header fields."""
        header = self._header
        with self._require_lock(method):
            if check is not None:
                check()
            header[_SEQ] += 1
            try:
                result = apply()
                occupied = np.flatnonzero(self._occupancy)
                header[_ACTIVE] = len(occupied)
                header[_MAX_ID_PLUS_ONE] = int(occupied[-1]) + 1 if len(occupied) else 0
            finally:
                header[_SEQ] += 1
        return result

    def _store(self, beads: dict[int, Roi]) -> None:
        for bead_id, roi in beads.items():
            self._rois[bead_id] = roi
            self._occupancy[bead_id] = 1

    def replace_beads(self, value: Mapping[int, Roi]) -> None:
        """Replace all beads by ``value`` ({id: (x0, x1, y0, y1)})."""
        self._check_open()
        beads = self._normalize_bead_mapping(value)

        def apply() -> None:
            self._occupancy[:] = 0
            self._rois[:] = 0
            self._store(beads)

        self._change("replace_beads", apply)

    def add_beads(self, value: Mapping[int, Roi]) -> None:
        """Add new beads; ValueError naming the ids that already exist."""
        self._check_open()
        beads = self._normalize_bead_mapping(value)

        def check() -> None:
            taken = [i for i in beads if self._occupancy[i]]
            if taken:
                raise ValueError(f"{self.name}: bead ids already exist: {sorted(taken)}")

        self._change("add_beads", lambda: self._store(beads), check)

    def update_beads(self, value: Mapping[int, Roi]) -> None:
        """Move existing beads; ValueError naming the ids that do not exist."""
        self._check_open()
        beads = self._normalize_bead_mapping(value)

        def check() -> None:
            missing = [i for i in beads if not self._occupancy[i]]
            if missing:
                raise ValueError(f"{self.name}: no beads with ids {sorted(missing)}")

        self._change("update_beads", lambda: self._store(beads), check)

    def remove_beads(self, ids: Iterable[int] | int) -> None:
        """Remove beads; ValueError naming the ids that do not exist."""
        self._check_open()
        bead_ids = self._normalize_ids(ids)

        def check() -> None:
            missing = [int(i) for i in bead_ids if not self._occupancy[i]]
            if missing:
                raise ValueError(f"{self.name}: no beads with ids {sorted(missing)}")

        def apply() -> None:
            self._occupancy[bead_ids] = 0
            self._rois[bead_ids] = 0

        self._change("remove_beads", apply, check)

    def clear_beads(self) -> None:
        """Remove all beads."""
        self._check_open()

        def apply() -> None:
            self._occupancy[:] = 0
            self._rois[:] = 0

        self._change("clear_beads", apply)

    def reorder_beads(self) -> dict[int, int]:
        """Renumber the beads 0…n-1 keeping their order; returns {old id: new id}."""
        self._check_open()

        def apply() -> dict[int, int]:
            old = np.flatnonzero(self._occupancy)
            rois = self._rois[old].copy()
            self._occupancy[:] = 0
            self._rois[:] = 0
            self._rois[: len(old)] = rois
            self._occupancy[: len(old)] = 1
            return {int(o): n for n, o in enumerate(old)}

        return self._change("reorder_beads", apply)
