"""Optional HDF5 compression filters: Blosc (LZ4 + bit-shuffle) from the hdf5plugin package.

The built-in lossless filters (lzf, gzip) compress a 1024x1024 camera frame at about 120 and 70
MB/s per core: too slow for full video at 100 frames/s (200 MB/s). Blosc with LZ4 and bit-shuffle
does about 1 GB/s per core with a better ratio (about 0.48 of the raw size on 12-bit camera
frames). It comes from hdf5plugin, an optional extra (``pip install 'magscope-app[blosc]'``),
which registers the filter with HDF5 when imported; writing or reading such a video needs it.
"""

from __future__ import annotations

from types import ModuleType
from typing import Any

#: Video compressions that need hdf5plugin.
PLUGIN_COMPRESSIONS = ("blosc-lz4",)
INSTALL_HINT = "pip install 'magscope-app[blosc]' (the hdf5plugin package)"


def load_hdf5plugin(what: str) -> ModuleType:
    """Import hdf5plugin (registering its filters); ImportError naming ``what`` needs it."""
    try:
        import hdf5plugin
    except ImportError as e:
        raise ImportError(f"{what} needs the optional package hdf5plugin: {INSTALL_HINT}") from e
    return hdf5plugin


def blosc_lz4_kwargs() -> dict[str, Any]:
    """``create_dataset`` filter arguments of "blosc-lz4": Blosc, LZ4 level 5, bit-shuffle."""
    plugin = load_hdf5plugin("video compression 'blosc-lz4'")
    return dict(plugin.Blosc(cname="lz4", clevel=5, shuffle=plugin.Blosc.BITSHUFFLE))


def needs_plugin(compression: object) -> bool:
    """True if a video dataset's ``compression`` attribute names a plugin filter."""
    text = compression.decode() if isinstance(compression, bytes) else str(compression)
    return text in PLUGIN_COMPRESSIONS
