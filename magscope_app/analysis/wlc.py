"""Worm-like-chain models of DNA force–extension and their fits.

* Marko–Siggia (1995): F·Lp/kT = 1/(4(1 − x)²) − 1/4 + x, x = l/Lc.
* Bouchiat et al. (Biophys. J. 76, 409 (1999)): Marko–Siggia plus Σ_{i=2..7} a_i·x^i, within
  0.01 % of the exact inextensible WLC; use it below ~5 pN.
* Extensible Odijk (1995): l = Lc·(1 − ½·√(kT/(F·Lp)) + F/S), S the stretch modulus; valid at
  high force (above ~5 pN for dsDNA, where l > 0.9·Lc).

:func:`fit_wlc` fits the extension as a function of the force (the extension is what is noisy)
by least squares with covariance and returns persistence length Lp, contour length Lc (and S for
Odijk) with 1σ errors. Units: nm, pN, kT in pN·nm.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from ._fit import curve_fit
from .force import DEFAULT_KT_PN_NM

Model = Literal["bouchiat", "marko_siggia", "odijk"]
_BOUCHIAT = (-0.5164228, -2.737418, 16.07497, -38.87607, 39.49944, -14.17718)  # a2 … a7


def _reduced_force(x: np.ndarray, corrected: bool) -> np.ndarray:
    """F·Lp/kT at relative extension x (Marko–Siggia, plus Bouchiat's terms if ``corrected``)."""
    result = 0.25 / (1.0 - x) ** 2 - 0.25 + x
    if corrected:
        power = x * x
        for coefficient in _BOUCHIAT:
            result = result + coefficient * power
            power = power * x
    return result


def _reduced_slope(x: np.ndarray, corrected: bool) -> np.ndarray:
    result = 0.5 / (1.0 - x) ** 3 + 1.0
    if corrected:
        power = x
        for i, coefficient in enumerate(_BOUCHIAT, start=2):
            result = result + i * coefficient * power
            power = power * x
    return result


def marko_siggia_force(
    extension_nm: np.ndarray | float,
    contour_nm: float,
    persistence_nm: float,
    kt_pN_nm: float = DEFAULT_KT_PN_NM,
) -> np.ndarray:
    """Force (pN) holding a worm-like chain at ``extension_nm`` (Marko–Siggia interpolation)."""
    x = np.asarray(extension_nm, dtype=np.float64) / contour_nm
    return kt_pN_nm / persistence_nm * _reduced_force(x, corrected=False)


def bouchiat_force(
    extension_nm: np.ndarray | float,
    contour_nm: float,
    persistence_nm: float,
    kt_pN_nm: float = DEFAULT_KT_PN_NM,
) -> np.ndarray:
    """Force (pN) holding a worm-like chain at ``extension_nm`` (Bouchiat's 7th-order form)."""
    x = np.asarray(extension_nm, dtype=np.float64) / contour_nm
    return kt_pN_nm / persistence_nm * _reduced_force(x, corrected=True)


def _relative_extension(target: np.ndarray, corrected: bool) -> np.ndarray:
    """x in [0, 1) with reduced force ``target`` (≥ 0): Newton steps kept inside a bisection
    bracket (both reduced forces increase strictly on [0, 1)), to ~1e-14."""
    low = np.zeros_like(target)
    high = np.ones_like(target)
    x = np.clip(1.0 - 0.5 / np.sqrt(target + 0.25), 0.0, 0.999)  # Marko–Siggia high-force guess
    for _ in range(100):
        value = _reduced_force(x, corrected) - target
        low = np.where(value < 0, x, low)
        high = np.where(value > 0, x, high)
        newton = x - value / _reduced_slope(x, corrected)
        inside = (newton > low) & (newton < high)
        x_new = np.where(inside, newton, 0.5 * (low + high))
        if np.all(np.abs(x_new - x) < 1e-14):
            x = x_new
            break
        x = x_new
    return np.where(target > 0, x, 0.0)


def bouchiat_extension(
    force_pN: np.ndarray | float,
    contour_nm: float,
    persistence_nm: float,
    kt_pN_nm: float = DEFAULT_KT_PN_NM,
) -> np.ndarray:
    """Extension (nm) of a worm-like chain under ``force_pN``: the inverse of
    :func:`bouchiat_force` (safeguarded Newton); forces ≤ 0 give 0."""
    target = np.asarray(force_pN, dtype=np.float64) * persistence_nm / kt_pN_nm
    return contour_nm * _relative_extension(np.maximum(target, 0.0), corrected=True)


def marko_siggia_extension(
    force_pN: np.ndarray | float,
    contour_nm: float,
    persistence_nm: float,
    kt_pN_nm: float = DEFAULT_KT_PN_NM,
) -> np.ndarray:
    """Extension (nm) under ``force_pN``: the inverse of :func:`marko_siggia_force`."""
    target = np.asarray(force_pN, dtype=np.float64) * persistence_nm / kt_pN_nm
    return contour_nm * _relative_extension(np.maximum(target, 0.0), corrected=False)


def odijk_extension(
    force_pN: np.ndarray | float,
    contour_nm: float,
    persistence_nm: float,
    stretch_modulus_pN: float,
    kt_pN_nm: float = DEFAULT_KT_PN_NM,
) -> np.ndarray:
    """Extension (nm) of an extensible WLC at high force (Odijk): Lc(1 − ½√(kT/(F·Lp)) + F/S)."""
    force = np.asarray(force_pN, dtype=np.float64)
    return contour_nm * (
        1.0 - 0.5 * np.sqrt(kt_pN_nm / (force * persistence_nm)) + force / stretch_modulus_pN
    )


@dataclass(frozen=True)
class WLCFit:
    """Result of :func:`fit_wlc`: lengths in nm, stretch modulus in pN (inf if the data show no
    stretching; nan for the inextensible models), 1σ errors, χ²/dof and the points used."""

    model: str
    persistence_nm: float
    persistence_error_nm: float
    contour_nm: float
    contour_error_nm: float
    stretch_modulus_pN: float
    stretch_modulus_error_pN: float
    reduced_chi2: float
    n_points: int


def fit_wlc(
    force_pN: np.ndarray,
    extension_nm: np.ndarray,
    *,
    model: Model = "bouchiat",
    extension_errors_nm: np.ndarray | float | None = None,
    kt_pN_nm: float = DEFAULT_KT_PN_NM,
    persistence_guess_nm: float = 50.0,
) -> WLCFit:
    """Fit Lp and Lc (and S for ``model="odijk"``) to extension-versus-force points.

    Give the points of the model's range: Bouchiat/Marko–Siggia below ~5 pN, Odijk above.
    With ``extension_errors_nm`` (1σ) the errors are absolute; without, the scatter of the points
    sets them (covariance scaled by χ²/dof). Raises ValueError on bad input.
    """
    force = np.asarray(force_pN, dtype=np.float64)
    extension = np.asarray(extension_nm, dtype=np.float64)
    if force.ndim != 1 or force.shape != extension.shape:
        raise ValueError("force_pN and extension_nm must be 1-D arrays of the same length")
    if not (np.all(np.isfinite(force)) and np.all(np.isfinite(extension))):
        raise ValueError("forces and extensions must be finite")
    if np.any(force <= 0):
        raise ValueError("forces must be > 0")
    n_params = 3 if model == "odijk" else 2
    if model not in ("bouchiat", "marko_siggia", "odijk"):
        raise ValueError(f"model must be 'bouchiat', 'marko_siggia' or 'odijk', got {model!r}")
    if force.size < n_params + (extension_errors_nm is None):
        raise ValueError(f"{force.size} points are too few for the {model} fit")

    def predict(f: np.ndarray, p: np.ndarray) -> np.ndarray:
        persistence, contour = np.exp(p[0]), np.exp(p[1])
        if model == "odijk":  # p[2] = 1000/S: compliance, may reach 0 (inextensible)
            return contour * (1.0 - 0.5 * np.sqrt(kt_pN_nm / (f * persistence)) + f * p[2] / 1000.0)
        inverse = bouchiat_extension if model == "bouchiat" else marko_siggia_extension
        return inverse(f, contour, persistence, kt_pN_nm)

    contour_guess = 1.05 * extension.max() if model != "odijk" else extension.max()
    p0 = [np.log(persistence_guess_nm), np.log(contour_guess)] + ([1.0] if model == "odijk" else [])
    fit = curve_fit(predict, force, extension, np.array(p0), extension_errors_nm)
    errors = fit.errors
    persistence, contour = np.exp(fit.params[:2])
    modulus = modulus_error = np.nan
    if model == "odijk":
        compliance, compliance_error = fit.params[2] / 1000.0, errors[2] / 1000.0
        modulus = 1.0 / compliance if compliance > 0 else np.inf
        modulus_error = compliance_error / compliance**2 if compliance > 0 else np.inf
    return WLCFit(
        model=model,
        persistence_nm=float(persistence),
        persistence_error_nm=float(persistence * errors[0]),
        contour_nm=float(contour),
        contour_error_nm=float(contour * errors[1]),
        stretch_modulus_pN=float(modulus),
        stretch_modulus_error_pN=float(modulus_error),
        reduced_chi2=fit.chi2 / max(fit.dof, 1),
        n_points=int(force.size),
    )
