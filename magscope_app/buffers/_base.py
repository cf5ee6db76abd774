"""Common machinery of the shared-memory buffers: segments, lock, close/unlink, describe()."""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from multiprocessing.shared_memory import SharedMemory
from multiprocessing.synchronize import Lock
from typing import Any, ClassVar

import numpy as np

from . import _shm

#: First header field of every buffer's metadata ("MSA1").
MAGIC = 0x4D534131
#: Number of int64 fields in every header.
HEADER_FIELDS = 16
HEADER_NBYTES = HEADER_FIELDS * 8
#: Header fields shared by all buffers.
H_MAGIC, H_KIND = 0, 1


def shm_view(
    shm: SharedMemory, dtype: np.dtype | type, shape: tuple[int, ...], offset: int = 0
) -> np.ndarray:
    """Writable numpy view of ``shm`` at byte ``offset``.

    Made with ``np.frombuffer``, which keeps a buffer export on the mapping for as long as the
    view (or any view derived from it) lives, so ``SharedMemory.close()`` raises BufferError
    instead of unmapping memory still in use (``np.ndarray(buffer=...)`` keeps no export:
    closing then succeeds and touching the array afterwards segfaults).
    """
    count = int(np.prod(shape, dtype=np.int64))
    return np.frombuffer(shm.buf, dtype=dtype, count=count, offset=offset).reshape(shape)


