"""Checksum of a recording: SHA-256 over every dataset, and ``verify``.

Definition (``ALGORITHM`` = "sha256-v1"):

1. For every dataset, in sorted order of its full path (``/beads/rois`` < ``/config/hardware``),
   a per-dataset SHA-256 over its canonical bytes in C order along the first axis:
   numeric data as little-endian raw bytes; variable-length strings (alone or as compound fields,
   row by row, field by field) as an 8-byte little-endian length followed by the UTF-8 bytes.
   These bytes do not depend on how the data was split into appends, so the writer hashes
   incrementally while writing and never re-reads the file at close.
2. The file checksum is SHA-256 over, per dataset: ``path \\0 dtype \\0 shape \\0 digest \\n``.

Attributes are not covered (the checksum itself is one). Stored as root attribute ``checksum``
(``"sha256:<hex>"``) when a recording is closed cleanly.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np

from magscope_app.recording import schema
from magscope_app.recording._filters import load_hdf5plugin, needs_plugin
from magscope_app.recording.errors import RecordingError

ALGORITHM = "sha256-v1"
PREFIX = "sha256:"
_SLAB_BYTES = 32 * 2**20


def _is_vlen_str(dtype: np.dtype) -> bool:
    return h5py.check_string_dtype(dtype) is not None and dtype.kind == "O"


def dtype_text(dtype: np.dtype) -> str:
    """Stable text for a dataset dtype (vlen strings as ``vstr``)."""
    if dtype.names:
        return "{" + ",".join(f"{n}:{dtype_text(dtype[n])}" for n in dtype.names) + "}"
    if _is_vlen_str(dtype) or dtype.kind == "O":
        return "vstr"
    return dtype.newbyteorder("<").str if dtype.byteorder != "|" else dtype.str


def _str_bytes(value: object) -> bytes:
    b = value.encode("utf-8") if isinstance(value, str) else bytes(value)  # type: ignore[arg-type]
    return len(b).to_bytes(8, "little") + b


class DatasetHasher:
    """SHA-256 of one dataset's canonical bytes, fed block by block (rows along axis 0)."""

    def __init__(self, dtype: np.dtype) -> None:
        self.dtype = np.dtype(dtype)
        self._h = hashlib.sha256()
        self._object = self.dtype.kind == "O" or (
            self.dtype.names is not None
            and any(self.dtype[n].kind == "O" for n in self.dtype.names)
        )

    def update(self, block: np.ndarray | object) -> None:
        """Add rows (or a scalar dataset's value) in order."""
        if not self._object:
            arr = np.asarray(block, dtype=self.dtype.newbyteorder("<"))
            self._h.update(np.ascontiguousarray(arr).data.cast("B"))
            return
        if self.dtype.names is None:
            values = np.asarray(block, dtype=object).reshape(-1)
            self._h.update(b"".join(_str_bytes(v) for v in values))
            return
        parts: list[bytes] = []
        for row in np.asarray(block).reshape(-1):
            for name in self.dtype.names:
                v = row[name]
                if self.dtype[name].kind == "O":
                    parts.append(_str_bytes(v))
                else:
                    parts.append(np.asarray(v, dtype=self.dtype[name].newbyteorder("<")).tobytes())
        self._h.update(b"".join(parts))

    def hexdigest(self) -> str:
        return self._h.hexdigest()


def combine(entries: Iterable[tuple[str, np.dtype, tuple[int, ...], str]]) -> str:
    """File checksum from (path, dtype, shape, dataset digest) entries; sorted here by path."""
    h = hashlib.sha256()
    for path, dtype, shape, digest in sorted(entries, key=lambda e: e[0]):
        line = f"{path}\0{dtype_text(np.dtype(dtype))}\0{tuple(int(s) for s in shape)}\0{digest}\n"
        h.update(line.encode("utf-8"))
    return PREFIX + h.hexdigest()


def dataset_digest(ds: h5py.Dataset) -> str:
    """Per-dataset digest, recomputed by reading it in slabs of about 32 MB."""
    hasher = DatasetHasher(ds.dtype)
    if ds.shape == ():
        hasher.update(ds[()])
        return hasher.hexdigest()
    row_bytes = max(1, ds.dtype.itemsize * int(np.prod(ds.shape[1:], dtype=np.int64)))
    step = max(1, _SLAB_BYTES // row_bytes)
    for start in range(0, ds.shape[0], step):
        hasher.update(ds[start : start + step])
    return hasher.hexdigest()


def file_checksum(f: h5py.File) -> str:
    """Recompute the checksum of an open file by reading every dataset."""
    entries: list[tuple[str, np.dtype, tuple[int, ...], str]] = []

    def visit(name: str, obj: object) -> None:
        if isinstance(obj, h5py.Dataset):
            if hasattr(obj, "refresh") and f.swmr_mode:
                obj.refresh()
            entries.append(("/" + name, obj.dtype, obj.shape, dataset_digest(obj)))

    f.visititems(visit)
    return combine(entries)


@dataclass(frozen=True)
class VerifyResult:
    """Outcome of ``verify``. ``status``: "ok", "mismatch" or "no_checksum"."""

    path: Path
    status: str
    stored: str | None
    computed: str
    message: str

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    def __str__(self) -> str:
        return self.message


def verify(path: str | Path) -> VerifyResult:
    """Recompute the checksum of ``path`` and compare it with the stored one.

    "no_checksum" means the file was not closed cleanly (crash, recovered, stopped by an error
    before close finished). Raises RecordingError if the file cannot be opened.
    """
    path = Path(path)
    try:
        f = h5py.File(path, "r", swmr=True)
    except (OSError, ValueError) as e:
        raise RecordingError(path, f"cannot open for verification: {e}") from e
    with f:
        stored = schema.decode(f.attrs.get(schema.A_CHECKSUM, b""))
        for name in (schema.VIDEO_FRAMES, schema.VIDEO_ROIS):
            if name in f and needs_plugin(f[name].attrs.get("compression", "")):
                try:
                    load_hdf5plugin(f"verifying this video ({f[name].attrs['compression']})")
                except ImportError as e:
                    raise RecordingError(path, str(e)) from None
        computed = file_checksum(f)
    stored = str(stored) if stored else None
    if stored is None:
        return VerifyResult(
            path, "no_checksum", None, computed,
            f"{path}: no checksum (not closed cleanly); content checksum {computed}",
        )  # fmt: skip
    if stored == computed:
        return VerifyResult(path, "ok", stored, computed, f"{path}: ok ({computed})")
    return VerifyResult(
        path, "mismatch", stored, computed,
        f"{path}: MISMATCH: stored {stored}, computed {computed} (the data changed after close)",
    )  # fmt: skip
