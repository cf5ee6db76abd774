"""Per-bead Z-LUTs from the rows of a Z-LUT sweep (the dict of ``ZLUTSweepDataset.peek()``)."""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from magscope_app.tracking import ZLUT, TrackingSettings

from ._motion import z_variance_per_plane

#: Columns a sweep dict must hold (as returned by ``ZLUTSweepDataset.peek()``).
SWEEP_KEYS = (
    "bead_ids",
    "step_indices",
    "timestamps",
    "motor_z_values",
    "valid_flags",
    "profiles",
)


@dataclass(frozen=True)
class PlaneScatter:
    """The captured rows behind one bead's LUT, summarised per plane (in the LUT's z order).

    ``z_nm`` (m,): plane heights as in the LUT. ``step_indices`` (m,): the sweep step of each
    plane. ``n_profiles`` (m,): valid rows averaged into each plane. ``sum_sq`` (m, n_bins): sum
    over the plane's rows of the squared deviation of each bin from the plane's mean (NaN bins
    of a row contribute nothing); with ``n_profiles`` it gives the per-plane profile scatter.
    ``sum_cross`` (m, n_bins - 1): the same sum of products of the deviations of neighbouring
    bins (needed for noise measures with correlated bins). ``pooled_cov`` (n_bins, n_bins):
    covariance of one row's profile pooled over the planes (the shape of the profile noise;
    NaN for a single row per plane). ``n_per_bin`` (m, n_bins): rows with a finite value per
    plane and bin (a row near the ROI edge lacks outer bins). ``motor_z_std`` (m,): spread of
    the motor z over the plane's rows (motor unit). ``z_var_nm2`` (m,): the variance of the
    bead's z within each plane, its rows looked up in its own LUT (nm²; NaN where unknown), see
    :func:`~magscope_app.zlut.z_variance_per_plane`.
    """

    z_nm: np.ndarray
    step_indices: np.ndarray
    n_profiles: np.ndarray
    sum_sq: np.ndarray
    sum_cross: np.ndarray
    pooled_cov: np.ndarray
    n_per_bin: np.ndarray
    motor_z_std: np.ndarray
    z_var_nm2: np.ndarray

    @property
    def profile_std(self) -> np.ndarray:
        """(m, n_bins) sample standard deviation of a single row's profile per plane and bin
        (NaN where fewer than two rows cover the bin)."""
        dof = (self.n_per_bin - 1).astype(np.float64)
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.sqrt(np.where(dof > 0, self.sum_sq / dof, np.nan))


class BuiltLUTs(dict):
    """``dict[bead_id, ZLUT]`` returned by :func:`build_luts`, with what the quality check needs.

    ``rejected``: bead id -> reason for every bead that appeared in the sweep but got no LUT.
    ``scatter``: bead id -> :class:`PlaneScatter` of every LUT built.
    ``dropped_planes``: bead id -> list of (step index, reason) for planes left out of its LUT.
    ``settings``: the tracking settings the profiles were made with.
    """

    def __init__(
        self,
        luts: Mapping[int, ZLUT],
        *,
        settings: TrackingSettings,
        rejected: Mapping[int, str],
        scatter: Mapping[int, PlaneScatter],
        dropped_planes: Mapping[int, list[tuple[int, str]]],
    ) -> None:
        super().__init__(luts)
        self.settings = settings
        self.rejected = dict(rejected)
        self.scatter = dict(scatter)
        self.dropped_planes = {k: list(v) for k, v in dropped_planes.items()}


def _check_sweep(sweep_data: Mapping[str, np.ndarray], n_bins: int) -> dict[str, np.ndarray]:
    missing = [key for key in SWEEP_KEYS if key not in sweep_data]
    if missing:
        raise ValueError(f"sweep data lacks the column(s) {missing}")
    data = {key: np.asarray(sweep_data[key]) for key in SWEEP_KEYS}
    n = data["bead_ids"].shape[0]
    for key in SWEEP_KEYS[:-1]:
        if data[key].shape != (n,):
            raise ValueError(f"sweep column {key!r} has shape {data[key].shape}, expected ({n},)")
    profiles = np.asarray(data["profiles"], dtype=np.float64)
    if profiles.ndim != 2 or profiles.shape[0] != n:
        raise ValueError(f"sweep profiles have shape {profiles.shape}, expected ({n}, {n_bins})")
    if profiles.shape[1] != n_bins:
        raise ValueError(
            f"sweep profiles have {profiles.shape[1]} bins but the tracking settings give "
            f"{n_bins}: the sweep was recorded with other profile settings"
        )
    data["profiles"] = profiles
    data["valid_flags"] = data["valid_flags"].astype(bool)
    data["motor_z_values"] = data["motor_z_values"].astype(np.float64)
    return data


