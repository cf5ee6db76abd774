"""Small numpy-only least-squares machinery shared by the analysis fits.

:func:`levenberg_marquardt` minimises Σ r(p)² for a residual function r (already divided by
the data's σ). :func:`curve_fit` wraps it for y ≈ model(x, p). :func:`gamma_mle` is the exact
maximum-likelihood fit of data whose points are gamma distributed around the model (blocked
periodogram bins, Allan variances), solved by iteratively re-weighted least squares.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np

Model = Callable[[np.ndarray], np.ndarray]


@dataclass(frozen=True)
class FitResult:
    """Best parameters, their covariance, χ² = Σ r², degrees of freedom and iterations used.

    ``rank`` < number of parameters means the data cannot tell some combination of parameters
    apart: the covariance then covers only the determined directions (see :func:`covariance`).
    """

    params: np.ndarray
    covariance: np.ndarray
    chi2: float
    dof: int
    iterations: int
    rank: int

    @property
    def errors(self) -> np.ndarray:
        """1σ of each parameter: the square root of the covariance diagonal."""
        return np.sqrt(np.maximum(np.diag(self.covariance), 0.0))


def numeric_jacobian(function: Model, p: np.ndarray) -> np.ndarray:
    """d function / d p by central differences, shape (len(function(p)), len(p))."""
    p = np.asarray(p, dtype=np.float64)
    steps = np.cbrt(np.finfo(np.float64).eps) * np.maximum(np.abs(p), 1.0)
    columns = []
    for i, h in enumerate(steps):
        dp = np.zeros_like(p)
        dp[i] = h
        columns.append((function(p + dp) - function(p - dp)) / (2.0 * h))
    return np.stack(columns, axis=-1)


def covariance(jacobian: np.ndarray, rcond: float = 1e-10) -> tuple[np.ndarray, int]:
    """(JᵀJ)⁻¹ of a weighted-residual Jacobian by SVD, and the rank of J.

    Directions whose singular value is below ``rcond`` × the largest are undetermined by the
    data; they are left out of the covariance (a pseudo-inverse), so functions of the parameters
    that do not depend on them keep a meaningful error, and the returned rank tells the caller.
    """
    _, singular, vt = np.linalg.svd(jacobian, full_matrices=False)
    keep = singular > rcond * singular.max()
    inverse = np.where(keep, 1.0 / np.where(keep, singular, 1.0) ** 2, 0.0)
    return (vt.T * inverse) @ vt, int(np.count_nonzero(keep))


def levenberg_marquardt(
    residuals: Model,
    p0: np.ndarray,
    *,
    max_iterations: int = 200,
    tolerance: float = 1e-10,
) -> FitResult:
    """Minimise Σ residuals(p)² from ``p0`` (Levenberg–Marquardt with Marquardt's scaling).

    Stops when a step changes χ² by less than ``tolerance`` relatively and the parameters by
    less than √tolerance. The covariance is (JᵀJ)⁻¹ (:func:`covariance`), right when the
    residuals are divided by the true σ of the data. Raises ValueError on non-finite residuals at
    ``p0`` or fewer residuals than parameters.
    """
    p = np.asarray(p0, dtype=np.float64).copy()
    r = residuals(p)
    if not np.all(np.isfinite(r)):
        raise ValueError("the fit's residuals are not finite at the starting parameters")
    if r.size < p.size:
        raise ValueError(f"{r.size} data points cannot determine {p.size} parameters")
    chi2 = float(r @ r)
    damping = 1e-3
    iterations = 0
    while iterations < max_iterations:
        iterations += 1
        jac = numeric_jacobian(residuals, p)
        jtj = jac.T @ jac
        gradient = jac.T @ r
        scale = np.maximum(np.diag(jtj), 1e-30)
        improved = False
        while damping < 1e12:
            step = np.linalg.solve(jtj + damping * np.diag(scale), -gradient)
            trial = p + step
            with np.errstate(over="ignore", invalid="ignore"):
                r_trial = residuals(trial)
                chi2_trial = float(r_trial @ r_trial) if np.all(np.isfinite(r_trial)) else np.inf
            if chi2_trial <= chi2:
                damping = max(damping / 3.0, 1e-12)
                improved = True
                break
            damping *= 4.0
        if not improved:
            break
        small_step = np.all(np.abs(step) <= np.sqrt(tolerance) * (np.abs(p) + np.sqrt(tolerance)))
        small_change = chi2 - chi2_trial <= tolerance * max(chi2, 1e-300)
        p, r, chi2 = trial, r_trial, chi2_trial
        if small_step and small_change:
            break
    cov, rank = covariance(numeric_jacobian(residuals, p))
    return FitResult(p, cov, chi2, r.size - p.size, iterations, rank)


def curve_fit(
    model: Callable[[np.ndarray, np.ndarray], np.ndarray],
    x: np.ndarray,
    y: np.ndarray,
    p0: np.ndarray,
    sigma: np.ndarray | float | None = None,
) -> FitResult:
    """Least-squares fit of y ≈ model(x, p).

    With ``sigma`` (the 1σ of each y) the covariance is absolute; without it every point has the
    same unknown σ and the covariance is scaled by χ²/dof (estimated from the scatter).
    """
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    weight = 1.0 if sigma is None else 1.0 / np.asarray(sigma, dtype=np.float64)
    result = levenberg_marquardt(lambda p: (model(x, p) - y) * weight, p0)
    if sigma is None and result.dof > 0:
        factor = result.chi2 / result.dof
        return replace(result, covariance=result.covariance * factor)
    return result


def gamma_mle(
    model: Model,
    data: np.ndarray,
    shape: np.ndarray | float,
    p0: np.ndarray,
    *,
    max_rounds: int = 50,
    tolerance: float = 1e-9,
) -> FitResult:
    """Maximum-likelihood fit of ``data`` ~ Gamma(shape, mean = model(p)), independent points.

    The likelihood's score Σ shape·(data − m)/m²·∂m/∂p = 0 is the normal equation of a least-squares
    fit with weights √shape/m held fixed; re-weighting until the parameters stop moving solves it
    exactly. The covariance is the inverse Fisher information, Σ shape/m²·∂m∂mᵀ. ``chi2`` is
    Σ shape·(data − m)²/m² (≈ number of points for a good fit).
    """
    data = np.asarray(data, dtype=np.float64)
    root_shape = np.sqrt(np.asarray(shape, dtype=np.float64))
    p = np.asarray(p0, dtype=np.float64).copy()
    result = None
    for _ in range(max_rounds):
        weight = root_shape / model(p)
        result = levenberg_marquardt(lambda q, w=weight: (model(q) - data) * w, p)
        moved = np.max(np.abs(result.params - p) / (np.abs(p) + 1e-3))
        p = result.params
        if moved < tolerance:
            break
    assert result is not None
    weight = root_shape / model(p)
    cov, rank = covariance(numeric_jacobian(lambda q: model(q) * weight, p))
    residual = (model(p) - data) * weight
    return FitResult(p, cov, float(residual @ residual), data.size - p.size, 0, rank)
