"""Z look-up tables: radial profiles recorded at known focus positions, and the z fit."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from . import _kernels
from .profiles import profile_gram
from .settings import TrackingSettings

#: Maximum Gauss–Newton iterations of the sub-plane z fit.
_Z_ITERATIONS = 8


def _natural_spline_second_derivatives(z: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Second derivatives (m, k) of the natural cubic splines through (z, y[:, j]) for each j."""
    m = z.shape[0]
    h = np.diff(z)
    m2 = np.zeros_like(y)
    if m < 3:
        return m2
    # tridiagonal system for the interior second derivatives
    diag = 2.0 * (h[:-1] + h[1:])
    off = h[1:-1]
    rhs = 6.0 * ((y[2:] - y[1:-1]) / h[1:, None] - (y[1:-1] - y[:-2]) / h[:-1, None])
    n = diag.shape[0]
    d = diag.astype(np.float64).copy()
    r = rhs.copy()
    for i in range(1, n):
        w = off[i - 1] / d[i - 1]
        d[i] -= w * off[i - 1]
        r[i] -= w * r[i - 1]
    sol = np.empty_like(r)
    sol[-1] = r[-1] / d[-1]
    for i in range(n - 2, -1, -1):
        sol[i] = (r[i] - off[i] * sol[i + 1]) / d[i]
    m2[1:-1] = sol
    return m2


class ZLUT:
    """A Z look-up table: the bead's radial profile at known heights.

    ``z_nm``: shape (m,), strictly monotonic (increasing or decreasing), m >= 3: the height of
    the bead relative to the focus (nm) for each plane. ``profiles``: shape (m, n_bins), finite,
    made by :func:`radial_profiles` / :func:`track_xyz` with ``settings`` (the LUT is only valid
    with those settings; :func:`track_xyz` checks).

    :meth:`lookup` fits ``profile = a * L(z)`` by weighted least squares, with ``L`` the natural
    cubic spline of the planes in z and a free intensity scale ``a`` (so slow changes of the
    illumination do not bias z). Bins are weighted by the inverse covariance of the profile nodes
    under photon noise (the spline's Gram matrix over the expected intensity): this is what gets
    z close to its Cramér–Rao bound.
    """

    def __init__(
        self,
        z_nm: np.ndarray,
        profiles: np.ndarray,
        settings: TrackingSettings | None = None,
    ) -> None:
        settings = settings or TrackingSettings()
        z = np.array(z_nm, dtype=np.float64, copy=True)
        p = np.array(profiles, dtype=np.float64, copy=True)
        if z.ndim != 1:
            raise ValueError(f"z_nm must be 1-D, got shape {z.shape}")
        if p.ndim != 2:
            raise ValueError(f"profiles must be 2-D (planes, bins), got shape {p.shape}")
        if p.shape[0] != z.shape[0]:
            raise ValueError(f"profiles has {p.shape[0]} planes but z_nm has {z.shape[0]} values")
        if p.shape[1] != settings.n_bins:
            raise ValueError(
                f"profiles have {p.shape[1]} bins but the settings give {settings.n_bins}"
            )
        if z.shape[0] < 3:
            raise ValueError(f"a Z-LUT needs at least 3 planes, got {z.shape[0]}")
        if not np.all(np.isfinite(z)):
            raise ValueError("z_nm contains NaN or infinite values")
        if not np.all(np.isfinite(p)):
            bad = np.unique(np.nonzero(~np.isfinite(p))[0])
            raise ValueError(f"profiles contain NaN or infinite values (planes {bad.tolist()})")
        dz = np.diff(z)
        if not (np.all(dz > 0) or np.all(dz < 0)):
            raise ValueError("z_nm must be strictly monotonic")
        if dz[0] < 0:
            z = z[::-1].copy()
            p = p[::-1].copy()
        self._z = z
        self._profiles = p
        self._settings = settings
        self._m2 = _natural_spline_second_derivatives(z, p)
        gd, go = profile_gram(settings)
        mu = np.abs(p.mean(axis=0))
        mu = np.maximum(mu, 1e-6 * max(float(mu.max()), 1e-300))
        self._wd = np.ascontiguousarray(gd / mu)
        self._wo = np.ascontiguousarray(go / np.sqrt(mu[:-1] * mu[1:]))
        wl = self._wd * p
        wl[:, :-1] += self._wo * p[:, 1:]
        wl[:, 1:] += self._wo * p[:, :-1]
        self._wlut = np.ascontiguousarray(wl)
        self._lnorm = np.ascontiguousarray(np.sum(wl * p, axis=1))

    @property
    def z_nm(self) -> np.ndarray:
        """Plane heights (nm), ascending, shape (m,) (a copy)."""
        return self._z.copy()

    @property
    def profiles(self) -> np.ndarray:
        """Plane profiles, shape (m, n_bins), in the order of :attr:`z_nm` (a copy)."""
        return self._profiles.copy()

    @property
    def settings(self) -> TrackingSettings:
        """The tracking settings the LUT was made with."""
        return self._settings

    @property
    def z_range(self) -> tuple[float, float]:
        """(lowest, highest) height covered (nm)."""
        return float(self._z[0]), float(self._z[-1])

    def lookup(self, profiles: np.ndarray) -> np.ndarray:
        """Heights (nm) of profiles (n, n_bins) or (n_bins,); NaN outside the LUT's range.

        NaN bins of a profile (bead near the ROI edge) are ignored; a profile with fewer than 3
        finite bins gives NaN.
        """
        p = np.asarray(profiles, dtype=np.float64)
        single = p.ndim == 1
        p = np.ascontiguousarray(np.atleast_2d(p))
        if p.ndim != 2 or p.shape[1] != self._profiles.shape[1]:
            raise ValueError(
                f"profiles must have shape (n, {self._profiles.shape[1]}), got {p.shape}"
            )
        out = np.empty(p.shape[0])
        _kernels.lookup_z(
            p,
            self._z,
            self._profiles,
            self._m2,
            self._wd,
            self._wo,
            self._wlut,
            self._lnorm,
            _Z_ITERATIONS,
            out,
        )
        return out[0] if single else out

    def __repr__(self) -> str:
        lo, hi = self.z_range
        return f"ZLUT({self._z.size} planes, {lo:g}..{hi:g} nm, {self._profiles.shape[1]} bins)"


@dataclass(frozen=True)
class ZLUTSet:
    """Per-bead Z-LUTs: ``luts`` maps bead id -> ZLUT; ``default`` serves every other bead.

    All LUTs must share the profile settings (the tracker computes one kind of profile).
    """

    luts: Mapping[int, ZLUT] = field(default_factory=dict)
    default: ZLUT | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "luts", dict(self.luts))
        luts = self.all()
        if any(not lut.settings.same_profiles(luts[0].settings) for lut in luts[1:]):
            raise ValueError("all Z-LUTs of a ZLUTSet must be made with the same profile settings")

    def get(self, bead_id: int) -> ZLUT | None:
        """The LUT of ``bead_id`` (or the default; None when there is neither)."""
        return self.luts.get(int(bead_id), self.default)

    def all(self) -> list[ZLUT]:
        """Every distinct LUT of the set."""
        out: list[ZLUT] = []
        for lut in [*self.luts.values(), self.default]:
            if lut is not None and all(lut is not o for o in out):
                out.append(lut)
        return out

    @property
    def settings(self) -> TrackingSettings | None:
        """The settings of the first LUT (all make the same profiles; None for an empty set)."""
        luts = self.all()
        return luts[0].settings if luts else None
