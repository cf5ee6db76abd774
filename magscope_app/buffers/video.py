"""VideoBuffer: a shared-memory ring of camera frames with timestamps and frame numbers."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from multiprocessing.synchronize import Lock

import numpy as np

from . import _shm
from ._base import HEADER_NBYTES, SharedBuffer, shm_view
from ._dtypes import int_to_uint_dtype
from .errors import BufferOverflow, BufferUnderflow

# Header fields (int64).
_N_STACKS, _N_IMAGES, _HEIGHT, _WIDTH, _BITS = 2, 3, 4, 5, 6
_WRITTEN = 7  # frames stored so far (W)
_NEXT_UNREAD = 8  # first frame not yet read or claimed (C)
_RETIRED = 9  # first frame whose slot is not free yet (R); R <= C <= W
_NEXT_FRAME_NUMBER = 10
_LATEST_SLOT = 11
_LATEST_FRAME_NUMBER = 12
_REC_NEXT = 13  # recorder cursor: first frame the recorder has not copied yet; -1: no recorder
_REC_OVERRUN_AT = 14  # W when the writer overran the recorder cursor; -1: not overrun

# Per-slot consumption state.
_FREE, _CLAIMED, _DONE = 0, 1, 2


class RecorderOverrun(BufferOverflow):
    """The writer reused a slot the recorder had not copied yet: the recorder's frames from
    ring index :attr:`first_lost` on are gone. Raised to the recorder, never to the writer."""

    def __init__(self, name: str, first_lost: int, frames_behind: int) -> None:
        self.first_lost = first_lost
        self.frames_behind = frames_behind
        super().__init__(
            f"{name}: the recorder fell {frames_behind} frames behind the camera (the whole "
            f"ring); frames from ring index {first_lost} on were overwritten before they were "
            "recorded"
        )


@dataclass(frozen=True)
class RecorderStart:
    """Where :meth:`VideoBuffer.attach_recorder` put the recorder cursor: ``index`` is the
    ring index (count of frames written before) of the first frame the recorder will get;
    ``previous_frame_number`` the frame number of the newest frame before it (-1: none)."""

    index: int
    previous_frame_number: int


@dataclass
class RecorderBatch:
    """Frames handed to the recorder by :meth:`VideoBuffer.recorder_batch`.

    ``first``: ring index of the first frame; ``frames``: read-only zero-copy view
    ``(k, height, width)`` of contiguous slots, to be copied before
    :meth:`VideoBuffer.advance_recorder` (which validates the copy and sets it to None);
    ``timestamps`` (s, float64) and ``frame_numbers`` (int64): copies, shape ``(k,)``.
    """

    first: int
    frames: np.ndarray | None
    timestamps: np.ndarray
    frame_numbers: np.ndarray

    def __len__(self) -> int:
        return len(self.frame_numbers)


@dataclass
class StackClaim:
    """A stack handed to one consumer by :meth:`VideoBuffer.claim_stack`.

    ``index``: stack number counted from the first frame ever written (frames
    ``index * n_images`` … ``(index + 1) * n_images - 1``); ``slot``: its place in the ring;
    ``frames``: read-only zero-copy view, shape ``(n_images, height, width)``, valid until
    :meth:`VideoBuffer.release_stack` (which sets it to None); ``timestamps`` (s, float64) and
    ``frame_numbers`` (int64): copies, shape ``(n_images,)``.
    """

    index: int
    slot: int
    frames: np.ndarray | None
    timestamps: np.ndarray
    frame_numbers: np.ndarray


class VideoBuffer(SharedBuffer):
    """Shared-memory ring of ``n_stacks × n_images`` frames for one camera.

    Layout: a frame is a C-order ``(height, width)`` array (row = y, column = x) and a stack
    is ``(n_images, height, width)`` — unlike the MagScope seed, which used
    ``(width, height, n_images)``. Pixels are unsigned integers of ``bits`` bits. Every slot
    also holds a float64 timestamp (s since the epoch) and an int64 frame number.

    Segments: ``msa-{instance}-{name}`` (pixels) and ``msa-{instance}-{name}-meta`` (header,
    timestamps, frame numbers, per-slot sequence counters and consumption state).

    Writing: exactly one writer process (the camera). A frame goes to the next slot; if that
    slot still holds unread or claimed (unreleased) data, :class:`BufferOverflow` is raised and
    nothing is stored. The pixel copy happens outside the lock, so consumers are not blocked.

    Consuming: all consuming methods share one read region, in write order:

    * :meth:`claim_stack` / :meth:`release_stack`, for N parallel consumers: a claim takes the
      oldest complete unread stack; compute happens with no lock held; releases may come out
      of order; a slot is reused only after its stack is released (and every older one too).
    * :meth:`read_image` (one frame), :meth:`read_stack_no_return` (one stack), for a single
      consumer; they consume immediately.

    Stacks are aligned on the ring (stack k = frames ``k*n_images`` … ``(k+1)*n_images-1``),
    so a claimed stack is always contiguous. If :meth:`read_image` consumed part of a stack,
    the stack methods skip (consume) the rest of that stack.

    Viewing without consuming: :meth:`peek_image` (newest frame, lock-free, never torn, via
    a per-slot sequence counter), :meth:`peek_stack` and :meth:`peek_stack_frame_numbers`.

    Recorder cursor (a second, independent consumer of every frame, for video recording):
    :meth:`attach_recorder` starts it at the next frame to be written; :meth:`recorder_batch`
    hands out views of the frames written since, in order; the recorder copies them with no
    lock held and confirms with :meth:`advance_recorder`; :meth:`detach_recorder` ends it.
    The cursor never back-pressures the writer: when the writer needs a slot the recorder has
    not copied yet (the recorder is a whole ring behind, e.g. its disk is slower than the
    stream), the frame is stored anyway and the cursor is marked overrun; from then on the
    recorder's calls raise :class:`RecorderOverrun` (and a copy made while the writer was
    overwriting it is refused by :meth:`advance_recorder`, so a torn frame is never
    confirmed). The tracking consumers (claims, reads) are not affected by the cursor.

    ``locks`` maps buffer names to :class:`multiprocessing.Lock`; a handle attached without
    a lock for ``name`` can only use the lock-free methods (``peek_image``, the counters and
    ``get_level`` / ``get_unread_stack_count`` / ``check_read_stack``).
    """

    KIND = "VideoBuffer"
    KIND_CODE = 1

    def __init__(
        self,
        *,
        create: bool,
        locks: Mapping[str, Lock] | None = None,
        n_stacks: int | None = None,
        width: int | None = None,
        height: int | None = None,
        n_images: int | None = None,
        bits: int | None = None,
        instance: str = "default",
        name: str = "VideoBuffer",
    ) -> None:
        self._init_common(name, instance, locks)
        self._frames: np.ndarray | None = None
        self._header: np.ndarray | None = None
        self._timestamps: np.ndarray | None = None
        self._frame_numbers: np.ndarray | None = None
        self._seq: np.ndarray | None = None
        self._state: np.ndarray | None = None
        self._claim_index: np.ndarray | None = None
        self._claim_pid: np.ndarray | None = None
        if create:
            params = {
                "n_stacks": _shm.positive_int(n_stacks, "n_stacks"),
                "n_images": _shm.positive_int(n_images, "n_images"),
                "height": _shm.positive_int(height, "height"),
                "width": _shm.positive_int(width, "width"),
            }
            if bits is None:
                raise ValueError("bits is required when creating the buffer")
            dtype = int_to_uint_dtype(bits)
            self._run_constructor(lambda: self._create(params, int(bits), dtype))
        else:
            self._run_constructor(self._attach)

    # -- construction -------------------------------------------------------------------------
    def _set_geometry(self, n_stacks: int, n_images: int, height: int, width: int, bits: int):
        self.n_stacks = n_stacks
        self.n_images = n_images
        self.height = height
        self.width = width
        self.bits = bits
        self.dtype = int_to_uint_dtype(bits)
        self.itemsize = self.dtype.itemsize
        self.image_shape = (height, width)
        self.stack_shape = (n_images, height, width)
        self.n_total_images = n_stacks * n_images
        self.image_size = height * width * self.itemsize  # bytes
        self.stack_size = n_images * self.image_size  # bytes
        self.buffer_size = n_stacks * self.stack_size  # bytes

    def _meta_nbytes(self) -> int:
        n = self.n_total_images
        return HEADER_NBYTES + 3 * 8 * n + 2 * 8 * self.n_stacks + n

    def _create(self, p: dict[str, int], bits: int, dtype: np.dtype) -> None:
        self._set_geometry(p["n_stacks"], p["n_images"], p["height"], p["width"], bits)
        main = self._open_segment("", self.buffer_size)
        meta = self._open_segment("meta", self._meta_nbytes())
        self._map(main, meta)
        self._claim_index[:] = -1
        self._init_header(
            self._header,
            {
                _N_STACKS: self.n_stacks,
                _N_IMAGES: self.n_images,
                _HEIGHT: self.height,
                _WIDTH: self.width,
                _BITS: bits,
                _LATEST_SLOT: -1,
                _LATEST_FRAME_NUMBER: -1,
                _REC_NEXT: -1,
                _REC_OVERRUN_AT: -1,
            },
        )

    def _attach(self) -> None:
        meta = self._open_segment("meta")
        header = self._header_view(meta)
        try:
            self._check_header(header, meta.name)
            geometry = [int(header[i]) for i in (_N_STACKS, _N_IMAGES, _HEIGHT, _WIDTH, _BITS)]
        finally:
            del header
        self._set_geometry(*geometry)
        main = self._open_segment("")
        self._map(main, meta)

    def _map(self, main, meta) -> None:
        n = self.n_total_images
        self._frames = shm_view(main, self.dtype, (n, self.height, self.width))
        self._header = self._header_view(meta)
        offset = HEADER_NBYTES
        self._timestamps = shm_view(meta, np.float64, (n,), offset)
        offset += 8 * n
        self._frame_numbers = shm_view(meta, np.int64, (n,), offset)
        offset += 8 * n
        self._seq = shm_view(meta, np.int64, (n,), offset)
        offset += 8 * n
        self._claim_index = shm_view(meta, np.int64, (self.n_stacks,), offset)
        offset += 8 * self.n_stacks
        self._claim_pid = shm_view(meta, np.int64, (self.n_stacks,), offset)
        offset += 8 * self.n_stacks
        self._state = shm_view(meta, np.int8, (n,), offset)

    def _drop_views(self) -> None:
        self._frames = self._header = self._timestamps = self._frame_numbers = None
        self._seq = self._state = self._claim_index = self._claim_pid = None

    def _suffixes(self) -> list[str]:
        return ["", "meta"]

    def _describe_shape(self) -> tuple[int, ...]:
        return (self.n_total_images, self.height, self.width)

    def _describe_dtype(self) -> np.dtype:
        return self.dtype

    # -- counters (lock-free) -----------------------------------------------------------------
    @property
    def frames_written(self) -> int:
        """Total number of frames stored since creation."""
        self._check_open()
        return int(self._header[_WRITTEN])

    @property
    def latest_frame_number(self) -> int | None:
        """Frame number of the newest stored frame, None before the first frame."""
        self._check_open()
        return None if self._header[_WRITTEN] == 0 else int(self._header[_LATEST_FRAME_NUMBER])

    def get_level(self) -> float:
        """Fraction (0…1) of the frame slots that are occupied (unread, or claimed and not
        released yet): at 1.0 the next write raises BufferOverflow. Lock-free."""
        self._check_open()
        used = int(self._header[_WRITTEN]) - int(self._header[_RETIRED])
        return used / self.n_total_images

    def _next_stack_start(self, next_unread: int) -> int:
        return -(-next_unread // self.n_images) * self.n_images

    def get_unread_stack_count(self) -> int:
        """Number of complete stacks that can be read or claimed now. Lock-free (a hint)."""
        self._check_open()
        start = self._next_stack_start(int(self._header[_NEXT_UNREAD]))
        return max(0, (int(self._header[_WRITTEN]) - start) // self.n_images)

    def check_read_stack(self) -> bool:
        """True when at least one complete stack can be read or claimed. Lock-free (a hint)."""
        return self.get_unread_stack_count() > 0

    # -- writing (one writer process) -----------------------------------------------------------
    def write_image_and_timestamp(
        self, image: np.ndarray, timestamp: float, frame_number: int | None = None
    ) -> int:
        """Store one frame (``(height, width)``, cast safely to the pixel dtype) and its
        timestamp (s); returns its frame number.

        ``frame_number`` defaults to the previous frame number + 1 (0 first); a camera passes
        its own counter so lost frames show as gaps. Raises BufferOverflow (storing nothing)
        when the next slot holds unread or claimed data, ValueError for a bad image.
        """
        self._check_open()
        image = np.asarray(image)
        if image.shape != self.image_shape:
            raise ValueError(
                f"image must have shape (height, width) = {self.image_shape}; got {image.shape}"
            )
        if not np.can_cast(image.dtype, self.dtype, casting="safe"):
            raise ValueError(f"image dtype {image.dtype} does not fit the pixel dtype {self.dtype}")
        return self._write(image, timestamp, frame_number, "write_image_and_timestamp")

    def write_timestamp(self, timestamp: float, frame_number: int | None = None) -> int:
        """Advance by one frame slot storing only its timestamp (s) and frame number; the
        pixels of the slot are left as they are. Same rules as write_image_and_timestamp."""
        self._check_open()
        return self._write(None, timestamp, frame_number, "write_timestamp")

    def _write(
        self, image: np.ndarray | None, timestamp: float, frame_number: int | None, method: str
    ) -> int:
        if frame_number is not None and (
            isinstance(frame_number, bool) or not isinstance(frame_number, int | np.integer)
        ):
            raise ValueError(f"frame_number must be an int or None; got {frame_number!r}")
        timestamp = float(timestamp)
        header, seq = self._header, self._seq
        lock = self._require_lock(method)
        with lock:
            written = int(header[_WRITTEN])
            if written - int(header[_RETIRED]) >= self.n_total_images:
                raise BufferOverflow(
                    f"{self.name}: all {self.n_total_images} frame slots hold unread or claimed "
                    "frames; frame not stored"
                )
            number = int(header[_NEXT_FRAME_NUMBER]) if frame_number is None else int(frame_number)
            recorder = int(header[_REC_NEXT])
            if (
                recorder >= 0
                and header[_REC_OVERRUN_AT] < 0
                and written - recorder >= self.n_total_images
            ):
                header[_REC_OVERRUN_AT] = written  # the recorder loses; the camera goes on
        # The slot is ours: consumers never touch frames >= W, and R only grows. peek_image
        # readers are kept out by the slot's sequence counter (odd while writing).
        slot = written % self.n_total_images
        seq[slot] += 1
        try:
            if image is not None:
                self._frames[slot] = image
            self._timestamps[slot] = timestamp
            self._frame_numbers[slot] = number
        finally:
            seq[slot] += 1
        with lock:
            header[_NEXT_FRAME_NUMBER] = number + 1
            header[_LATEST_FRAME_NUMBER] = number
            header[_LATEST_SLOT] = slot
            header[_WRITTEN] = written + 1
        return number

    # -- lock-free newest frame ---------------------------------------------------------------
    def peek_image(self) -> tuple[int, np.ndarray]:
        """Return ``(frame_number, copy of the newest frame)`` without taking the lock.

        Never returns a torn frame: the copy is retried if the slot's sequence counter shows a
        write before or during it (seqlock; relies on the ordered stores of x86-64). Raises
        BufferUnderflow before the first frame. Does not consume anything.
        """
        self._check_open()
        header, seq, frames, numbers = self._header, self._seq, self._frames, self._frame_numbers
        for _ in _shm.retry_delays():
            if header[_WRITTEN] == 0:
                raise BufferUnderflow(f"{self.name}: no frame written yet")
            slot = int(header[_LATEST_SLOT])
            before = int(seq[slot])
            if before & 1:
                continue
            image = frames[slot].copy()
            number = int(numbers[slot])
            if int(seq[slot]) == before:
                return number, image
        raise RuntimeError(f"{self.name}: could not read a consistent frame (writer stuck?)")

    # -- consuming ----------------------------------------------------------------------------
    def _slots(self, first: int, stop: int) -> np.ndarray:
        return np.arange(first, stop) % self.n_total_images

    def _retire(self) -> None:
        """Free the slots of consumed frames at the front of the read region (lock held)."""
        header, state = self._header, self._state
        retired, next_unread = int(header[_RETIRED]), int(header[_NEXT_UNREAD])
        if retired == next_unread:
            return
        slots = self._slots(retired, next_unread)
        done = state[slots] == _DONE
        count = len(done) if done.all() else int(np.argmin(done))
        state[slots[:count]] = _FREE
        header[_RETIRED] = retired + count

    def _take_stack(self, mark: int) -> int | None:
        """Under the lock: mark the next complete stack ``mark`` (skipping partly read
        frames); return its first frame or None if there is none."""
        header, state = self._header, self._state
        next_unread = int(header[_NEXT_UNREAD])
        start = self._next_stack_start(next_unread)
        if int(header[_WRITTEN]) - start < self.n_images:
            return None
        state[self._slots(next_unread, start)] = _DONE
        state[self._slots(start, start + self.n_images)] = mark
        header[_NEXT_UNREAD] = start + self.n_images
        return start

    def claim_stack(self) -> StackClaim | None:
        """Claim the oldest complete unread, unclaimed stack; None if there is none.

        The caller computes on ``claim.frames`` with no lock held and then must call
        :meth:`release_stack`; until then the writer cannot reuse the stack's slots.
        """
        self._check_open()
        with self._require_lock("claim_stack"):
            start = self._take_stack(_CLAIMED)
            if start is None:
                return None
            index = start // self.n_images
            slot = index % self.n_stacks
            self._claim_index[slot] = index
            self._claim_pid[slot] = os.getpid()
            self._retire()
            first = slot * self.n_images
            stop = first + self.n_images
            timestamps = self._timestamps[first:stop].copy()
            numbers = self._frame_numbers[first:stop].copy()
        frames = self._frames[first:stop]
        frames.flags.writeable = False
        return StackClaim(index, slot, frames, timestamps, numbers)

    def release_stack(self, claim: StackClaim) -> None:
        """Mark a claimed stack consumed (any order) and drop ``claim.frames``.

        Raises ValueError for a claim that is not outstanding (released twice, foreign).
        """
        self._check_open()
        with self._require_lock("release_stack"):
            first = claim.slot * self.n_images
            stop = first + self.n_images
            if (
                not 0 <= claim.slot < self.n_stacks
                or int(self._claim_index[claim.slot]) != claim.index
                or not (self._state[first:stop] == _CLAIMED).all()
            ):
                raise ValueError(f"{self.name}: stack {claim.index} is not claimed")
            self._state[first:stop] = _DONE
            self._claim_index[claim.slot] = -1
            self._claim_pid[claim.slot] = 0
            self._retire()
        claim.frames = None

    def release_claims_of(self, pid: int) -> list[int]:
        """Release every stack still claimed by process ``pid`` (a crashed tracking worker)
        so the writer can reuse the slots; returns the stack indices, whose frames were not
        processed (report them as dropped)."""
        self._check_open()
        released = []
        with self._require_lock("release_claims_of"):
            for slot in np.flatnonzero(self._claim_pid == pid):
                first = int(slot) * self.n_images
                self._state[first : first + self.n_images] = _DONE
                released.append(int(self._claim_index[slot]))
                self._claim_index[slot] = -1
                self._claim_pid[slot] = 0
            self._retire()
        return sorted(released)

    def read_stack_no_return(self) -> None:
        """Consume the next complete stack without returning it; BufferUnderflow if none."""
        self._check_open()
        with self._require_lock("read_stack_no_return"):
            if self._take_stack(_DONE) is None:
                raise BufferUnderflow(f"{self.name}: no complete stack to read")
            self._retire()

    def read_image(self) -> tuple[np.ndarray, float]:
        """Consume the next unread frame: ``(copy (height, width), timestamp s)``.

        BufferUnderflow if every stored frame is already read or claimed.
        """
        self._check_open()
        header = self._header
        with self._require_lock("read_image"):
            next_unread = int(header[_NEXT_UNREAD])
            if next_unread >= int(header[_WRITTEN]):
                raise BufferUnderflow(f"{self.name}: no unread frame")
            slot = next_unread % self.n_total_images
            image = self._frames[slot].copy()
            timestamp = float(self._timestamps[slot])
            self._state[slot] = _DONE
            header[_NEXT_UNREAD] = next_unread + 1
            self._retire()
        return image, timestamp

    def _peek_stack_slice(self) -> slice:
        next_unread = int(self._header[_NEXT_UNREAD])
        start = self._next_stack_start(next_unread)
        if int(self._header[_WRITTEN]) - start < self.n_images:
            raise BufferUnderflow(f"{self.name}: no complete stack to peek")
        first = start % self.n_total_images
        return slice(first, first + self.n_images)

    def peek_stack(self) -> tuple[np.ndarray, np.ndarray]:
        """Copies of the next complete unread stack ``(n_images, height, width)`` and its
        timestamps (s, ``(n_images,)``), without consuming it; BufferUnderflow if none."""
        self._check_open()
        with self._require_lock("peek_stack"):
            part = self._peek_stack_slice()
            return self._frames[part].copy(), self._timestamps[part].copy()

    def peek_stack_frame_numbers(self) -> np.ndarray:
        """Frame numbers (int64, ``(n_images,)``) of the stack :meth:`peek_stack` returns."""
        self._check_open()
        with self._require_lock("peek_stack_frame_numbers"):
            return self._frame_numbers[self._peek_stack_slice()].copy()

    # -- recorder cursor (second consumer) ----------------------------------------------------
    def attach_recorder(self) -> RecorderStart:
        """Start the recorder cursor at the next frame to be written (replacing any earlier
        cursor, e.g. of a recorder that died)."""
        self._check_open()
        with self._require_lock("attach_recorder"):
            written = int(self._header[_WRITTEN])
            self._header[_REC_OVERRUN_AT] = -1
            self._header[_REC_NEXT] = written
            previous = int(self._header[_LATEST_FRAME_NUMBER]) if written else -1
        return RecorderStart(written, previous)

    def detach_recorder(self) -> None:
        """Remove the recorder cursor (idempotent)."""
        self._check_open()
        with self._require_lock("detach_recorder"):
            self._header[_REC_NEXT] = -1
            self._header[_REC_OVERRUN_AT] = -1

    def _check_recorder(self) -> int:
        """Under the lock: the recorder cursor; RecorderOverrun / RuntimeError if unusable."""
        cursor = int(self._header[_REC_NEXT])  # no view in a local: tracebacks keep locals
        if cursor < 0:
            raise RuntimeError(f"{self.name}: no recorder cursor (attach_recorder first)")
        overrun_at = int(self._header[_REC_OVERRUN_AT])
        if overrun_at >= 0:
            raise RecorderOverrun(self.name, cursor, overrun_at - cursor)
        return cursor

    def recorder_batch(self, max_frames: int | None = None) -> RecorderBatch | None:
        """The frames written since the recorder's last confirmed batch (at most
        ``max_frames``, and not past the end of the ring, so the view is contiguous); None if
        there is none. Raises RecorderOverrun once the writer has overrun the cursor."""
        self._check_open()
        with self._require_lock("recorder_batch"):
            cursor = self._check_recorder()
            count = int(self._header[_WRITTEN]) - cursor
            if count == 0:
                return None
            slot = cursor % self.n_total_images
            count = min(count, self.n_total_images - slot)
            if max_frames is not None:
                count = min(count, max(1, int(max_frames)))
            timestamps = self._timestamps[slot : slot + count].copy()
            numbers = self._frame_numbers[slot : slot + count].copy()
        frames = self._frames[slot : slot + count]
        frames.flags.writeable = False
        return RecorderBatch(cursor, frames, timestamps, numbers)

    def advance_recorder(self, batch: RecorderBatch) -> None:
        """Confirm that ``batch`` was copied: its slots may be reused. Raises RecorderOverrun
        if the writer overran the cursor meanwhile (the copy may be torn: do not keep it),
        ValueError for a batch that is not the recorder's next one. Drops ``batch.frames``."""
        self._check_open()
        batch.frames = None
        with self._require_lock("advance_recorder"):
            cursor = self._check_recorder()
            if batch.first != cursor:
                raise ValueError(
                    f"{self.name}: batch at ring index {batch.first} is not the recorder's "
                    f"next one ({cursor})"
                )
            self._header[_REC_NEXT] = cursor + len(batch)

    def recorder_fill(self) -> float:
        """Fraction (0…1) of the ring holding frames the recorder has not copied yet (0 without
        a recorder). Lock-free (a hint); at 1.0 the next write overruns the recorder."""
        self._check_open()
        cursor = int(self._header[_REC_NEXT])
        if cursor < 0:
            return 0.0
        return min(1.0, (int(self._header[_WRITTEN]) - cursor) / self.n_total_images)
