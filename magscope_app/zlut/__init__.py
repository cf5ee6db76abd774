"""Z-LUT calibration: per-bead LUTs from a focus sweep, their quality, and LUT files.

* :func:`build_luts`: per-bead :class:`~magscope_app.tracking.ZLUT` from the rows of a
  ``ZLUTSweepDataset`` (its ``peek()`` dict).
* :func:`assess_luts`: per-bead quality (:class:`BeadQuality`) and the choice of usable beads
  under :class:`QualityThresholds`, as a :class:`QualityReport`.
"""

from ._build import BuiltLUTs, PlaneScatter, build_luts
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
    "PlaneScatter",
    "QualityReport",
    "QualityThresholds",
    "assess_bead",
    "assess_luts",
    "build_luts",
]
