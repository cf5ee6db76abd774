"""Import of Z-LUTs saved as text by MagScope.

The text format: row 0 holds the z of each plane (nm); rows 1… hold the profile bins, one
column per plane. Columns are separated by commas, semicolons or whitespace (detected from the
file; ``#`` starts a comment line). MagScope's profiles may sample the radius differently from
ours: the file does not say how, so a LUT whose bin count differs from the current settings is
refused, unless the caller gives the file's radial step (``source_radial_step_px``), in which
case each plane is resampled onto ``settings.radii_px`` by linear interpolation (sound when the
source sampling is at least as fine as the profile's features, and refused where it would
extrapolate beyond the file's outermost radius). Equal bin counts are taken as equal sampling.
The LUT is only meaningful if its profiles are made like ours (raw intensity about the bead
centre, not normalised); this cannot be checked from the file.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np

from magscope_app.tracking import ZLUT, TrackingSettings

from ._files import LUTFileError, LUTFileNotFoundError

_SPLITTERS = {",": re.compile(r"\s*,\s*"), ";": re.compile(r"\s*;\s*")}


def _split(line: str) -> list[str]:
    for sep, pattern in _SPLITTERS.items():
        if sep in line:
            return pattern.split(line.strip().strip(sep))
    return line.split()


def read_magscope_table(path: str | os.PathLike) -> tuple[np.ndarray, np.ndarray]:
    """(z_nm (m,), profiles (m, n_bins)) of a MagScope text LUT; LUTFileError naming the file
    (and line) if it cannot be parsed."""
    path = Path(path)
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise LUTFileNotFoundError(f"MagScope Z-LUT file {path} does not exist") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise LUTFileError(f"MagScope Z-LUT file {path} cannot be read: {exc}") from None
    rows, width = [], None
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        fields = _split(line)
        try:
            values = [float(v) for v in fields]
        except ValueError:
            raise LUTFileError(
                f"{path}, line {number}: not a row of numbers: {raw[:60]!r}"
            ) from None
        if width is None:
            width = len(values)
        elif len(values) != width:
            raise LUTFileError(
                f"{path}, line {number}: {len(values)} columns, the first row has {width}"
            )
        rows.append(values)
    if len(rows) < 2:
        raise LUTFileError(f"{path}: needs a z row and at least one profile row, found {len(rows)}")
    table = np.asarray(rows, dtype=np.float64)
    return table[0].copy(), np.ascontiguousarray(table[1:].T)


def import_magscope_lut(
    path: str | os.PathLike,
    settings: TrackingSettings | None = None,
    *,
    source_radial_step_px: float | None = None,
) -> ZLUT:
    """A :class:`ZLUT` from a MagScope text LUT (see the module docstring for the format).

    ``settings``: the current tracking settings (default ``TrackingSettings()``); the file's bin
    count must equal ``settings.n_bins``, unless ``source_radial_step_px`` gives the file's
    radial sampling (bin k at radius k * step), in which case planes are resampled. Raises
    :class:`LUTFileError` naming the file for anything it cannot use.
    """
    settings = settings or TrackingSettings()
    path = Path(path)
    z, profiles = read_magscope_table(path)
    n_file = profiles.shape[1]
    if source_radial_step_px is None:
        if n_file != settings.n_bins:
            raise LUTFileError(
                f"{path}: the profiles have {n_file} radial bins but the current tracking "
                f"settings give {settings.n_bins} (radial_step_px {settings.radial_step_px:g}, "
                f"radial_max_px {settings.radial_max_px:g}); give source_radial_step_px to "
                "resample, or match the settings"
            )
    else:
        if not source_radial_step_px > 0:
            raise ValueError(f"source_radial_step_px must be > 0, got {source_radial_step_px}")
        r_file = np.arange(n_file) * float(source_radial_step_px)
        r_new = settings.radii_px
        if r_new[-1] > r_file[-1] + 1e-9:
            raise LUTFileError(
                f"{path}: the profiles reach {r_file[-1]:g} px but the settings need "
                f"{r_new[-1]:g} px; cannot resample without extrapolating"
            )
        profiles = np.vstack([np.interp(r_new, r_file, p) for p in profiles])
    try:
        return ZLUT(z, profiles, settings)
    except ValueError as exc:
        raise LUTFileError(f"{path}: not a usable Z-LUT: {exc}") from None
