"""Z-LUT calibration: per-bead LUTs from a focus sweep, their quality, and LUT files.

* :func:`build_luts`: per-bead :class:`~magscope_app.tracking.ZLUT` from the rows of a
  ``ZLUTSweepDataset`` (its ``peek()`` dict); beads without a LUT in ``.rejected``.
* :func:`assess_luts`: per-bead quality (:class:`BeadQuality`: contrast, neighbour correlation,
  plane separation vs noise, ambiguity, predicted z precision) and the choice of usable beads
  under :class:`QualityThresholds`, as a :class:`QualityReport` (``to_dict``,
  ``format_report``).
* :func:`recent_motion`, :func:`lateral_rms_by_bead`, :func:`sweep_motion_warning`,
  :func:`motion_hint`: the beads' own motion while the focus is still (from track rows and
  the sweep's profiles) and the plain-words advice when it spoils a LUT.
* :func:`save_luts` / :func:`load_luts`: HDF5 LUT files (:class:`LUTFile`,
  :class:`LUTFileError`); :func:`import_magscope_lut` reads MagScope's text LUTs.
* :func:`remember_last` / :func:`last_lut`: the last LUT file, kept in the state folder.
* :func:`save_force_curves` / :func:`load_force_curves`: force-versus-magnet-height curves and
  surface positions in a LUT file's ``force_curve`` group (or a file of their own).
"""

from ._build import BuiltLUTs, PlaneScatter, build_luts
from ._files import (
    LUTFile,
    LUTFileError,
    LUTFileNotFoundError,
    last_lut,
    load_force_curves,
    load_luts,
    remember_last,
    save_force_curves,
    save_luts,
)
from ._magscope import import_magscope_lut, read_magscope_table
from ._motion import (
    BeadMotion,
    lateral_rms,
    lateral_rms_by_bead,
    motion_hint,
    recent_motion,
    sweep_motion_warning,
    z_variance_per_plane,
)
from ._quality import (
    BeadQuality,
    QualityReport,
    QualityThresholds,
    assess_bead,
    assess_luts,
)

__all__ = [
    "BeadMotion",
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
    "lateral_rms",
    "lateral_rms_by_bead",
    "load_force_curves",
    "load_luts",
    "motion_hint",
    "read_magscope_table",
    "recent_motion",
    "remember_last",
    "save_force_curves",
    "save_luts",
    "sweep_motion_warning",
    "z_variance_per_plane",
]
