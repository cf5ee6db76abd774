"""Force calibration of a tethered bead from its Brownian motion at one magnet height.

Geometry (Daldrop et al., Biophys. J. 108, 2550 (2015)): the magnets pull the bead up and their
field is horizontal, along the x axis here. A displacement along the field (x) tilts the tether
but the bead cannot rotate (its magnetic moment is locked to the field): a *short pendulum* of
length L, stiffness k = F/L. Across the field (y) the bead turns about the field axis so that the
tether points through its centre: a *long pendulum* of length L + R, k = F/(L + R). L is the
tether's extension, an input in nm: the bead's mean z minus its z when touching the surface (the
bead centre sits at L + R above the surface, R the bead radius, also an input).

Methods, each returning a :class:`ForceCalibration`:

* :func:`calibrate_spectrum` — maximum-likelihood fit of the periodogram (log-spaced blocks,
  gamma-distributed block means) with the exact spectrum of the camera's frames: exposure blur and
  aliasing included (:mod:`.force_models`). Unbiased up to and beyond fc ≈ fs.
* :func:`calibrate_allan` — generalised least-squares fit of the overlapping Allan variance at
  octave cluster sizes with the same exact blur/aliasing model and the estimates' full covariance.
* :func:`calibrate_lorentzian` — the same likelihood with a plain Lorentzian (no blur, no
  aliasing) and :func:`calibrate_equipartition` — k = kT/⟨x²⟩: for comparison only; both are
  biased once fc approaches the frame rate.

Drag: ``drag="free"`` fits k and γ (two parameters); ``drag="stokes"`` fixes γ = 6πηR and
``drag="faxen"`` fixes it with Faxén's wall correction at height L + R (one parameter: more
precise, but right only when η, R and L are; across the field the bead also turns as it swings,
which adds rotational drag the fixed value ignores — prefer "free" for y unless L ≫ R). When
fc ≫ fs and the exposure is short, the frames are independent and only the blurred variance, a
function of k and γ together, is measured: the free fit then reports an infinite error (fix the
drag, raise the frame rate or lengthen the exposure).

Positions should be drift corrected first (:mod:`.drift`); the mean is removed here. Units: nm,
s, Hz, pN, pN/nm, pN·s/nm.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from . import force_models as fm
from ._fit import FitResult, gamma_mle, levenberg_marquardt

BOLTZMANN_PN_NM_PER_K = 1.380649e-2
DEFAULT_TEMPERATURE_K = 296.15
DEFAULT_KT_PN_NM = BOLTZMANN_PN_NM_PER_K * DEFAULT_TEMPERATURE_K  # 4.09 pN·nm at 23 °C
DEFAULT_VISCOSITY_PN_S_PER_NM2 = 1e-9  # water, 1 mPa·s

Geometry = Literal["short", "long"]
Drag = Literal["free", "stokes", "faxen"]


@dataclass(frozen=True)
class ForceCalibration:
    """Result of one calibration of one bead along one axis.

    ``force_pN`` ± ``force_error_pN`` (1σ, statistical), ``stiffness_pN_per_nm`` (± error) of the
    lateral trap, ``corner_hz`` (± error) = k/(2πγ), ``corner_over_frame_rate`` = fc/fs and
    ``corner_above_nyquist`` (fc > fs/2: the bead moves faster than the camera samples it; the
    models with blur and aliasing still hold but precision drops), ``drag_pN_s_per_nm`` (fitted
    or fixed), ``variance_nm2`` = kT/k (the true, unblurred variance), the ``method``, the
    ``geometry`` ("short" along the field, "long" across it), ``n_frames`` and the goodness of
    fit ``reduced_chi2`` (≈ 1 for a good fit; nan for equipartition).
    """

    force_pN: float
    force_error_pN: float
    stiffness_pN_per_nm: float
    stiffness_error_pN_per_nm: float
    corner_hz: float
    corner_error_hz: float
    corner_over_frame_rate: float
    corner_above_nyquist: bool
    drag_pN_s_per_nm: float
    variance_nm2: float
    method: str
    geometry: str
    n_frames: int
    reduced_chi2: float


def pendulum_length(extension_nm: float, bead_radius_nm: float, geometry: Geometry) -> float:
    """Lever arm (nm) that turns stiffness into force: L ("short", x) or L + R ("long", y)."""
    if geometry == "short":
        return float(extension_nm)
    if geometry == "long":
        return float(extension_nm + bead_radius_nm)
    raise ValueError(f"geometry must be 'short' (along the field) or 'long', got {geometry!r}")


def bead_drag(
    bead_radius_nm: float,
    extension_nm: float,
    viscosity_pN_s_per_nm2: float = DEFAULT_VISCOSITY_PN_S_PER_NM2,
    surface_correction: bool = True,
) -> float:
    """Lateral drag (pN·s/nm): 6πηR, with Faxén's wall correction at height h = L + R if asked."""
    drag = 6.0 * np.pi * viscosity_pN_s_per_nm2 * bead_radius_nm
    if surface_correction:
        q = bead_radius_nm / (extension_nm + bead_radius_nm)
        drag /= 1.0 - 9.0 / 16.0 * q + q**3 / 8.0 - 45.0 / 256.0 * q**4 - q**5 / 16.0
    return float(drag)