class SharedBuffer:
    """Base class: owns the shared-memory segments of one buffer and its optional lock.

    Subclasses set ``KIND`` and ``KIND_CODE``, create their numpy views in ``_create`` /
    ``_attach`` and set them back to ``None`` in ``_drop_views``.

    Lifetime: the creator (``owner``) calls :meth:`unlink` when the buffer is no longer needed;
    every other handle calls :meth:`close`. Both are idempotent. Used as a context manager, the
    buffer is unlinked on exit by its owner and closed by anyone else. ``__del__`` only closes.
    """

    KIND: ClassVar[str] = ""
    KIND_CODE: ClassVar[int] = 0
    _kinds: ClassVar[dict[str, type[SharedBuffer]]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if cls.KIND:
            SharedBuffer._kinds[cls.KIND] = cls

    # -- construction helpers ---------------------------------------------------------------
    def _init_common(self, name: str, instance: str, locks: Mapping[str, Lock] | None) -> None:
        self._closed = False
        self._pending_close: list[SharedMemory] = []
        self._shms: dict[str, SharedMemory] = {}
        self._owner = False
        self._unlinked = False
        self.name: str = _shm.validate_name(name)
        self.instance: str = _shm.validate_instance(instance)
        if locks is not None and not isinstance(locks, Mapping):
            raise ValueError(f"locks must be a dict of locks keyed by buffer name; got {locks!r}")
        self._lock: Lock | None = None if locks is None else locks.get(self.name)

    def _segment_name(self, suffix: str = "") -> str:
        return _shm.segment_name(self.instance, self.name, suffix)

    def _open_segment(self, suffix: str, nbytes: int | None = None) -> SharedMemory:
        """Create (``nbytes`` given) or attach to the segment with ``suffix`` ('' = main)."""
        name = self._segment_name(suffix)
        if nbytes is None:
            shm = _shm.attach_segment(name)
        else:
            shm = _shm.create_segment(name, nbytes)
            self._owner = True
        self._shms[suffix] = shm
        return shm

    def _header_view(self, shm: SharedMemory) -> np.ndarray:
        return shm_view(shm, np.int64, (HEADER_FIELDS,))

    def _init_header(self, header: np.ndarray, fields: Mapping[int, int]) -> None:
        """Fill a new header; the magic number is written last (marks it initialized)."""
        for index, value in fields.items():
            header[index] = value
        header[H_KIND] = self.KIND_CODE
        header[H_MAGIC] = MAGIC

    def _check_header(self, header: np.ndarray, segment: str) -> None:
        if int(header[H_MAGIC]) != MAGIC:
            raise RuntimeError(f"shared-memory segment {segment!r} is not initialized (yet)")
        if int(header[H_KIND]) != self.KIND_CODE:
            raise ValueError(f"shared-memory segment {segment!r} does not hold a {self.KIND}")

    def _run_constructor(self, build: Any) -> None:
        """Run ``build()``; on any error release what was opened, unlinking what was created."""
        try:
            build()
        except BaseException:
            self._drop_views()
            for shm in self._shms.values():
                with contextlib.suppress(Exception):
                    shm.close()
                if self._owner:
                    with contextlib.suppress(Exception):
                        _shm.unlink_segment(shm)
            self._shms.clear()
            self._closed = True
            raise

    # -- subclass hooks -----------------------------------------------------------------------
    def _drop_views(self) -> None:  # pragma: no cover - overridden
        """Set every numpy view on the segments to None."""

    def _describe_shape(self) -> tuple[int, ...]:  # pragma: no cover - overridden
        raise NotImplementedError

    def _describe_dtype(self) -> np.dtype:  # pragma: no cover - overridden
        raise NotImplementedError

    # -- public -------------------------------------------------------------------------------
    @property
    def lock(self) -> Lock | None:
        """The inter-process lock of this buffer, or None for a lock-less (read-only) handle."""
        return self._lock

    @property
    def owner(self) -> bool:
        """True in the handle that created the segments (the one that must unlink them)."""
        return self._owner

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def segments(self) -> list[str]:
        """Names of all segments of this buffer, the main data segment first."""
        return [self._segment_name(suffix) for suffix in self._suffixes()]

    def _suffixes(self) -> list[str]:
        return list(self._shms) if self._shms else [""]

    def _require_lock(self, method: str) -> Lock:
        if self._lock is None:
            raise RuntimeError(
                f"{self.KIND} {self.name!r} was attached without a lock "
                f"(no {self.name!r} key in locks): {method}() needs it; only lock-free peek "
                "methods work on this handle"
            )
        return self._lock

    def _check_open(self) -> None:
        if self._closed:
            raise RuntimeError(f"{self.KIND} {self.name!r} is closed")

    def describe(self) -> dict[str, Any]:
        """JSON-ready description a client can attach from (see :meth:`from_description`)."""
        return {
            "kind": self.KIND,
            "instance": self.instance,
            "name": self.name,
            "shm_name": self._segment_name(""),
            "segments": self.segments,
            "shape": [int(n) for n in self._describe_shape()],
            "dtype": str(self._describe_dtype()),
        }

    @classmethod
    def from_description(
        cls, description: Mapping[str, Any], locks: Mapping[str, Lock] | None = None
    ) -> SharedBuffer:
        """Attach to the buffer a :meth:`describe` dict describes (any kind)."""
        kind = description.get("kind")
        target = SharedBuffer._kinds.get(kind) if isinstance(kind, str) else None
        if target is None:
            raise ValueError(f"description has an unknown buffer kind: {kind!r}")
        return target._attach_described(description, locks)

    @classmethod
    def _attach_described(
        cls, description: Mapping[str, Any], locks: Mapping[str, Lock] | None
    ) -> SharedBuffer:
        return cls(  # type: ignore[call-arg]
            create=False, locks=locks, instance=description["instance"], name=description["name"]
        )

    def close(self) -> None:
        """Drop this handle's views and unmap the segments (does not unlink; idempotent).

        Raises BufferError if arrays that point into the shared memory, such as zero-copy views
        returned to the caller, are still alive: the handle is then closed for use but keeps
        the mapping; call close() again after dropping those arrays to unmap it.
        """
        if not self._closed:
            self._drop_views()
            self._closed = True
            self._pending_close = list(self._shms.values())
        while self._pending_close:
            _shm.close_segment(self._pending_close[0], f"{self.KIND} {self.name!r}")
            self._pending_close.pop(0)

    def unlink(self) -> None:
        """Creator only: close this handle and remove the segments from the system (idempotent).

        Other handles keep working until they close; nobody can attach any more.
        """
        if not self._owner:
            raise RuntimeError(
                f"only the creator of {self.KIND} {self.name!r} may unlink it; "
                "other handles call close()"
            )
        if self._unlinked:
            return
        try:
            self.close()
        finally:
            for shm in self._shms.values():
                _shm.unlink_segment(shm)
            self._unlinked = True

    def __enter__(self) -> SharedBuffer:
        return self

    def __exit__(self, *exc: object) -> None:
        if self._owner:
            self.unlink()
        else:
            self.close()

    def __del__(self) -> None:
        with contextlib.suppress(Exception):
            self.close()

    def __repr__(self) -> str:
        state = "closed" if getattr(self, "_closed", True) else "open"
        return f"<{type(self).__name__} {getattr(self, 'name', '?')!r} {state}>"
