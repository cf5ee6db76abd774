"""Exceptions raised by the shared-memory buffers."""

from __future__ import annotations


class BufferUnderflow(Exception):
    """Raised when reading from a buffer that holds no (complete) data to read."""


class BufferOverflow(Exception):
    """Raised when writing to a buffer that has no free slot; nothing is stored."""


class DatasetNotReadyError(Exception):
    """Raised when a shared-memory dataset exists but cannot be attached or used yet."""