def build_luts(
    sweep_data: Mapping[str, np.ndarray],
    settings: TrackingSettings,
    *,
    min_profiles_per_plane: int = 3,
    motor_z_sign: float = -1.0,
) -> BuiltLUTs:
    """One :class:`ZLUT` per bead from the rows of a Z-LUT sweep.

    ``sweep_data``: the dict of ``ZLUTSweepDataset.peek()`` (bead_ids, step_indices,
    timestamps, motor_z_values, valid_flags, profiles). Per bead and sweep step, the plane's
    profile is the mean (NaN-aware) of the valid rows (valid flag set, at least one finite bin)
    and its motor z is the mean motor z of those rows.

    The LUT height of a plane is ``motor_z_sign * mean motor z`` (nm). The default ``-1`` is for
    a sweep of the focus: raising the focus by dz lowers the bead relative to the focal plane by
    dz, and a LUT's z is the bead's height relative to the focus (so tracked z grows as the bead
    rises). Use ``+1`` when the motor moves the sample instead of the objective.

    A plane with fewer than ``min_profiles_per_plane`` valid rows, without a finite motor z, or
    with a bin that no row covers is dropped for that bead (see ``dropped_planes``); a bead left
    with fewer than 3 planes, or whose planes do not have distinct heights, gets no LUT and a
    reason in ``rejected``. Planes are ordered by z. Raises ValueError for malformed sweep data
    or profiles of another bin count than ``settings`` gives.
    """
    if int(min_profiles_per_plane) < 1:
        raise ValueError(f"min_profiles_per_plane must be >= 1, got {min_profiles_per_plane}")
    if motor_z_sign not in (-1, 1, -1.0, 1.0):
        raise ValueError(f"motor_z_sign must be +1 or -1, got {motor_z_sign!r}")
    data = _check_sweep(sweep_data, settings.n_bins)
    profiles = data["profiles"]
    usable_row = data["valid_flags"] & np.any(np.isfinite(profiles), axis=1)

    luts: dict[int, ZLUT] = {}
    rejected: dict[int, str] = {}
    scatter: dict[int, PlaneScatter] = {}
    dropped: dict[int, list[tuple[int, str]]] = {}
    for bead in np.unique(data["bead_ids"]).tolist():
        mine = data["bead_ids"] == bead
        steps_seen = np.unique(data["step_indices"][mine]).tolist()
        planes = []  # (z, step, n, mean profile, sums, motor z std, rows)
        drops: list[tuple[int, str]] = []
        for step in steps_seen:
            rows = mine & (data["step_indices"] == step) & usable_row
            n = int(rows.sum())
            if n < min_profiles_per_plane:
                drops.append((step, f"{n} valid profile(s) < {min_profiles_per_plane}"))
                continue
            motor = data["motor_z_values"][rows]
            motor = motor[np.isfinite(motor)]
            if motor.size == 0:
                drops.append((step, "no finite motor z"))
                continue
            block = profiles[rows]
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                mean = np.nanmean(block, axis=0)
            if not np.all(np.isfinite(mean)):
                drops.append((step, "bins no profile covers (bead at the ROI edge?)"))
                continue
            dev = np.nan_to_num(block - mean)  # a bin a row does not cover adds nothing
            sums = (
                np.sum(dev**2, axis=0),
                np.sum(dev[:, :-1] * dev[:, 1:], axis=0),
                dev.T @ dev,
                np.sum(np.isfinite(block), axis=0),
            )
            z = motor_z_sign * float(np.mean(motor))
            planes.append((z, step, n, mean, sums, float(np.std(motor)), block))
        dropped[bead] = drops
        if len(planes) < 3:
            rejected[bead] = (
                f"too few planes: {len(planes)} of {len(steps_seen)} steps usable "
                f"(need 3; at least {min_profiles_per_plane} valid profile(s) per plane)"
            )
            continue
        planes.sort(key=lambda p: p[0])
        z = np.array([p[0] for p in planes])
        if np.any(np.diff(z) <= 0):
            same = [planes[i][1] for i in np.nonzero(np.diff(z) <= 0)[0]]
            rejected[bead] = f"planes at equal motor z (steps {same} and their successors)"
            continue
        dof = sum(p[2] - 1 for p in planes)
        cov_nan = np.full((settings.n_bins, settings.n_bins), np.nan)
        lut = luts[bead] = ZLUT(z, np.vstack([p[3] for p in planes]), settings)
        scatter[bead] = PlaneScatter(
            z_nm=z,
            step_indices=np.array([p[1] for p in planes], dtype=np.int64),
            n_profiles=np.array([p[2] for p in planes], dtype=np.int64),
            sum_sq=np.vstack([p[4][0] for p in planes]),
            sum_cross=np.vstack([p[4][1] for p in planes]),
            pooled_cov=sum(p[4][2] for p in planes) / dof if dof > 0 else cov_nan,
            n_per_bin=np.vstack([p[4][3] for p in planes]).astype(np.int64),
            motor_z_std=np.array([p[5] for p in planes]),
            z_var_nm2=z_variance_per_plane(lut, [p[6] for p in planes]),
        )
    return BuiltLUTs(
        luts, settings=settings, rejected=rejected, scatter=scatter, dropped_planes=dropped
    )
