"""Pure physics of a magnetic-tweezers tether: force, worm-like chain, twist, Brownian motion.

Units: lengths in nm, forces in pN, energies in pN·nm, times in s, magnet height in mm,
rotation in turns. Every function is vectorised over numpy arrays and has no state.
"""

from __future__ import annotations

import numpy as np

BOLTZMANN_PN_NM_PER_K = 1.380649e-2  # k_B in pN·nm/K

# Bouchiat et al., Biophys. J. 76, 409 (1999): the Marko–Siggia interpolation plus a 7th-order
# polynomial correction, accurate to 0.01 % of the exact WLC force-extension relation.
_BOUCHIAT = (0.0, 0.0, -0.5164228, -2.737418, 16.07497, -38.87607, 39.49944, -14.17718)


def thermal_energy(temperature_k: float) -> float:
    """k_B·T in pN·nm."""
    return BOLTZMANN_PN_NM_PER_K * temperature_k


def magnet_force(height_mm: np.ndarray | float, f0_pn: float, decay_mm: float) -> np.ndarray:
    """Force on a bead with the magnets ``height_mm`` above the sample: F0·exp(−d/λ), in pN."""
    return f0_pn * np.exp(-np.asarray(height_mm, dtype=np.float64) / decay_mm)


def _wlc_reduced_force(x: np.ndarray) -> np.ndarray:
    """F·Lp/kT as a function of relative extension x = l/Lc in [0, 1) (Bouchiat)."""
    result = 0.25 / (1.0 - x) ** 2 - 0.25 + x
    power = x * x
    for coefficient in _BOUCHIAT[2:]:
        result = result + coefficient * power
        power = power * x
    return result


def _wlc_reduced_slope(x: np.ndarray) -> np.ndarray:
    """d(F·Lp/kT)/dx."""
    result = 0.5 / (1.0 - x) ** 3 + 1.0
    power = x
    for i, coefficient in enumerate(_BOUCHIAT[2:], start=2):
        result = result + i * coefficient * power
        power = power * x
    return result


def wlc_force(
    extension_nm: np.ndarray | float,
    contour_nm: np.ndarray | float,
    persistence_nm: float,
    kt: float,
) -> np.ndarray:
    """Force (pN) that holds a worm-like chain at ``extension_nm`` (Bouchiat interpolation)."""
    x = np.asarray(extension_nm, dtype=np.float64) / contour_nm
    return kt / persistence_nm * _wlc_reduced_force(x)


def wlc_extension(
    force_pn: np.ndarray | float,
    contour_nm: np.ndarray | float,
    persistence_nm: float,
    kt: float,
) -> np.ndarray:
    """Mean extension (nm) of a worm-like chain under ``force_pn``; inverts :func:`wlc_force`.

    Solved by bisection on x = l/Lc in [0, 1) (the reduced force is strictly increasing there),
    to a relative precision of 2^-52. Forces ≤ 0 give extension 0.
    """
    target = np.asarray(force_pn, dtype=np.float64) * persistence_nm / kt
    contour = np.asarray(contour_nm, dtype=np.float64)
    shape = np.broadcast_shapes(target.shape, contour.shape)
    target = np.broadcast_to(target, shape)
    low = np.zeros(shape)
    high = np.ones(shape)
    for _ in range(52):
        mid = 0.5 * (low + high)
        above = _wlc_reduced_force(mid) > target
        high = np.where(above, mid, high)
        low = np.where(above, low, mid)
    x = np.where(target > 0.0, 0.5 * (low + high), 0.0)
    return x * contour


def wlc_stiffness(
    extension_nm: np.ndarray | float,
    contour_nm: np.ndarray | float,
    persistence_nm: float,
    kt: float,
) -> np.ndarray:
    """dF/dl (pN/nm) of the worm-like chain at ``extension_nm``: the axial trap stiffness."""
    contour = np.asarray(contour_nm, dtype=np.float64)
    x = np.asarray(extension_nm, dtype=np.float64) / contour
    return kt / (persistence_nm * contour) * _wlc_reduced_slope(x)


