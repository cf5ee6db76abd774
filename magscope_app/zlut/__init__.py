"""Z-LUT calibration: per-bead LUTs from a focus sweep, their quality, and LUT files.

* :func:`build_luts`: per-bead :class:`~magscope_app.tracking.ZLUT` from the rows of a
  ``ZLUTSweepDataset`` (its ``peek()`` dict); beads without a LUT in ``.rejected``.
* :func:`assess_luts`: per-bead quality (:class:`BeadQuality`: contrast, neighbour correlation,
  plane separation vs noise, ambiguity, predicted z precision) and the choice of usable beads
  under :class:`QualityThresholds`, as a :class:`QualityReport` (``to_dict``,
  ``format_report``).
* :func:`save_luts` / :func:`load_luts`: HDF5 LUT files (:class:`LUTFile`,
  :class:`LUTFileError`); :func:`import_magscope_lut` reads MagScope's text LUTs.
* :func:`remember_last` / :func:`last_lut`: the last LUT file, kept in the state folder.
"""

from ._build import BuiltLUTs, PlaneScatter, build_luts
from ._files import (
    LUTFile,
    LUTFileError,
    LUTFileNotFoundError,
    last_lut,
    load_luts,
    remember_last,
    save_luts,
)
from ._magscope import import_magscope_lut, read_magscope_table
from ._quality import (
    BeadQuality,
    QualityReport,
    QualityThresholds,
    assess_bead,
    assess_luts,
)

__all__ = [
    "BeadQuality",
    "BuiltLUTs",
    "LUTFile",
    "LUTFileError",
    "LUTFileNotFoundError",
    "PlaneScatter",
    "QualityReport",
    "QualityThresholds",
    "assess_bead",
    "assess_luts",
    "build_luts",
    "import_magscope_lut",
    "last_lut",
    "load_luts",
    "read_magscope_table",
    "remember_last",
    "save_luts",
]
