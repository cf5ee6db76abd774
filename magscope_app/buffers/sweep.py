"""ZLUTSweepDataset: a temporary, append-only shared-memory table of Z-LUT sweep profiles."""

from __future__ import annotations

from collections.abc import Mapping
from enum import IntEnum
from multiprocessing.synchronize import Lock
from typing import Any

import numpy as np

from . import _shm
from ._base import H_MAGIC, HEADER_NBYTES, MAGIC, SharedBuffer, shm_view
from .errors import BufferOverflow, DatasetNotReadyError

# Header fields (int64).
_SCHEMA, _STATE, _CAPACITY, _PROFILE_LENGTH = 2, 3, 4, 5
_N_STEPS, _N_BEADS, _PROFILES_PER_BEAD, _COUNT = 6, 7, 8, 9
_SCHEMA_VERSION = 1


class SweepState(IntEnum):
    """Life cycle of a :class:`ZLUTSweepDataset` (stored in shared memory)."""

    ABSENT = 0
    CREATING = 1
    READY = 2
    CAPTURING = 3
    COMPLETE = 4
    DETACHING = 5
    FAILED = 6
    DESTROYED = 7


_TRANSITIONS: dict[SweepState, set[SweepState]] = {
    SweepState.ABSENT: {SweepState.CREATING},
    SweepState.CREATING: {SweepState.READY, SweepState.FAILED},
    SweepState.READY: {SweepState.CAPTURING, SweepState.DETACHING, SweepState.FAILED},
    SweepState.CAPTURING: {SweepState.COMPLETE, SweepState.DETACHING, SweepState.FAILED},
    SweepState.COMPLETE: {SweepState.DETACHING, SweepState.FAILED},
    SweepState.DETACHING: {SweepState.DESTROYED, SweepState.FAILED},
    SweepState.FAILED: {SweepState.DETACHING, SweepState.DESTROYED},
    SweepState.DESTROYED: set(),
}

_COLUMNS = (  # name, dtype of the per-row metadata columns (segment "-meta", in this order)
    ("bead_ids", np.int64),
    ("step_indices", np.int64),
    ("timestamps", np.float64),
    ("motor_z_values", np.float64),
    ("valid_flags", np.bool_),
)


