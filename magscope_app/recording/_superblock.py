"""Pure-Python repair of the HDF5 superblock of a file whose writer died (what ``h5clear`` does).

A file written with ``libver='latest'`` has a version 2/3 superblock at offset 0::

    0  signature (8)   8 version   9 size of offsets   10 size of lengths
    11 file consistency flags (bit 0: open for write, bit 2: open for SWMR write)
    12 base address, superblock extension address, end-of-file address, root object header
       address (size-of-offsets bytes each), then a 4-byte Jenkins lookup3 checksum of all
       bytes before it.

HDF5 refuses to open a file for writing (and, without SWMR, even for reading) while the flags are
set, and refuses any non-SWMR open when the file is shorter than the stored end-of-file address
(a write failed half-way). ``repair`` clears the flags, extends a short file to the stored
end-of-file (a sparse hole, no disk space needed), raises the stored end-of-file to the real file
size if that is larger, and rewrites the checksum. Nothing else is touched.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

SIGNATURE = b"\x89HDF\r\n\x1a\n"
_FLAGS = 11
_M = 0xFFFFFFFF


def _rot(x: int, k: int) -> int:
    return ((x << k) | (x >> (32 - k))) & _M


def lookup3(data: bytes, initval: int = 0) -> int:
    """Bob Jenkins' lookup3 ``hashlittle`` as used by HDF5 for metadata checksums."""
    n = len(data)
    a = b = c = (0xDEADBEEF + n + initval) & _M
    i = 0
    while n > 12:
        a = (a + int.from_bytes(data[i : i + 4], "little")) & _M
        b = (b + int.from_bytes(data[i + 4 : i + 8], "little")) & _M
        c = (c + int.from_bytes(data[i + 8 : i + 12], "little")) & _M
        a = (a - c) & _M
        a ^= _rot(c, 4)
        c = (c + b) & _M
        b = (b - a) & _M
        b ^= _rot(a, 6)
        a = (a + c) & _M
        c = (c - b) & _M
        c ^= _rot(b, 8)
        b = (b + a) & _M
        a = (a - c) & _M
        a ^= _rot(c, 16)
        c = (c + b) & _M
        b = (b - a) & _M
        b ^= _rot(a, 19)
        a = (a + c) & _M
        c = (c - b) & _M
        c ^= _rot(b, 4)
        b = (b + a) & _M
        n -= 12
        i += 12
    if n == 0:
        return c
    tail = data[i:] + bytes(12 - n)
    a = (a + int.from_bytes(tail[0:4], "little")) & _M
    b = (b + int.from_bytes(tail[4:8], "little")) & _M
    c = (c + int.from_bytes(tail[8:12], "little")) & _M
    c ^= b
    c = (c - _rot(b, 14)) & _M
    a ^= c
    a = (a - _rot(c, 11)) & _M
    b ^= a
    b = (b - _rot(a, 25)) & _M
    c ^= b
    c = (c - _rot(b, 16)) & _M
    a ^= c
    a = (a - _rot(c, 4)) & _M
    b ^= a
    b = (b - _rot(a, 14)) & _M
    c ^= b
    c = (c - _rot(b, 24)) & _M
    return c


@dataclass(frozen=True)
class SuperblockState:
    """What ``inspect`` found: consistency flags, stored end-of-file, real file size (bytes)."""

    flags: int
    stored_eof: int
    file_size: int

    @property
    def needs_repair(self) -> bool:
        return self.flags != 0 or self.file_size < self.stored_eof


def _layout(sb: bytes, path: Path) -> tuple[int, int]:
    """(offset size, superblock length without checksum); ValueError if not a v2/v3 superblock."""
    if sb[:8] != SIGNATURE:
        raise ValueError(f"{path}: no HDF5 signature at offset 0")
    if sb[8] not in (2, 3):
        raise ValueError(f"{path}: superblock version {sb[8]} (only 2 and 3 are handled)")
    size = sb[9]
    if size not in (2, 4, 8):
        raise ValueError(f"{path}: unexpected size of offsets {size}")
    body = 12 + 4 * size
    if lookup3(sb[:body]) != int.from_bytes(sb[body : body + 4], "little"):
        raise ValueError(f"{path}: superblock checksum does not match")
    return size, body


def inspect(path: str | Path) -> SuperblockState:
    """Read the superblock state of ``path`` (ValueError if it is not a v2/v3 superblock)."""
    path = Path(path)
    with open(path, "rb") as fh:
        sb = fh.read(48)
        size, _ = _layout(sb, path)
        eof_at = 12 + 2 * size
        eof = int.from_bytes(sb[eof_at : eof_at + size], "little")
        return SuperblockState(sb[_FLAGS], eof, os.fstat(fh.fileno()).st_size)


def repair(path: str | Path) -> bool:
    """Clear the consistency flags and fix the end-of-file of ``path``; True if it changed.

    Raises ValueError for a superblock this does not handle, OSError if the file is not writable.
    """
    path = Path(path)
    with open(path, "r+b") as fh:
        sb = bytearray(fh.read(48))
        size, body = _layout(bytes(sb), path)
        eof_at = 12 + 2 * size
        eof = int.from_bytes(sb[eof_at : eof_at + size], "little")
        file_size = os.fstat(fh.fileno()).st_size
        if sb[_FLAGS] == 0 and file_size >= eof:
            return False
        if file_size < eof:
            os.ftruncate(fh.fileno(), eof)  # sparse: the missing tail reads as zeros
        sb[_FLAGS] = 0
        sb[eof_at : eof_at + size] = max(eof, file_size).to_bytes(size, "little")
        sb[body : body + 4] = lookup3(bytes(sb[:body])).to_bytes(4, "little")
        fh.seek(0)
        fh.write(sb[: body + 4])
        fh.flush()
        os.fsync(fh.fileno())
    return True
