"""Z-LUT files (HDF5) and the daemon's memory of the last LUT file.

Layout of a LUT file (h5py)::

    /                    attrs: format = "magscope-app Z-LUT", format_version = 1,
                                created (ISO 8601, UTC), software_version,
                                roi_size = [height, width] (px), pixel_size_nm,
                                n_bins, tracking_settings (JSON of TrackingSettings.to_dict())
    /beads/<id>/z_nm      (m,)          float64, ascending
    /beads/<id>/profiles  (m, n_bins)   float64
    /beads/<id>           attrs: bead_id
    /quality_report       scalar str    JSON of QualityReport.to_dict() (optional)
    /force_curve          the force calibration (:func:`save_force_curves`; optional)

Files are written to a temporary file next to the target and renamed into place, so a crash
never leaves a half-written LUT under the target name. Saving LUTs over a file keeps the force
calibration it holds, and saving a force calibration into a LUT file keeps its LUTs.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, fields
from datetime import UTC, datetime
from pathlib import Path

import h5py
import numpy as np

from magscope_app import __version__
from magscope_app.tracking import PROFILE_FIELDS, ZLUT, TrackingSettings, ZLUTSet

from ._quality import QualityReport

FORMAT = "magscope-app Z-LUT"
FORMAT_VERSION = 1
LAST_LUT_FILE = "last_zlut.json"


class LUTFileError(ValueError):
    """A Z-LUT file is missing, unreadable, corrupt, or does not fit the current settings."""


class LUTFileNotFoundError(LUTFileError, FileNotFoundError):
    """The Z-LUT file does not exist (also a FileNotFoundError)."""


def _roi_tuple(roi_size) -> tuple[int, int]:
    size = np.atleast_1d(np.asarray(roi_size)).astype(np.int64).tolist()
    if len(size) == 1:
        size = size * 2
    if len(size) != 2 or min(size) < 4:
        raise ValueError(f"roi_size must be an int or (height, width) >= 4 px, got {roi_size!r}")
    return int(size[0]), int(size[1])


@dataclass(frozen=True)
class LUTFile:
    """The content of a Z-LUT file (see :func:`load_luts`)."""

    path: Path
    luts: dict[int, ZLUT]
    settings: TrackingSettings
    roi_size: tuple[int, int]
    pixel_size_nm: float
    created: str
    software_version: str
    report: QualityReport | None = None

    @property
    def bead_ids(self) -> list[int]:
        return sorted(self.luts)

    def as_zlut_set(self, bead: int | None = None, *, usable_only: bool = False) -> ZLUTSet:
        """LUTs for tracking. ``bead=None``: each bead its own LUT (``usable_only``: only the
        beads the stored quality report accepts). ``bead=<id>``: that bead's LUT as the default
        for every bead. KeyError naming the stored beads if ``bead`` has no LUT."""
        if bead is not None:
            if int(bead) not in self.luts:
                raise KeyError(f"{self.path} has no LUT of bead {bead} (beads {self.bead_ids})")
            return ZLUTSet(default=self.luts[int(bead)])
        luts = self.luts
        if usable_only:
            if self.report is None:
                raise LUTFileError(f"{self.path} holds no quality report to select beads with")
            luts = self.report.select(luts)
        return ZLUTSet(luts=luts)


def save_luts(
    path: str | os.PathLike,
    luts: Mapping[int, ZLUT],
    *,
    roi_size: int | tuple[int, int],
    pixel_size_nm: float,
    report: QualityReport | None = None,
) -> Path:
    """Write per-bead LUTs (all with the same profile settings) to an HDF5 file; returns its
    path. ``roi_size``: ROI edge or (height, width) in px; ``pixel_size_nm`` > 0. The settings
    of the first LUT are stored. A force calibration (group :data:`FORCE_GROUP`) in the file
    being replaced is carried over."""
    path = Path(path)
    if not luts:
        raise ValueError("no Z-LUTs to save")
    settings = next(iter(luts.values())).settings
    if any(not lut.settings.same_profiles(settings) for lut in luts.values()):
        raise ValueError("all Z-LUTs of a file must be made with the same profile settings")
    roi = _roi_tuple(roi_size)
    if not (math.isfinite(pixel_size_nm) and pixel_size_nm > 0):
        raise ValueError(f"pixel_size_nm must be > 0, got {pixel_size_nm!r}")
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        with h5py.File(tmp, "w") as f:
            f.attrs["format"] = FORMAT
            f.attrs["format_version"] = FORMAT_VERSION
            f.attrs["created"] = datetime.now(UTC).isoformat(timespec="seconds")
            f.attrs["software_version"] = __version__
            f.attrs["roi_size"] = np.asarray(roi, dtype=np.int64)
            f.attrs["pixel_size_nm"] = float(pixel_size_nm)
            f.attrs["n_bins"] = settings.n_bins
            f.attrs["tracking_settings"] = json.dumps(settings.to_dict(), sort_keys=True)
            beads = f.create_group("beads")
            for bead in sorted(int(b) for b in luts):
                lut = luts[bead]
                g = beads.create_group(str(bead))
                g.attrs["bead_id"] = bead
                g.create_dataset("z_nm", data=lut.z_nm)
                g.create_dataset("profiles", data=lut.profiles)
            if report is not None:
                f.create_dataset("quality_report", data=json.dumps(report.to_dict()))
            _carry_force_group(path, f)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    return path


def _carry_force_group(old_path: Path, new_file: h5py.File) -> None:
    """Copy the force calibration of the file at ``old_path`` (if it is an HDF5 file holding
    one) into ``new_file``."""
    if not old_path.is_file():
        return
    try:
        with h5py.File(old_path, "r") as old:
            if FORCE_GROUP in old:
                old.copy(old[FORCE_GROUP], new_file, name=FORCE_GROUP)
    except OSError:
        pass  # not an HDF5 file (or unreadable): nothing to keep


def _settings_from_json(text: str, path: Path) -> TrackingSettings:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise LUTFileError(f"{path}: tracking settings are not valid JSON ({exc})") from None
    if not isinstance(data, dict):
        raise LUTFileError(f"{path}: tracking settings are not a JSON object")
    known = {f.name for f in fields(TrackingSettings)}
    missing = sorted(set(PROFILE_FIELDS) - set(data))
    if missing:
        raise LUTFileError(f"{path}: the file does not say its profile settings {missing}")
    # A LUT depends on the profile settings only: xy-fit settings of another version (names this
    # version no longer has, or lacks) do not matter, and the current defaults stand in for them.
    try:
        return TrackingSettings(**{k: v for k, v in data.items() if k in known})
    except (TypeError, ValueError) as exc:
        raise LUTFileError(f"{path}: invalid tracking settings ({exc})") from None


def _settings_difference(stored: TrackingSettings, current: TrackingSettings) -> list[str]:
    """The profile settings (the ones a LUT depends on) in which the file and now differ."""
    a, b = stored.to_dict(), current.to_dict()
    return [f"{k}: file {a[k]!r}, current {b[k]!r}" for k in PROFILE_FIELDS if a[k] != b[k]]


def _text(value) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def load_luts(
    path: str | os.PathLike,
    *,
    expected_settings: TrackingSettings | None = None,
    roi_size: int | tuple[int, int] | None = None,
    pixel_size_nm: float | None = None,
) -> LUTFile:
    """Read a Z-LUT file written by :func:`save_luts`.

    The stored profile settings (:data:`PROFILE_FIELDS`), ROI size and pixel size are compared
    with the ones given (None: not checked); a mismatch raises :class:`LUTFileError` naming every
    difference. A missing file raises :class:`LUTFileNotFoundError`; an unreadable, corrupt or
    truncated file, or one that is not a Z-LUT file, raises :class:`LUTFileError` naming the file.
    """
    path = Path(path)
    if not path.exists():
        raise LUTFileNotFoundError(f"Z-LUT file {path} does not exist")
    try:
        f = h5py.File(path, "r")
    except OSError as exc:
        raise LUTFileError(
            f"Z-LUT file {path} cannot be read (not HDF5, truncated or corrupt): {exc}"
        ) from None
    try:
        with f:
            return _read(f, path, expected_settings, roi_size, pixel_size_nm)
    except LUTFileError:
        raise
    except (OSError, KeyError, ValueError, TypeError) as exc:
        raise LUTFileError(f"Z-LUT file {path} is corrupt or incomplete: {exc}") from None


def _read(f, path, expected_settings, roi_size, pixel_size_nm) -> LUTFile:
    if _text(f.attrs.get("format", "")) != FORMAT:
        raise LUTFileError(f"{path} is not a magscope-app Z-LUT file")
    version = int(f.attrs.get("format_version", -1))
    if version != FORMAT_VERSION:
        raise LUTFileError(
            f"{path} has Z-LUT format version {version}; this code reads {FORMAT_VERSION}"
        )
    settings = _settings_from_json(_text(f.attrs["tracking_settings"]), path)
    stored_roi = _roi_tuple(f.attrs["roi_size"])
    stored_px = float(f.attrs["pixel_size_nm"])
    problems = []
    if expected_settings is not None:
        problems += _settings_difference(settings, expected_settings)
    if roi_size is not None and _roi_tuple(roi_size) != stored_roi:
        problems.append(f"roi_size: file {list(stored_roi)}, current {list(_roi_tuple(roi_size))}")
    if pixel_size_nm is not None and not math.isclose(stored_px, pixel_size_nm, rel_tol=1e-6):
        problems.append(f"pixel_size_nm: file {stored_px:g}, current {pixel_size_nm:g}")
    if problems:
        raise LUTFileError(
            f"Z-LUT file {path} does not fit the current settings: " + "; ".join(problems)
        )
    luts = {}
    for name, g in f["beads"].items():
        z, profiles = g["z_nm"][()], g["profiles"][()]
        if profiles.ndim != 2 or profiles.shape[1] != settings.n_bins:
            raise LUTFileError(
                f"{path}: bead {name} has profiles of shape {profiles.shape}, the stored "
                f"settings give {settings.n_bins} bins"
            )
        try:
            luts[int(g.attrs.get("bead_id", name))] = ZLUT(z, profiles, settings)
        except ValueError as exc:
            raise LUTFileError(f"{path}: the LUT of bead {name} is invalid: {exc}") from None
    if not luts:
        raise LUTFileError(f"{path} holds no Z-LUT")
    report = None
    if "quality_report" in f:
        report = QualityReport.from_dict(json.loads(_text(f["quality_report"][()])))
    return LUTFile(
        path=path,
        luts=luts,
        settings=settings,
        roi_size=stored_roi,
        pixel_size_nm=stored_px,
        created=_text(f.attrs.get("created", "")),
        software_version=_text(f.attrs.get("software_version", "")),
        report=report,
    )


# -- "last LUT" memory ---------------------------------------------------------------------------
def remember_last(state_dir: str | os.PathLike, path: str | os.PathLike) -> Path:
    """Record ``path`` (made absolute) as the last Z-LUT file in ``state_dir``/last_zlut.json;
    returns the JSON file's path. Written atomically."""
    state = Path(state_dir)
    state.mkdir(parents=True, exist_ok=True)
    target = state / LAST_LUT_FILE
    record = {
        "path": str(Path(path).expanduser().resolve()),
        "remembered": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    fd, tmp = tempfile.mkstemp(prefix=f".{LAST_LUT_FILE}.", dir=state)
    with os.fdopen(fd, "w") as out:
        json.dump(record, out)
    os.replace(tmp, target)
    return target


def last_lut(state_dir: str | os.PathLike) -> Path | None:
    """The last remembered Z-LUT file, or None if none was remembered, the record is
    unreadable, or the file no longer exists."""
    try:
        record = json.loads((Path(state_dir) / LAST_LUT_FILE).read_text())
        path = Path(record["path"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return path if path.is_file() else None


# -- force calibration stored with the LUTs -------------------------------------------------------
#: Group of a LUT file (or a file of its own) holding the force-versus-magnet-height curves:
#: ``/force_curve/bead_<id>`` per bead and ``/force_curve/pooled`` (each as written by
#: :func:`magscope_app.analysis.force_curve.save_force_curve`) and the attribute
#: ``surface_z_nm`` = JSON {bead id: z of the bead on the surface, nm}.
FORCE_GROUP = "force_curve"
LAST_FORCE_FILE = "last_force_curve.json"


def save_force_curves(
    path: str | os.PathLike, curves: Mapping[int | None, object], surfaces: Mapping[int, float]
) -> Path:
    """Write force curves ({bead or None (pooled): ForceCurve}) and surface positions into the
    group :data:`FORCE_GROUP` of the HDF5 file ``path`` (created if missing, other groups kept,
    e.g. the Z-LUTs); returns the absolute path."""
    from magscope_app.analysis.force_curve import save_force_curve

    target = Path(path).expanduser().resolve()
    with h5py.File(target, "a") as f:
        if FORCE_GROUP in f:
            del f[FORCE_GROUP]
        group = f.create_group(FORCE_GROUP)
        for bead, curve in curves.items():
            save_force_curve(
                group.create_group("pooled" if bead is None else f"bead_{bead}"), curve
            )
        group.attrs["surface_z_nm"] = json.dumps({str(b): float(z) for b, z in surfaces.items()})
    return target


def load_force_curves(path: str | os.PathLike) -> tuple[dict[int | None, object], dict[int, float]]:
    """The force curves and surface positions stored by :func:`save_force_curves`; LUTFileError
    naming the problem if ``path`` is unreadable or holds none."""
    from magscope_app.analysis.force_curve import load_force_curve

    source = Path(path).expanduser()
    try:
        with h5py.File(source, "r") as f:
            if FORCE_GROUP not in f:
                raise LUTFileError(f"{source}: no force curve in this file")
            group = f[FORCE_GROUP]
            curves: dict[int | None, object] = {}
            for name, sub in group.items():
                bead = None if name == "pooled" else int(name.removeprefix("bead_"))
                curves[bead] = load_force_curve(sub)
            surfaces = json.loads(group.attrs.get("surface_z_nm", "{}"))
    except (OSError, ValueError, KeyError) as exc:
        if isinstance(exc, LUTFileError):
            raise
        raise LUTFileError(f"{source}: cannot read the force curve: {exc}") from None
    return curves, {int(b): float(z) for b, z in surfaces.items()}


def remember_force_file(state_dir: str | os.PathLike, path: str | os.PathLike) -> None:
    """Record ``path`` as the last force-curve file (loaded at the daemon's next start)."""
    state = Path(state_dir)
    state.mkdir(parents=True, exist_ok=True)
    (state / LAST_FORCE_FILE).write_text(json.dumps({"path": str(Path(path).resolve())}))


def last_force_file(state_dir: str | os.PathLike) -> Path | None:
    """The last force-curve file remembered, else the last Z-LUT file (None if neither exists)."""
    try:
        path = Path(json.loads((Path(state_dir) / LAST_FORCE_FILE).read_text())["path"])
        if path.is_file():
            return path
    except (OSError, ValueError, KeyError, TypeError):
        pass
    return last_lut(state_dir)
