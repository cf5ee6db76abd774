"""track_xyz: the one call live tracking, the Z-LUT sweep and benchmarks use."""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from magscope_app.buffers.layouts import TrackFlags

from .profiles import _checked_stack
from .settings import TrackingSettings
from .xy import track_xy
from .zlut import ZLUT, ZLUTSet


@dataclass(frozen=True)
class TrackResult:
    """Per-ROI results of :func:`track_xyz` (n ROIs).

    ``x``, ``y``: float64 (n,), bead centre in px (x = column, y = row, origin at the centre of
    ROI pixel (0, 0)); NaN where the xy fit failed. ``z``: float64 (n,), nm, NaN without a LUT,
    outside its range or after a failed fit. ``profiles``: float64 (n, n_bins), radial profile
    about (x, y) at radii ``settings.radii_px`` (ROI intensity unit; NaN for nodes mostly outside
    the ROI). ``flags``: int64 (n,), :class:`TrackFlags` bits (FIT_FAILED, Z_INVALID); 0 is a clean
    xyz measurement.
    """

    x: np.ndarray
    y: np.ndarray
    z: np.ndarray
    profiles: np.ndarray
    flags: np.ndarray

    @property
    def ok(self) -> np.ndarray:
        """bool (n,): the xy fit succeeded (z may still be invalid, see ``flags``)."""
        return (self.flags & int(TrackFlags.FIT_FAILED)) == 0

    def __len__(self) -> int:
        return int(self.x.shape[0])


ZLUTLike = ZLUT | ZLUTSet | Mapping[int, ZLUT] | None


def _as_lut_set(zlut: ZLUTLike) -> ZLUTSet | None:
    if zlut is None or isinstance(zlut, ZLUTSet):
        return zlut
    if isinstance(zlut, ZLUT):
        return ZLUTSet(default=zlut)
    if isinstance(zlut, Mapping):
        return ZLUTSet(luts=zlut)
    raise TypeError(
        f"zlut must be a ZLUT, a ZLUTSet, a mapping bead id -> ZLUT or None, not {zlut!r}"
    )


def track_xyz(
    rois: np.ndarray,
    zlut: ZLUTLike = None,
    *,
    bead_ids: Sequence[int] | np.ndarray | None = None,
    settings: TrackingSettings | None = None,
    xy0: np.ndarray | None = None,
) -> TrackResult:
    """Track the bead in each ROI in x, y and (with a Z-LUT) z.

    ``rois``: (n, h, w) of any integer or float dtype (an (h, w) ROI counts as n = 1).
    ``zlut``: one ZLUT for every bead, a :class:`ZLUTSet` or a mapping bead id -> ZLUT (beads
    without a LUT get z = NaN and Z_INVALID). ``bead_ids``: (n,) ids used to pick each ROI's LUT
    (default ``0 .. n-1``). ``settings``: defaults to the LUTs' settings, else
    ``TrackingSettings()``; a LUT made with other profile settings raises ValueError.
    ``xy0``: optional (n, 2) starting centres (x, y) in px (e.g. each bead's previous result;
    saves fit steps). NaN rows, or centres farther than ``settings.guess_tolerance_px`` from the
    bead's centre of symmetry (the first guess, always computed), start from that centre.
    """
    luts = _as_lut_set(zlut)
    lut_settings = luts.settings if luts is not None else None
    if settings is None:
        settings = lut_settings or TrackingSettings()
    elif lut_settings is not None and not lut_settings.same_profiles(settings):
        raise ValueError("the Z-LUT was made with other profile settings than the ones given")
    stack = _checked_stack(rois)
    n = stack.shape[0]
    x, y, profiles, failed = track_xy(stack, settings, xy0=xy0)
    z = np.full(n, np.nan)
    if luts is not None:
        if bead_ids is None:
            ids = np.arange(n)
        else:
            ids = np.asarray(bead_ids).reshape(-1)
            if ids.shape[0] != n:
                raise ValueError(f"bead_ids has {ids.shape[0]} entries for {n} ROIs")
        if len(luts.luts) == 0 and luts.default is not None:
            z = luts.default.lookup(profiles)
        else:
            groups: dict[int, list[int]] = {}
            table: dict[int, ZLUT] = {}
            for i, bead in enumerate(ids.tolist()):
                lut = luts.get(bead)
                if lut is not None:
                    groups.setdefault(id(lut), []).append(i)
                    table[id(lut)] = lut
            for key, rows in groups.items():
                idx = np.asarray(rows)
                z[idx] = table[key].lookup(profiles[idx])
        z[failed] = np.nan
    flags = np.where(failed, int(TrackFlags.FIT_FAILED), 0).astype(np.int64)
    flags[np.isnan(z)] |= int(TrackFlags.Z_INVALID)
    return TrackResult(x=x, y=y, z=z, profiles=profiles, flags=flags)


def make_zlut(
    z_nm: np.ndarray,
    rois_per_plane: Sequence[np.ndarray],
    settings: TrackingSettings | None = None,
) -> ZLUT:
    """Build a Z-LUT like a focus sweep: track each plane's ROIs and average their profiles.

    ``z_nm``: (m,) bead height relative to the focus of each plane (nm). ``rois_per_plane``: m
    stacks (k, h, w) of ROIs of one bead recorded at that plane (several frames). Profiles are
    averaged over the frames whose fit succeeded; bins no frame covers raise ValueError.
    """
    settings = settings or TrackingSettings()
    if len(rois_per_plane) != len(z_nm):
        raise ValueError(f"{len(rois_per_plane)} ROI stacks for {len(z_nm)} planes")
    planes = []
    for rois in rois_per_plane:
        result = track_xyz(rois, settings=settings)
        good = result.profiles[result.ok]
        if good.shape[0] == 0:
            planes.append(np.full(settings.n_bins, np.nan))
            continue
        with warnings.catch_warnings():  # a bin no frame covers stays NaN; ZLUT reports it
            warnings.simplefilter("ignore", RuntimeWarning)
            planes.append(np.nanmean(good, axis=0))
    return ZLUT(np.asarray(z_nm, dtype=np.float64), np.vstack(planes), settings)