def supercoiled_extension(
    extension_nm: np.ndarray,
    force_pn: np.ndarray,
    turns: float | np.ndarray,
    contour_nm: np.ndarray,
    persistence_nm: float,
    twist_persistence_nm: float,
    kt: float,
    melting_force_pn: float,
    torsionally_free: np.ndarray | None = None,
    smoothing_turns: float = 0.25,
) -> np.ndarray:
    """Extension (nm) of a torsionally constrained tether twisted by ``turns`` (the hat curve).

    Buckling torque Γb = sqrt(2·kT·Lp·F) (Marko 2007); buckling at nb = Γb·Lc/(2π·kT·C) turns,
    C = ``twist_persistence_nm``; beyond it each turn moves 2π·Γb/F nm of DNA into the
    plectoneme (work balance at constant torque). The corner is rounded over ~``smoothing_turns``
    turns. Negative turns above ``melting_force_pn`` melt the DNA instead: no drop. Tethers with
    ``torsionally_free`` True (nicked) never drop. The result stays ≥ 0.
    """
    force = np.maximum(np.asarray(force_pn, dtype=np.float64), 1e-12)
    turns = np.asarray(turns, dtype=np.float64)
    torque = np.sqrt(2.0 * kt * persistence_nm * force)
    buckling_turns = torque * contour_nm / (2.0 * np.pi * kt * twist_persistence_nm)
    slope = 2.0 * np.pi * torque / force  # nm per turn in the plectonemic regime
    s = smoothing_turns
    excess = s * (
        np.logaddexp(0.0, (np.abs(turns) - buckling_turns) / s)
        - np.logaddexp(0.0, -buckling_turns / s)
    )
    drop = slope * excess
    no_drop = (turns < 0.0) & (force > melting_force_pn)
    if torsionally_free is not None:
        no_drop = no_drop | torsionally_free
    return np.maximum(np.where(no_drop, extension_nm, extension_nm - drop), 0.0)


def stokes_drag(radius_nm: float, viscosity_pn_s_per_nm2: float) -> float:
    """Stokes drag coefficient 6πηR of a sphere in bulk, pN·s/nm."""
    return 6.0 * np.pi * viscosity_pn_s_per_nm2 * radius_nm


def surface_drag_factors(radius_nm: float, height_nm: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Drag increase (parallel, perpendicular) of a sphere centred ``height_nm`` above a wall.

    Faxén's series (parallel) and the Brenner approximation of Schäffer et al., Langmuir 23,
    3654 (2007) (perpendicular); capped at 10× because both diverge at contact.
    """
    q = radius_nm / np.maximum(np.asarray(height_nm, dtype=np.float64), radius_nm)
    parallel = 1.0 - 9.0 / 16.0 * q + q**3 / 8.0 - 45.0 / 256.0 * q**4 - q**5 / 16.0
    perpendicular = (
        1.0 - 9.0 / 8.0 * q + 0.5 * q**3 - 0.57 * q**4 + 0.2 * q**5 + 0.035 * q**11 - 0.04 * q**12
    )
    return 1.0 / np.maximum(parallel, 0.1), 1.0 / np.maximum(perpendicular, 0.1)


def ou_step(
    x: np.ndarray,
    mean: np.ndarray,
    variance: np.ndarray,
    tau: np.ndarray,
    dt: float,
    rng: np.random.Generator,
) -> np.ndarray:
    """Exact Ornstein–Uhlenbeck update of ``x`` over ``dt`` s (stationary variance, τ in s)."""
    if dt <= 0.0:
        return x
    a = np.exp(-dt / tau)
    return (
        mean
        + (x - mean) * a
        + np.sqrt(variance * -np.expm1(-2.0 * dt / tau)) * rng.standard_normal(x.shape)
    )


def ou_exposure_step(
    x: np.ndarray,
    mean: np.ndarray,
    variance: np.ndarray,
    tau: np.ndarray,
    exposure: float,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray]:
    """Advance an Ornstein–Uhlenbeck process across one exposure of ``exposure`` s, exactly.

    Returns ``(x_end, x_mean)``: the position at the end of the exposure and the position
    averaged over the exposure (what a camera sees), drawn from their exact joint Gaussian
    law given the position ``x`` at the start. With α = T/τ, a = e^−α, c = (1 − a)/α:
    Var(x_end) = σ²(1 − a²), Var(x_mean) = σ²(2(α − 1 + a)/α² − c²), Cov = σ²·c·(1 − a).
    """
    alpha = np.maximum(exposure / tau, 1e-12)
    one_minus_a = -np.expm1(-alpha)
    a = 1.0 - one_minus_a
    c = one_minus_a / alpha
    v_end = variance * -np.expm1(-2.0 * alpha)
    v_mean = variance * np.maximum(2.0 * (alpha + np.expm1(-alpha)) / alpha**2 - c * c, 0.0)
    cov = variance * c * one_minus_a
    l11 = np.sqrt(v_end)
    l21 = np.divide(cov, l11, out=np.zeros_like(cov), where=l11 > 0)
    l22 = np.sqrt(np.maximum(v_mean - l21 * l21, 0.0))
    n1 = rng.standard_normal(x.shape)
    n2 = rng.standard_normal(x.shape)
    deviation = x - mean
    return mean + deviation * a + l11 * n1, mean + deviation * c + l21 * n1 + l22 * n2


def exposure_variance_factor(exposure: float, tau: np.ndarray | float) -> np.ndarray:
    """Var(exposure-averaged position) / Var(position): 2(α − 1 + e^−α)/α², α = T/τ."""
    alpha = np.maximum(exposure / np.asarray(tau, dtype=np.float64), 1e-12)
    return 2.0 * (alpha + np.expm1(-alpha)) / alpha**2
