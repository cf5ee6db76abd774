"""Force versus magnet height: a double-exponential fit, its inverse, force ramps, HDF5 storage.

F(h) = a1·exp(−h/d1) + a2·exp(−h/d2) + c, with h the magnet height (mm) and F in pN; the
amplitudes and decay lengths are positive, so F falls strictly with h and has an inverse on the
fitted range. A single exponential (``terms=1``, a2 = 0) and the constant c (``offset=True``) are
options. Calibrations (:mod:`.force`) at several heights give the points; the curve is saved next
to the Z-LUTs in an HDF5 group and loaded at start.
"""

from __future__ import annotations

from dataclasses import dataclass

import h5py
import numpy as np

from ._fit import curve_fit

N_PARAMS = 5  # a1, d1, a2, d2, c
_KIND = "magscope force curve"


def _evaluate(params: np.ndarray, heights: np.ndarray) -> np.ndarray:
    a1, d1, a2, d2, c = params
    return a1 * np.exp(-heights / d1) + a2 * np.exp(-heights / d2) + c


def _gradient(params: np.ndarray, heights: np.ndarray) -> np.ndarray:
    """dF/d(a1, d1, a2, d2, c), shape (n, 5)."""
    a1, d1, a2, d2, _ = params
    e1, e2 = np.exp(-heights / d1), np.exp(-heights / d2)
    ones = np.ones_like(heights)
    return np.stack([e1, a1 * e1 * heights / d1**2, e2, a2 * e2 * heights / d2**2, ones], axis=-1)