def _check_inputs(positions, frame_rate_hz, exposure_s, extension_nm, bead_radius_nm, kt_pN_nm):
    x = np.asarray(positions, dtype=np.float64)
    if x.ndim != 1 or x.size < 64:
        raise ValueError(f"positions must be one trace of ≥ 64 frames, got shape {x.shape}")
    if not np.all(np.isfinite(x)):
        raise ValueError("positions contain NaN or inf (drop or fill lost frames first)")
    if not frame_rate_hz > 0:
        raise ValueError(f"frame_rate_hz must be > 0, got {frame_rate_hz!r}")
    if not 0.0 <= exposure_s <= 1.0 / frame_rate_hz * (1 + 1e-9):
        raise ValueError(f"exposure_s must lie in [0, 1/frame rate], got {exposure_s!r}")
    if not (extension_nm > 0 and bead_radius_nm > 0 and kt_pN_nm > 0):
        raise ValueError("extension_nm, bead_radius_nm and kt_pN_nm must be > 0")
    if np.ptp(x) == 0:
        raise ValueError("positions do not move: not a tethered bead")
    return x - x.mean()


def _initial_guess(x: np.ndarray, frame_rate_hz: float) -> tuple[float, float]:
    """(variance, τ) from the trace's variance and lag-1 autocorrelation."""
    variance = float(x @ x / x.size)
    rho = float(x[1:] @ x[:-1] / (x @ x))
    rho = min(max(rho, 0.05), 0.999)
    return variance, -1.0 / (frame_rate_hz * np.log(rho))


def _result(
    fit: FitResult,
    fixed_drag: float | None,
    *,
    method: str,
    geometry: Geometry,
    arm_nm: float,
    frame_rate_hz: float,
    kt: float,
    n_frames: int,
) -> ForceCalibration:
    """Turn a fit of (ln σ², ln τ) — or (ln σ²) with the drag fixed — into a calibration."""
    log_variance = fit.params[0]
    variance = float(np.exp(log_variance))
    stiffness = kt / variance
    if fixed_drag is None:
        tau = float(np.exp(fit.params[1]))
        covariance = fit.covariance
    else:
        tau = fixed_drag / stiffness
        covariance = np.full((2, 2), fit.covariance[0, 0])  # ln τ = ln σ² + const
    relative_k = float(np.sqrt(covariance[0, 0]))
    if fit.rank < fit.params.size:  # k and γ cannot be told apart (fc ≫ fs): fix the drag
        covariance = np.full((2, 2), np.inf)
        relative_k = np.inf
    corner = 1.0 / (2.0 * np.pi * tau)
    dof = max(fit.dof, 1)
    return ForceCalibration(
        force_pN=stiffness * arm_nm,
        force_error_pN=stiffness * arm_nm * relative_k,
        stiffness_pN_per_nm=stiffness,
        stiffness_error_pN_per_nm=stiffness * relative_k,
        corner_hz=corner,
        corner_error_hz=corner * float(np.sqrt(covariance[1, 1])),
        corner_over_frame_rate=corner / frame_rate_hz,
        corner_above_nyquist=bool(corner > 0.5 * frame_rate_hz),
        drag_pN_s_per_nm=stiffness * tau,
        variance_nm2=variance,
        method=method,
        geometry=geometry,
        n_frames=n_frames,
        reduced_chi2=fit.chi2 / dof,
    )


def _fixed_drag(drag: Drag, bead_radius_nm, extension_nm, viscosity) -> float | None:
    if drag == "free":
        return None
    if drag in ("stokes", "faxen"):
        return bead_drag(bead_radius_nm, extension_nm, viscosity, drag == "faxen")
    raise ValueError(f"drag must be 'free', 'stokes' or 'faxen', got {drag!r}")


