"""Pixel dtypes."""

from __future__ import annotations

import numpy as np

_BITS_TO_DTYPE: dict[int, np.dtype] = {
    8: np.dtype(np.uint8),
    16: np.dtype(np.uint16),
    32: np.dtype(np.uint32),
    64: np.dtype(np.uint64),
}


def int_to_uint_dtype(bits: int) -> np.dtype:
    """Return the unsigned integer dtype that is ``bits`` wide (8, 16, 32 or 64).

    Raises ValueError naming ``bits`` for any other value (including bools and non-integers).
    """
    if isinstance(bits, bool) or not isinstance(bits, int | np.integer):
        raise ValueError(f"bits must be one of 8, 16, 32, 64; got {bits!r}")
    try:
        return _BITS_TO_DTYPE[int(bits)]
    except KeyError:
        raise ValueError(f"bits must be one of 8, 16, 32, 64; got {bits!r}") from None