@dataclass(frozen=True)
class ForceCurve:
    """A fitted force-versus-height curve.

    ``params`` = (a1 pN, d1 mm, a2 pN, d2 mm, c pN) and their ``covariance`` (5, 5) (rows of
    parameters held fixed are 0); ``height_range_mm`` = (lowest, highest) calibrated height, the
    only range where the curve is trusted; ``heights_mm``, ``forces_pN``, ``force_errors_pN``: the
    calibration points it was fitted to.
    """

    params: np.ndarray
    covariance: np.ndarray
    height_range_mm: tuple[float, float]
    heights_mm: np.ndarray
    forces_pN: np.ndarray
    force_errors_pN: np.ndarray

    @property
    def force_range_pN(self) -> tuple[float, float]:
        """(lowest, highest) force on the calibrated height range."""
        low, high = self.force(np.array(self.height_range_mm[::-1]))
        return float(low), float(high)

    def force(self, height_mm: np.ndarray | float) -> np.ndarray:
        """Force (pN) at ``height_mm``; any height, but only the calibrated range is trusted."""
        return _evaluate(self.params, np.asarray(height_mm, dtype=np.float64))

    def force_error(self, height_mm: np.ndarray | float) -> np.ndarray:
        """1σ (pN) of :meth:`force` from the parameters' covariance."""
        gradient = _gradient(self.params, np.asarray(height_mm, dtype=np.float64))
        variance = np.einsum("...i,ij,...j->...", gradient, self.covariance, gradient)
        return np.sqrt(np.maximum(variance, 0.0))

    def height_for(self, force_pN: np.ndarray | float) -> np.ndarray:
        """Magnet height (mm) giving ``force_pN``, by bisection on the calibrated range.

        Raises ValueError if a force lies outside the forces of the calibrated heights.
        """
        target = np.asarray(force_pN, dtype=np.float64)
        low_force, high_force = self.force_range_pN
        outside = (target < low_force) | (target > high_force) | ~np.isfinite(target)
        if np.any(outside):
            bad = float(np.atleast_1d(target)[np.atleast_1d(outside)][0])
            raise ValueError(
                f"force {bad:g} pN is outside the calibrated range {low_force:.3g}–"
                f"{high_force:.3g} pN (magnet heights {self.height_range_mm[0]:g}–"
                f"{self.height_range_mm[1]:g} mm)"
            )
        low = np.full(target.shape, self.height_range_mm[0])
        high = np.full(target.shape, self.height_range_mm[1])
        for _ in range(60):
            middle = 0.5 * (low + high)
            above = self.force(middle) > target  # force falls with height: go higher
            low = np.where(above, middle, low)
            high = np.where(above, high, middle)
        return 0.5 * (low + high)

    def ramp(
        self, start_pN: float, stop_pN: float, rate_pN_per_s: float, step_s: float = 0.1
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """A constant-loading-rate ramp: (times s, heights mm, forces pN) every ``step_s``.

        The force goes linearly from ``start_pN`` to ``stop_pN`` at ``rate_pN_per_s`` (> 0, the
        sign follows the direction); the last point is exactly ``stop_pN``. Both ends must lie in
        the calibrated range (ValueError otherwise).
        """
        if not rate_pN_per_s > 0 or not step_s > 0:
            raise ValueError("rate_pN_per_s and step_s must be > 0")
        self.height_for(np.array([start_pN, stop_pN]))  # range check
        duration = abs(stop_pN - start_pN) / rate_pN_per_s
        times = np.append(np.arange(0.0, duration, step_s), duration)
        forces = start_pN + np.sign(stop_pN - start_pN) * rate_pN_per_s * times
        forces[-1] = stop_pN
        return times, self.height_for(forces), forces


def fit_force_curve(
    heights_mm: np.ndarray,
    forces_pN: np.ndarray,
    force_errors_pN: np.ndarray | None = None,
    *,
    terms: int = 2,
    offset: bool = False,
) -> ForceCurve:
    """Fit F(h) to calibrated forces at several magnet heights.

    With ``force_errors_pN`` (1σ per point) the covariance is absolute; without, every point is
    given the same relative error and the covariance is scaled by the scatter (needs more points
    than parameters). Amplitudes and decays are fitted as logarithms (they stay positive); several
    starts are tried and the best χ² kept. With ``terms=2`` the single exponential is fitted too
    and returned (a2 = 0) when the second term does not lower χ² by more than 4 (the Akaike
    criterion for its two parameters) or degenerates (a decay far outside the calibrated range,
    which points that one exponential describes drive the fit to). Raises ValueError on bad input.
    """
    h = np.asarray(heights_mm, dtype=np.float64)
    f = np.asarray(forces_pN, dtype=np.float64)
    if terms not in (1, 2):
        raise ValueError(f"terms must be 1 or 2, got {terms!r}")
    n_free = 2 * terms + int(offset)
    if h.ndim != 1 or h.shape != f.shape:
        raise ValueError("heights_mm and forces_pN must be 1-D arrays of the same length")
    if not (np.all(np.isfinite(h)) and np.all(np.isfinite(f)) and np.all(f > 0)):
        raise ValueError("heights and forces must be finite and the forces > 0")
    if np.unique(h).size < n_free + (force_errors_pN is None):
        raise ValueError(
            f"{np.unique(h).size} distinct heights are too few for {n_free} parameters"
            + ("" if force_errors_pN is not None else " and an error estimate")
        )
    sigma = f if force_errors_pN is None else np.asarray(force_errors_pN, dtype=np.float64)
    if np.any(~(sigma > 0)):
        raise ValueError("force_errors_pN must be > 0")

    params, covariance = _fit(h, f, sigma, 1, offset, force_errors_pN is None)
    if terms == 2:
        one_chi2 = _chi2(params, h, f, sigma)
        two, two_covariance = _fit(h, f, sigma, 2, offset, force_errors_pN is None)
        span = max(float(np.ptp(h)), 1e-3)
        decays_sane = all(1e-2 * span < d < 1e2 * span for d in two[[1, 3]])
        if decays_sane and np.all(np.isfinite(two)) and _chi2(two, h, f, sigma) < one_chi2 - 4:
            params, covariance = two, two_covariance
    return ForceCurve(
        params=params,
        covariance=covariance,
        height_range_mm=(float(h.min()), float(h.max())),
        heights_mm=h.copy(),
        forces_pN=f.copy(),
        force_errors_pN=np.full_like(f, np.nan) if force_errors_pN is None else sigma.copy(),
    )


def _chi2(params: np.ndarray, h: np.ndarray, f: np.ndarray, sigma: np.ndarray) -> float:
    return float(np.sum(((_evaluate(params, h) - f) / sigma) ** 2))


def _fit(
    h: np.ndarray, f: np.ndarray, sigma: np.ndarray, terms: int, offset: bool, scaled: bool
) -> tuple[np.ndarray, np.ndarray]:
    """Best of several starts: (params (5,), covariance (5, 5)) of :func:`fit_force_curve`;
    ``scaled``: the covariance is scaled by the reduced χ² (errors estimated from the scatter)."""

    def natural(p: np.ndarray) -> np.ndarray:
        a1, d1 = np.exp(p[0]), np.exp(p[1])
        a2, d2 = (np.exp(p[2]), np.exp(p[3])) if terms == 2 else (0.0, 1.0)
        return np.array([a1, d1, a2, d2, p[-1] if offset else 0.0])

    slope, intercept = np.polyfit(h, np.log(f), 1)
    decay = 1.0 / max(-slope, 1e-3)
    best = None
    for short, long_, share in ((0.5, 2.0, 0.5), (0.8, 1.25, 0.5), (0.3, 1.5, 0.8)):
        if terms == 1:
            start = [intercept, np.log(decay)]
        else:
            start = [
                intercept + np.log(share),
                np.log(short * decay),
                intercept + np.log(1 - share),
                np.log(long_ * decay),
            ]
        start = np.array([*start, 0.0] if offset else start)
        with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
            fit = curve_fit(lambda x, p: _evaluate(natural(p), x), h, f, start, sigma)
        if best is None or fit.chi2 < best.chi2:
            best = fit
    assert best is not None
    best_cov = best.covariance * best.chi2 / max(best.dof, 1) if scaled else best.covariance
    with np.errstate(over="ignore"):
        params = natural(best.params)
    jacobian = np.zeros((N_PARAMS, best.params.size))  # d natural / d fitted
    for i in range(2 * terms):  # amplitudes and decays were fitted as logarithms
        jacobian[i, i] = params[i]
    if offset:
        jacobian[4, -1] = 1.0
    return params, jacobian @ best_cov @ jacobian.T


def save_force_curve(group: h5py.Group, curve: ForceCurve) -> None:
    """Write ``curve`` into the HDF5 ``group`` (replacing a curve already there)."""
    datasets = {
        "params": curve.params,
        "covariance": curve.covariance,
        "height_range_mm": np.array(curve.height_range_mm),
        "heights_mm": curve.heights_mm,
        "forces_pN": curve.forces_pN,
        "force_errors_pN": curve.force_errors_pN,
    }
    for name, values in datasets.items():
        if name in group:
            del group[name]
        group.create_dataset(name, data=np.asarray(values, dtype=np.float64))
    group.attrs["kind"] = _KIND
    group.attrs["model"] = "F = a1*exp(-h/d1) + a2*exp(-h/d2) + c; params = a1, d1, a2, d2, c"
    group.attrs["units"] = "F in pN, h and d in mm"


def load_force_curve(group: h5py.Group) -> ForceCurve:
    """Read a curve written by :func:`save_force_curve`; ValueError if ``group`` holds none."""
    if group.attrs.get("kind") != _KIND:
        raise ValueError(f"HDF5 group {group.name!r} holds no force curve")
    low, high = group["height_range_mm"][()]
    return ForceCurve(
        params=group["params"][()],
        covariance=group["covariance"][()],
        height_range_mm=(float(low), float(high)),
        heights_mm=group["heights_mm"][()],
        forces_pN=group["forces_pN"][()],
        force_errors_pN=group["force_errors_pN"][()],
    )