def _spectrum_fit(
    positions,
    frame_rate_hz,
    exposure_s,
    extension_nm,
    bead_radius_nm,
    geometry,
    kt_pN_nm,
    viscosity_pN_s_per_nm2,
    drag,
    n_blocks,
    blurred: bool,
) -> ForceCalibration:
    x = _check_inputs(positions, frame_rate_hz, exposure_s, extension_nm, bead_radius_nm, kt_pN_nm)
    arm = pendulum_length(extension_nm, bead_radius_nm, geometry)
    fixed = _fixed_drag(drag, bead_radius_nm, extension_nm, viscosity_pN_s_per_nm2)
    frequency, power = fm.periodogram(x, frame_rate_hz)
    starts = fm.log_blocks(frequency.size, n_blocks)
    data = fm.block_mean(power, starts)
    counts = np.diff(np.append(starts, frequency.size))

    def model(p: np.ndarray) -> np.ndarray:
        variance = np.exp(p[0])
        tau = np.exp(p[1]) if fixed is None else fixed * variance / kt_pN_nm
        if blurred:
            spectrum = fm.exposure_psd(frequency, variance, tau, frame_rate_hz, exposure_s)
        else:
            spectrum = fm.lorentzian_psd(frequency, variance, tau)
        return fm.block_mean(spectrum, starts)

    variance0, tau0 = _initial_guess(x, frame_rate_hz)
    p0 = np.log([variance0, tau0]) if fixed is None else np.log([variance0])
    fit = gamma_mle(model, data, counts, p0)
    method = "spectrum" if blurred else "lorentzian"
    return _result(
        fit,
        fixed,
        method=method,
        geometry=geometry,
        arm_nm=arm,
        frame_rate_hz=frame_rate_hz,
        kt=kt_pN_nm,
        n_frames=x.size,
    )


def calibrate_spectrum(
    positions: np.ndarray,
    frame_rate_hz: float,
    exposure_s: float,
    extension_nm: float,
    bead_radius_nm: float,
    geometry: Geometry,
    *,
    kt_pN_nm: float = DEFAULT_KT_PN_NM,
    viscosity_pN_s_per_nm2: float = DEFAULT_VISCOSITY_PN_S_PER_NM2,
    drag: Drag = "free",
    n_blocks: int = 200,
) -> ForceCalibration:
    """Force from the power spectrum of one lateral trace (nm, one value per frame).

    ``geometry`` "short" for x (along the field, arm L), "long" for y (across it, arm L + R).
    The periodogram is averaged in ~``n_blocks`` log-spaced blocks and fitted by maximum
    likelihood (each block mean gamma distributed) with :func:`.force_models.exposure_psd`.
    Raises ValueError naming the bad input.
    """
    return _spectrum_fit(
        positions,
        frame_rate_hz,
        exposure_s,
        extension_nm,
        bead_radius_nm,
        geometry,
        kt_pN_nm,
        viscosity_pN_s_per_nm2,
        drag,
        n_blocks,
        blurred=True,
    )


def calibrate_lorentzian(
    positions: np.ndarray,
    frame_rate_hz: float,
    extension_nm: float,
    bead_radius_nm: float,
    geometry: Geometry,
    *,
    kt_pN_nm: float = DEFAULT_KT_PN_NM,
    n_blocks: int = 200,
) -> ForceCalibration:
    """Plain Lorentzian fit (no blur, no aliasing) of the same spectrum: for comparison only."""
    return _spectrum_fit(
        positions,
        frame_rate_hz,
        0.0,
        extension_nm,
        bead_radius_nm,
        geometry,
        kt_pN_nm,
        DEFAULT_VISCOSITY_PN_S_PER_NM2,
        "free",
        n_blocks,
        blurred=False,
    )


def calibrate_equipartition(
    positions: np.ndarray,
    frame_rate_hz: float,
    extension_nm: float,
    bead_radius_nm: float,
    geometry: Geometry,
    *,
    kt_pN_nm: float = DEFAULT_KT_PN_NM,
) -> ForceCalibration:
    """F = kT·arm/⟨x²⟩ from the variance of the frames, blur ignored: comparison only.

    The 1σ assumes the frames are an AR(1) sequence with the trace's lag-1 autocorrelation ρ
    (N_eff = N(1 − ρ)/(1 + ρ)). The corner comes from ρ too (fc = −fs·ln ρ/2π).
    """
    x = _check_inputs(positions, frame_rate_hz, 0.0, extension_nm, bead_radius_nm, kt_pN_nm)
    arm = pendulum_length(extension_nm, bead_radius_nm, geometry)
    variance, tau = _initial_guess(x, frame_rate_hz)
    rho = np.exp(-1.0 / (frame_rate_hz * tau))
    n_effective = x.size * (1.0 - rho) / (1.0 + rho)
    covariance = np.diag([2.0 / n_effective, np.nan])
    fit = FitResult(np.log([variance, tau]), covariance, np.nan, 1, 0, 2)
    return _result(
        fit,
        None,
        method="equipartition",
        geometry=geometry,
        arm_nm=arm,
        frame_rate_hz=frame_rate_hz,
        kt=kt_pN_nm,
        n_frames=x.size,
    )