class ZLUTSweepDataset(SharedBuffer):
    """Profiles captured during a Z-LUT sweep: one row per (bead, step, repeat).

    Each row holds a bead id, a step index (``0 <= step < n_steps``), a timestamp (s), the
    motor (focus) z of the step (the motor's unit, normally nm), a validity flag and a float64
    radial profile of ``profile_length`` samples. Rows are appended by :meth:`write` and never
    wrap or overwrite: writing past ``capacity`` raises BufferOverflow and stores nothing.

    Segments: ``msa-{instance}-{name}`` (profiles ``(capacity, profile_length)``), ``…-info``
    (header with the state) and ``…-meta`` (the per-row columns).

    The workflow owner creates it with :meth:`create` (state CREATING → READY) and destroys it
    with :meth:`destroy`; peers :meth:`attach` (FileNotFoundError if it does not exist,
    DatasetNotReadyError while CREATING or DESTROYED). States move only along
    ``READY → CAPTURING → COMPLETE → DETACHING → DESTROYED`` with FAILED reachable from every
    live state (see :data:`_TRANSITIONS`); :meth:`set_state` refuses anything else.
    """

    KIND = "ZLUTSweepDataset"
    KIND_CODE = 5
    NAME = "ZLUTSweepDataset"
    STATE_ABSENT = SweepState.ABSENT
    STATE_CREATING = SweepState.CREATING
    STATE_READY = SweepState.READY
    STATE_CAPTURING = SweepState.CAPTURING
    STATE_COMPLETE = SweepState.COMPLETE
    STATE_DETACHING = SweepState.DETACHING
    STATE_FAILED = SweepState.FAILED
    STATE_DESTROYED = SweepState.DESTROYED

    def __init__(
        self,
        *,
        create: bool,
        locks: Mapping[str, Lock] | None = None,
        capacity: int | None = None,
        profile_length: int | None = None,
        n_steps: int | None = None,
        n_beads: int | None = None,
        profiles_per_bead: int | None = None,
        name: str = NAME,
        instance: str = "default",
    ) -> None:
        self._init_common(name, instance, locks)
        self._header: np.ndarray | None = None
        self._profiles: np.ndarray | None = None
        self._columns: dict[str, np.ndarray] = {}
        if create:
            params = self._validate_create_parameters(
                capacity=capacity,
                profile_length=profile_length,
                n_steps=n_steps,
                n_beads=n_beads,
                profiles_per_bead=profiles_per_bead,
            )
            self._run_constructor(lambda: self._create(params))
        else:
            self._run_constructor(self._attach)

    @classmethod
    def create(
        cls,
        *,
        locks: Mapping[str, Lock] | None,
        capacity: int,
        profile_length: int,
        n_steps: int,
        n_beads: int,
        profiles_per_bead: int,
        name: str = NAME,
        instance: str = "default",
    ) -> ZLUTSweepDataset:
        """Create the segments (FileExistsError if they exist); returns it in state READY."""
        return cls(
            create=True,
            locks=locks,
            capacity=capacity,
            profile_length=profile_length,
            n_steps=n_steps,
            n_beads=n_beads,
            profiles_per_bead=profiles_per_bead,
            name=name,
            instance=instance,
        )

    @classmethod
    def attach(
        cls, *, locks: Mapping[str, Lock] | None = None, name: str = NAME, instance: str = "default"
    ) -> ZLUTSweepDataset:
        """Attach to an existing dataset (see the class docstring for the errors)."""
        return cls(create=False, locks=locks, name=name, instance=instance)

    @classmethod
    def _validate_create_parameters(cls, **params: int | None) -> dict[str, int]:
        return {key: _shm.positive_int(value, key) for key, value in params.items()}

    # -- construction -------------------------------------------------------------------------
    def _set_geometry(self, capacity: int, profile_length: int) -> None:
        self.capacity = capacity
        self.profile_length = profile_length

    def _meta_nbytes(self) -> int:
        return sum(self.capacity * np.dtype(dtype).itemsize for _, dtype in _COLUMNS)

    def _create(self, p: dict[str, int]) -> None:
        self._set_geometry(p["capacity"], p["profile_length"])
        info = self._open_segment("info", HEADER_NBYTES)
        self._header = self._header_view(info)
        self._init_header(
            self._header,
            {
                _SCHEMA: _SCHEMA_VERSION,
                _STATE: SweepState.CREATING,
                _CAPACITY: self.capacity,
                _PROFILE_LENGTH: self.profile_length,
                _N_STEPS: p["n_steps"],
                _N_BEADS: p["n_beads"],
                _PROFILES_PER_BEAD: p["profiles_per_bead"],
            },
        )
        main = self._open_segment("", self.capacity * self.profile_length * 8)
        meta = self._open_segment("meta", self._meta_nbytes())
        self._map(main, meta)
        self._profiles.fill(np.nan)
        self._header[_STATE] = SweepState.READY

    def _attach(self) -> None:
        try:
            info = self._open_segment("info")
        except FileNotFoundError:
            raise FileNotFoundError(
                f"Z-LUT sweep dataset {self._segment_name('info')!r} does not exist "
                "(no sweep was created, or it was destroyed)"
            ) from None
        self._header = self._header_view(info)
        if int(self._header[H_MAGIC]) != MAGIC:
            raise DatasetNotReadyError(f"Z-LUT sweep dataset {self.name!r} is being created")
        self._check_header(self._header, info.name)
        if int(self._header[_SCHEMA]) != _SCHEMA_VERSION:
            raise ValueError(
                f"Z-LUT sweep dataset {self.name!r} has schema {int(self._header[_SCHEMA])}, "
                f"this code reads schema {_SCHEMA_VERSION}"
            )
        state = self.state
        if state in (SweepState.CREATING, SweepState.DESTROYED, SweepState.ABSENT):
            raise DatasetNotReadyError(f"Z-LUT sweep dataset {self.name!r} is {state.name}")
        self._set_geometry(int(self._header[_CAPACITY]), int(self._header[_PROFILE_LENGTH]))
        self._map(self._open_segment(""), self._open_segment("meta"))

    def _map(self, main, meta) -> None:
        self._profiles = shm_view(main, np.float64, (self.capacity, self.profile_length))
        offset = 0
        for key, dtype in _COLUMNS:
            self._columns[key] = shm_view(meta, dtype, (self.capacity,), offset)
            offset += self.capacity * np.dtype(dtype).itemsize

    def _drop_views(self) -> None:
        self._header = self._profiles = None
        self._columns = {}

    def _suffixes(self) -> list[str]:
        return ["", "info", "meta"]

    def _describe_shape(self) -> tuple[int, ...]:
        return (self.capacity, self.profile_length)

    def _describe_dtype(self) -> np.dtype:
        return np.dtype(np.float64)

    @classmethod
    def _attach_described(
        cls, description: Mapping[str, Any], locks: Mapping[str, Lock] | None
    ) -> ZLUTSweepDataset:
        return cls.attach(locks=locks, name=description["name"], instance=description["instance"])

    # -- state --------------------------------------------------------------------------------
    @property
    def state(self) -> SweepState:
        """Current state (lock-free)."""
        self._check_open()
        return SweepState(int(self._header[_STATE]))

    def _header_int(self, field: int) -> int:
        self._check_open()
        return int(self._header[field])

    @property
    def n_steps(self) -> int:
        return self._header_int(_N_STEPS)

    @property
    def n_beads(self) -> int:
        return self._header_int(_N_BEADS)

    @property
    def profiles_per_bead(self) -> int:
        return self._header_int(_PROFILES_PER_BEAD)

    def set_state(self, value: int) -> None:
        """Move to state ``value``; ValueError naming both states if the move is not allowed."""
        self._check_open()
        try:
            new = SweepState(int(value))
        except (TypeError, ValueError):
            raise ValueError(f"unknown Z-LUT sweep state {value!r}") from None
        with self._require_lock("set_state"):
            old = SweepState(int(self._header[_STATE]))
            if new not in _TRANSITIONS[old]:
                raise ValueError(f"Z-LUT sweep dataset cannot go from {old.name} to {new.name}")
            self._header[_STATE] = new

    # -- data -----------------------------------------------------------------------------------
    def get_count(self) -> int:
        """Rows stored so far."""
        return self._header_int(_COUNT)

    def get_capacity(self) -> int:
        return self.capacity

    def write(
        self,
        *,
        bead_ids: np.ndarray,
        step_indices: np.ndarray,
        timestamps: np.ndarray,
        motor_z_values: np.ndarray,
        valid_flags: np.ndarray,
        profiles: np.ndarray,
    ) -> None:
        """Append ``k`` rows: five 1-D arrays of length ``k`` and profiles ``(k,
        profile_length)``. Only in state READY or CAPTURING (else DatasetNotReadyError);
        BufferOverflow (nothing stored) if the rows do not fit."""
        self._check_open()
        values = {
            "bead_ids": np.asarray(bead_ids),
            "step_indices": np.asarray(step_indices),
            "timestamps": np.asarray(timestamps, dtype=np.float64),
            "motor_z_values": np.asarray(motor_z_values, dtype=np.float64),
            "valid_flags": np.asarray(valid_flags, dtype=np.bool_),
        }
        block = np.asarray(profiles, dtype=np.float64)
        if block.ndim == 1:
            block = block[np.newaxis, :]
        count = len(values["bead_ids"])
        for key, array in values.items():
            if array.shape != (count,):
                raise ValueError(f"{key} must be 1-D with {count} values; got {array.shape}")
        if block.shape != (count, self.profile_length):
            raise ValueError(
                f"profiles must have shape ({count}, {self.profile_length}); got {block.shape}"
            )
        for key in ("bead_ids", "step_indices"):
            if count and not np.issubdtype(values[key].dtype, np.integer):
                raise ValueError(f"{key} must be integers; got dtype {values[key].dtype}")
        bad_steps = values["step_indices"][
            (values["step_indices"] < 0) | (values["step_indices"] >= self.n_steps)
        ]
        if len(bad_steps):
            raise ValueError(f"step_indices outside 0…{self.n_steps - 1}: {bad_steps.tolist()}")
        with self._require_lock("write"):
            state = SweepState(int(self._header[_STATE]))
            if state not in (SweepState.READY, SweepState.CAPTURING):
                raise DatasetNotReadyError(f"cannot write to a Z-LUT sweep that is {state.name}")
            stored = int(self._header[_COUNT])
            if stored + count > self.capacity:
                raise BufferOverflow(
                    f"Z-LUT sweep holds {stored} of {self.capacity} rows; {count} more do not fit"
                )
            rows = slice(stored, stored + count)
            for key, array in values.items():
                self._columns[key][rows] = array
            self._profiles[rows] = block
            self._header[_COUNT] = stored + count  # published last: readers need no lock

    def peek(self) -> dict[str, np.ndarray]:
        """Copies of all stored rows: the five columns (``(count,)``) and ``profiles``
        ``(count, profile_length)``. Lock-free (rows are never changed once counted)."""
        count = self.get_count()
        out = {key: column[:count].copy() for key, column in self._columns.items()}
        out["profiles"] = self._profiles[:count].copy()
        return out

    def read_preview(self, selected_bead_id: int | None = None) -> dict[str, object]:
        """Summary for a live view: state, counts, the bead ids seen and the rows of one bead
        (``selected_bead_id``, default the smallest id seen) sorted by step."""
        data = self.peek()
        bead_ids = np.unique(data["bead_ids"])
        if selected_bead_id is None and len(bead_ids):
            selected_bead_id = int(bead_ids[0])
        mine = data["bead_ids"] == selected_bead_id
        order = np.argsort(data["step_indices"][mine], kind="stable")
        preview: dict[str, object] = {
            "state": self.state.name,
            "count": len(data["bead_ids"]),
            "capacity": self.capacity,
            "n_steps": self.n_steps,
            "n_beads": self.n_beads,
            "profiles_per_bead": self.profiles_per_bead,
            "bead_ids": bead_ids,
            "selected_bead_id": selected_bead_id,
        }
        for key in ("step_indices", "timestamps", "motor_z_values", "valid_flags", "profiles"):
            preview[key] = data[key][mine][order]
        return preview

    # -- lifetime -------------------------------------------------------------------------------
    def destroy(self) -> None:
        """Owner only: mark DESTROYED (late attachers get DatasetNotReadyError) and unlink."""
        if not self._owner:
            raise RuntimeError(f"only the creator of Z-LUT sweep {self.name!r} may destroy it")
        if not self._closed:
            self._header[_STATE] = SweepState.DESTROYED
        self.unlink()
