"""MatrixBuffer: a shared-memory float64 ring of rows (tracks, motor telemetry, profiles)."""

from __future__ import annotations

from collections.abc import Mapping
from multiprocessing.synchronize import Lock

import numpy as np

from . import _shm
from ._base import HEADER_NBYTES, SharedBuffer, shm_view

# Header fields (int64).
_ROWS, _COLUMNS, _POCKET = 2, 3, 4
_TOTAL_WRITTEN = 5  # rows written since creation (T)
_READ_TOTAL = 6  # rows consumed by read() or lost to overflow (Rd <= T)
_OVERWRITTEN = 7  # unread rows lost to overflow
_SEQ = 8  # odd while a writer changes rows or counters


class MatrixBuffer(SharedBuffer):
    """Shared-memory ring of ``rows`` float64 rows of ``columns`` values each.

    Segments: ``msa-{instance}-{name}`` (the rows) and ``msa-{instance}-{name}-meta``
    (counters). Rows never written read as NaN.

    * :meth:`write` appends rows; any number of writer processes (each takes the lock).
    * :meth:`read` consumes the unread rows (one consumer, e.g. the recorder).
    * :meth:`peek_sorted`, :meth:`peek_last`, :meth:`peek_unsorted` never consume and never
      take the lock: they use a sequence counter (retrying if a write overlapped the copy), so
      a viewer never slows the writers and works on a handle attached without a lock.

    Overflow: when writes overtake the consumer, the oldest unread rows are overwritten. That is
    never silent: :attr:`overwritten_rows` counts every unread row lost this way.

    Pocket (from the "ringbuffer" idea): with ``pocket_rows = P > 0`` the segment holds P extra
    rows after the ring that mirror its first P rows, so any window of up to ``P + 1`` rows is
    contiguous even where it wraps, and ``peek_last(n, copy=False)`` can return it as a view.
    It costs P extra rows of memory and copying the first P rows twice on every pass. The
    default is 0: viewers (GUI at ~30 Hz) copy small windows, which costs little, and a copy
    cannot change under the caller or keep the mapping alive past :meth:`close`.
    """

    KIND = "MatrixBuffer"
    KIND_CODE = 2

    def __init__(
        self,
        *,
        create: bool,
        locks: Mapping[str, Lock] | None = None,
        name: str,
        shape: tuple[int, int] | None = None,
        pocket_rows: int = 0,
        instance: str = "default",
    ) -> None:
        self._init_common(name, instance, locks)
        self._data: np.ndarray | None = None
        self._header: np.ndarray | None = None
        if create:
            if shape is None:
                raise ValueError("shape (rows, columns) is required when creating the buffer")
            try:
                rows, columns = shape
            except (TypeError, ValueError):
                raise ValueError(f"shape must be (rows, columns); got {shape!r}") from None
            rows = _shm.positive_int(rows, "shape[0] (rows)")
            columns = _shm.positive_int(columns, "shape[1] (columns)")
            if isinstance(pocket_rows, bool) or not isinstance(pocket_rows, int | np.integer):
                raise ValueError(f"pocket_rows must be an int >= 0; got {pocket_rows!r}")
            if not 0 <= pocket_rows <= rows:
                raise ValueError(f"pocket_rows must be in 0…rows ({rows}); got {pocket_rows}")
            self._run_constructor(lambda: self._create(rows, columns, int(pocket_rows)))
        else:
            self._run_constructor(self._attach)

    # -- construction -------------------------------------------------------------------------
    def _set_geometry(self, rows: int, columns: int, pocket: int) -> None:
        self.shape = (rows, columns)
        self.rows = rows
        self.columns = columns
        self.pocket_rows = pocket
        self.dtype = np.dtype(np.float64)
        self.itemsize = 8
        self.strides = (columns * 8, 8)
        self.nbytes = rows * columns * 8  # bytes of the ring (without the pocket)

    def _create(self, rows: int, columns: int, pocket: int) -> None:
        self._set_geometry(rows, columns, pocket)
        main = self._open_segment("", (rows + pocket) * columns * 8)
        meta = self._open_segment("meta", HEADER_NBYTES)
        self._map(main, meta)
        self._data.fill(np.nan)
        self._init_header(self._header, {_ROWS: rows, _COLUMNS: columns, _POCKET: pocket})

    def _attach(self) -> None:
        meta = self._open_segment("meta")
        header = self._header_view(meta)
        try:
            self._check_header(header, meta.name)
            geometry = int(header[_ROWS]), int(header[_COLUMNS]), int(header[_POCKET])
        finally:
            del header
        self._set_geometry(*geometry)
        main = self._open_segment("")
        self._map(main, meta)

    def _map(self, main, meta) -> None:
        self._data = shm_view(main, np.float64, (self.rows + self.pocket_rows, self.columns))
        self._header = self._header_view(meta)

    def _drop_views(self) -> None:
        self._data = self._header = None

    def _suffixes(self) -> list[str]:
        return ["", "meta"]

    def _describe_shape(self) -> tuple[int, ...]:
        return self.shape

    def _describe_dtype(self) -> np.dtype:
        return self.dtype

    # -- counters -----------------------------------------------------------------------------
    @property
    def total_rows_written(self) -> int:
        """Rows written since creation (including rows later overwritten)."""
        self._check_open()
        return int(self._header[_TOTAL_WRITTEN])

    @property
    def unread_rows(self) -> int:
        """Rows written and neither consumed by read() nor overwritten."""
        self._check_open()
        return self._counts()[0]

    @property
    def overwritten_rows(self) -> int:
        """Unread rows lost because writes overtook the consumer (since creation)."""
        self._check_open()
        return int(self._header[_OVERWRITTEN])

    def _counts(self) -> tuple[int, int]:
        """(unread rows, total written) as one consistent snapshot."""
        header = self._header
        for _ in _shm.retry_delays():
            before = int(header[_SEQ])
            if before & 1:
                continue
            total, read = int(header[_TOTAL_WRITTEN]), int(header[_READ_TOTAL])
            if int(header[_SEQ]) == before:
                return total - read, total
        raise RuntimeError(f"{self.name}: could not read consistent counters (writer stuck?)")

    def get_count_index(self) -> int:
        """Number of unread bytes (unread rows × columns × 8)."""
        return self.unread_rows * self.strides[0]

    def get_read_index(self) -> int:
        """Byte offset in the ring of the next row read() returns."""
        self._check_open()
        return int(self._header[_READ_TOTAL]) % self.rows * self.strides[0]

    def get_write_index(self) -> int:
        """Byte offset in the ring where the next row will be written."""
        self._check_open()
        return int(self._header[_TOTAL_WRITTEN]) % self.rows * self.strides[0]

    # -- writing ------------------------------------------------------------------------------
    def write(self, np_array: np.ndarray) -> None:
        """Append rows: a 2-D ``(k, columns)`` array or one 1-D ``(columns,)`` row.

        Values are converted to float64. If unread rows must be overwritten (the consumer is
        behind by more than ``rows``), they are counted in :attr:`overwritten_rows`; of a write
        longer than the ring only the last ``rows`` rows stay.
        """
        self._check_open()
        try:
            block = np.asarray(np_array, dtype=np.float64)
        except (TypeError, ValueError):
            raise ValueError(f"{self.name}: rows must be numeric; got {np_array!r}") from None
        if block.ndim == 1:
            block = block[np.newaxis, :]
        if block.ndim != 2 or block.shape[1] != self.columns:
            raise ValueError(
                f"{self.name}: rows must have shape (k, {self.columns}) or ({self.columns},); "
                f"got {np.shape(np_array)}"
            )
        count = len(block)
        if count == 0:
            return
        header = self._header
        with self._require_lock("write"):
            header[_SEQ] += 1
            try:
                total, read = int(header[_TOTAL_WRITTEN]), int(header[_READ_TOTAL])
                kept = block[-self.rows :]
                self._put((total + count - len(kept)) % self.rows, kept)
                lost = max(0, total - read + count - self.rows)
                header[_OVERWRITTEN] += lost
                header[_READ_TOTAL] = read + lost
                header[_TOTAL_WRITTEN] = total + count
            finally:
                header[_SEQ] += 1

    def _put(self, start: int, block: np.ndarray) -> None:
        """Copy ``block`` (at most ``rows`` rows) into the ring from row ``start``, wrapping,
        and keep the pocket equal to the first ``pocket_rows`` rows."""
        rows, pocket, data = self.rows, self.pocket_rows, self._data
        first = min(len(block), rows - start)
        chunks = [(start, block[:first])]
        if first < len(block):
            chunks.append((0, block[first:]))
        for at, chunk in chunks:
            stop = at + len(chunk)
            data[at:stop] = chunk
            if at < pocket:
                mirror = min(stop, pocket)
                data[rows + at : rows + mirror] = chunk[: mirror - at]

    def clear(self) -> None:
        """Set every row to NaN and mark everything read (counters are kept)."""
        self._check_open()
        header = self._header
        with self._require_lock("clear"):
            header[_SEQ] += 1
            try:
                self._data.fill(np.nan)
                header[_READ_TOTAL] = header[_TOTAL_WRITTEN]
            finally:
                header[_SEQ] += 1

    # -- reading ------------------------------------------------------------------------------
    def _window(self, first: int, count: int) -> np.ndarray:
        """Rows ``first`` … ``first + count - 1`` (counted since creation, count <= rows): a
        view when contiguous (pocket included), else a copy."""
        start = first % self.rows
        if start + count <= self.rows + self.pocket_rows:
            return self._data[start : start + count]
        head = self.rows - start
        return np.concatenate((self._data[start : self.rows], self._data[: count - head]))

    def read(self) -> np.ndarray:
        """Consume and return (a copy of) the unread rows in write order, ``(k, columns)``;
        ``k`` may be 0."""
        self._check_open()
        header = self._header
        with self._require_lock("read"):
            total, read = int(header[_TOTAL_WRITTEN]), int(header[_READ_TOTAL])
            rows = np.array(self._window(read, total - read), copy=True)
            header[_READ_TOTAL] = total
        return rows

    def _snapshot(self, wanted: int | None) -> np.ndarray:
        """Copy of the newest ``wanted`` (None: all) valid rows, lock-free (seqlock)."""
        header = self._header
        for _ in _shm.retry_delays():
            before = int(header[_SEQ])
            if before & 1:
                continue
            total = int(header[_TOTAL_WRITTEN])
            count = min(total, self.rows)
            if wanted is not None:
                count = min(count, wanted)
            rows = np.array(self._window(total - count, count), copy=True)
            if int(header[_SEQ]) == before:
                return rows
        raise RuntimeError(f"{self.name}: could not read a consistent snapshot (writer stuck?)")

    def peek_sorted(self) -> np.ndarray:
        """Copy of all valid rows (at most ``rows``), oldest first; consumes nothing."""
        self._check_open()
        return self._snapshot(None)

    def peek_last(self, n: int, *, copy: bool = True) -> np.ndarray:
        """The newest ``min(n, rows written)`` rows, oldest first; consumes nothing.

        ``copy=False`` returns a read-only zero-copy view instead; it needs ``n`` <=
        ``pocket_rows + 1`` (ValueError otherwise) so that it is contiguous even where it
        wraps. The view shows live memory: read it before ``rows - n`` more rows are written,
        and drop it before :meth:`close`.
        """
        self._check_open()
        if isinstance(n, bool) or not isinstance(n, int | np.integer) or n < 0:
            raise ValueError(f"n must be an int >= 0; got {n!r}")
        n = min(int(n), self.rows)
        if copy:
            return self._snapshot(n)
        if n > self.pocket_rows + 1:
            raise ValueError(
                f"{self.name}: peek_last(n={n}, copy=False) needs n <= pocket_rows + 1 "
                f"= {self.pocket_rows + 1}"
            )
        total = int(self._header[_TOTAL_WRITTEN])
        count = min(total, n)
        view = self._window(total - count, count)
        view.flags.writeable = False
        return view

    def peek_unsorted(self) -> np.ndarray:
        """Read-only view of the whole ring ``(rows, columns)`` in storage order (row
        ``get_write_index() // (columns*8)`` is the next to be overwritten). Live memory:
        drop it before :meth:`close`."""
        self._check_open()
        view = self._data[: self.rows]
        view.flags.writeable = False
        return view