def octave_cluster_sizes(n_frames: int, min_clusters: int = 8) -> np.ndarray:
    """Cluster sizes 1, 2, 4, … (frames) leaving at least ``min_clusters`` clusters per estimate."""
    top = max(int(np.log2(max(n_frames // min_clusters, 1))), 0)
    return 2 ** np.arange(top + 1)


def calibrate_allan(
    positions: np.ndarray,
    frame_rate_hz: float,
    exposure_s: float,
    extension_nm: float,
    bead_radius_nm: float,
    geometry: Geometry,
    *,
    kt_pN_nm: float = DEFAULT_KT_PN_NM,
    viscosity_pN_s_per_nm2: float = DEFAULT_VISCOSITY_PN_S_PER_NM2,
    drag: Drag = "free",
    rounds: int = 3,
) -> ForceCalibration:
    """Force from the overlapping Allan variance at octave cluster sizes (Lansdorp & Saleh 2012).

    The model is :func:`.force_models.exposure_allan_variance` (blur and sampling exact); the fit
    is generalised least squares with the estimates' covariance from the current model
    (:func:`.force_models.allan_covariance`), re-evaluated ``rounds`` times. Same arguments and
    errors as :func:`calibrate_spectrum`.
    """
    x = _check_inputs(positions, frame_rate_hz, exposure_s, extension_nm, bead_radius_nm, kt_pN_nm)
    arm = pendulum_length(extension_nm, bead_radius_nm, geometry)
    fixed = _fixed_drag(drag, bead_radius_nm, extension_nm, viscosity_pN_s_per_nm2)
    sizes = octave_cluster_sizes(x.size)
    if sizes.size < 4:
        raise ValueError(f"{x.size} frames are too few for an Allan-variance fit")
    data = fm.allan_variance(x, sizes)

    def unpack(p: np.ndarray) -> tuple[float, float]:
        variance = float(np.exp(p[0]))
        return variance, float(np.exp(p[1])) if fixed is None else fixed * variance / kt_pN_nm

    def model(p: np.ndarray) -> np.ndarray:
        return fm.exposure_allan_variance(sizes, *unpack(p), frame_rate_hz, exposure_s)

    variance0, tau0 = _initial_guess(x, frame_rate_hz)
    p = np.log([variance0, tau0]) if fixed is None else np.log([variance0])
    fit = None
    for _ in range(rounds):
        covariance = fm.allan_covariance(sizes, x.size, *unpack(p), frame_rate_hz, exposure_s)
        whiten = np.linalg.inv(np.linalg.cholesky(covariance))
        fit = levenberg_marquardt(lambda q, w=whiten: w @ (model(q) - data), p)
        p = fit.params
    assert fit is not None
    return _result(
        fit,
        fixed,
        method="allan",
        geometry=geometry,
        arm_nm=arm,
        frame_rate_hz=frame_rate_hz,
        kt=kt_pN_nm,
        n_frames=x.size,
    )


def binned_spectrum(
    positions: np.ndarray,
    frame_rate_hz: float,
    exposure_s: float,
    calibration: ForceCalibration,
    n_bins: int = 60,
) -> dict[str, list[float]]:
    """The trace's power spectrum for a plot, with the fitted model and the plain Lorentzian.

    The periodogram (mean removed) averaged in at most ``n_bins`` log-spaced blocks, as the
    fit does: ``frequency_hz`` (each block's mean frequency), ``psd`` (nm²/Hz), ``model`` (the
    spectrum with exposure blur and aliasing of ``calibration``'s variance and corner,
    averaged over the same blocks) and ``lorentzian`` (the same variance and corner without blur
    or aliasing, for comparison). Lists of equal length (≤ ``n_bins``), 4 significant digits,
    so a calibration result stays small as JSON.
    """
    x = np.asarray(positions, dtype=np.float64)
    frequency, power = fm.periodogram(x, frame_rate_hz)
    starts = fm.log_blocks(frequency.size, n_bins)
    variance = calibration.variance_nm2
    with np.errstate(all="ignore"):  # a degenerate fit (fc 0 or inf) gives NaN models, no error
        tau = 1.0 / (2.0 * np.pi * np.float64(calibration.corner_hz))
        curves = {
            "frequency_hz": frequency,
            "psd": power,
            "model": fm.exposure_psd(frequency, variance, tau, frame_rate_hz, exposure_s),
            "lorentzian": fm.lorentzian_psd(frequency, variance, tau),
        }
    return {
        name: [float(f"{v:.4g}") for v in fm.block_mean(values, starts)]
        for name, values in curves.items()
    }
