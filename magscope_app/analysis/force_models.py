"""What a camera records of a bead in a harmonic trap: exact spectra and Allan variances.

The bead's position x(t) is an Ornstein–Uhlenbeck process (overdamped bead in a trap of stiffness
k with drag γ): variance σ² = kT/k (nm²), time constant τ = γ/k (s), corner frequency
fc = 1/(2πτ). The camera reports frames every Δt = 1/fs seconds, each the average of x(t) over
an exposure of W ≤ Δt seconds. The frame sequence x_n is then a stationary Gaussian sequence with
autocovariance (α = W/τ, β = Δt/τ)

    C(0) = σ²·2(α − 1 + e^−α)/α²                    (exposure blur reduces the variance)
    C(j) = σ²·(2 sinh(α/2)/α)²·e^−jβ,  j ≥ 1         (sampling at fs: aliasing)

whose Fourier series is the spectrum the periodogram estimates: the exact discrete-time
Lorentzian, equal to the continuous Lorentzian times sinc²(πfW) summed over all aliases f + n·fs
(Wong & Halvorsen 2006; te Velthuis et al., Biophys. J. 99, 1292 (2010); Lansdorp & Saleh,
Rev. Sci. Instrum. 83, 025115 (2012)), in closed form. Power spectra here are one-sided, nm²/Hz.
"""

from __future__ import annotations

import numpy as np


def _blur_factors(variance, tau, frame_interval_s: float, exposure_s: float):
    """(C(0), C(1), r) with C(j ≥ 1) = C(1)·r^(j−1) for the exposure-averaged, sampled OU process.

    C(1) = σ²·((1 − e^−α)/α)²·e^(α − β) is (2 sinh(α/2)/α)²·e^−β written so that it never
    overflows (α ≤ β because the exposure fits in the frame interval).
    """
    variance = np.asarray(variance, dtype=np.float64)
    tau = np.asarray(tau, dtype=np.float64)
    alpha = exposure_s / tau
    beta = frame_interval_s / tau
    small = alpha < 1e-4
    safe = np.where(small, 1.0, alpha)
    c0_factor = np.where(
        small, 1.0 - alpha / 3.0 + alpha**2 / 12.0, 2.0 * (safe + np.expm1(-safe)) / safe**2
    )
    average_decay = np.where(small, 1.0 - alpha / 2.0, -np.expm1(-safe) / safe)
    c1 = variance * average_decay**2 * np.exp(alpha - beta)
    return variance * c0_factor, c1, np.exp(-beta)


def exposure_autocovariance(
    lags: np.ndarray, variance: float, tau: float, frame_rate_hz: float, exposure_s: float
) -> np.ndarray:
    """Autocovariance (nm²) of the recorded frames at integer ``lags`` (frames), see module doc."""
    c0, c1, r = _blur_factors(variance, tau, 1.0 / frame_rate_hz, exposure_s)
    lags = np.abs(np.asarray(lags))
    return np.where(lags == 0, c0, c1 * r ** np.maximum(lags - 1, 0))


def exposure_psd(
    frequency_hz: np.ndarray, variance: float, tau: float, frame_rate_hz: float, exposure_s: float
) -> np.ndarray:
    """One-sided spectrum (nm²/Hz) of the recorded frames: exposure blur and aliasing, exact.

    The Fourier series of the autocovariance, 2Δt·[C(0) + 2·C(1)·(cos ω − r)/(1 − 2r·cos ω + r²)]
    with ω = 2πfΔt; valid for 0 ≤ f ≤ fs/2.
    """
    dt = 1.0 / frame_rate_hz
    c0, c1, r = _blur_factors(variance, tau, dt, exposure_s)
    cos = np.cos(2.0 * np.pi * np.asarray(frequency_hz, dtype=np.float64) * dt)
    return 2.0 * dt * (c0 + 2.0 * c1 * (cos - r) / (1.0 - 2.0 * r * cos + r * r))


def lorentzian_psd(frequency_hz: np.ndarray, variance: float, tau: float) -> np.ndarray:
    """One-sided spectrum (nm²/Hz) of x(t) itself, no blur or aliasing: 4σ²τ/(1 + (2πfτ)²)."""
    f = np.asarray(frequency_hz, dtype=np.float64)
    return 4.0 * variance * tau / (1.0 + (2.0 * np.pi * f * tau) ** 2)


def periodogram(positions: np.ndarray, frame_rate_hz: float) -> tuple[np.ndarray, np.ndarray]:
    """One-sided periodogram of a mean-subtracted trace: (frequencies Hz, power nm²/Hz).

    Bins k = 1 … ⌈N/2⌉ − 1 (no zero frequency, no Nyquist bin), each an unbiased estimate of
    :func:`exposure_psd` for a long trace, exponentially distributed and independent.
    """
    x = np.asarray(positions, dtype=np.float64)
    n = x.size
    spectrum = np.fft.rfft(x - x.mean())
    k = np.arange(1, (n + 1) // 2)
    power = 2.0 / (frame_rate_hz * n) * np.abs(spectrum[k]) ** 2
    return k * frame_rate_hz / n, power


def log_blocks(n_bins: int, n_blocks: int) -> np.ndarray:
    """Start indices of about ``n_blocks`` log-spaced blocks of ``n_bins`` bins (each ≥ 1 bin)."""
    edges = np.unique(np.round(np.geomspace(1, n_bins + 1, n_blocks + 1)).astype(np.int64) - 1)
    return edges[edges < n_bins]


def block_mean(values: np.ndarray, starts: np.ndarray) -> np.ndarray:
    """Mean of ``values`` over each block that begins at ``starts`` (and ends at the next)."""
    counts = np.diff(np.append(starts, values.size))
    return np.add.reduceat(values, starts) / counts


def allan_variance(positions: np.ndarray, cluster_sizes: np.ndarray) -> np.ndarray:
    """Overlapping Allan variance (nm²) of a trace for clusters of ``cluster_sizes`` frames.

    AV(m) = ½⟨(M_{i+m} − M_i)²⟩ over all i, M_i the mean of frames i … i+m−1.
    """
    x = np.asarray(positions, dtype=np.float64)
    cumulative = np.concatenate([[0.0], np.cumsum(x - x.mean())])
    result = np.empty(len(cluster_sizes))
    for index, m in enumerate(np.asarray(cluster_sizes, dtype=np.int64)):
        means = (cumulative[m:] - cumulative[:-m]) / m
        result[index] = 0.5 * np.mean((means[m:] - means[:-m]) ** 2)
    return result


def exposure_allan_variance(
    cluster_sizes: np.ndarray, variance: float, tau: float, frame_rate_hz: float, exposure_s: float
) -> np.ndarray:
    """Expected Allan variance (nm²) of the recorded frames for clusters of m frames, exact.

    AV(m) = [m·C(0) + C(1)·(2G(m) − (1 − r^m)²/(1 − r)²)]/m² with
    G(m) = Σ_{j<m}(m − j)·r^(j−1) = (m(1 − r) − (1 − r^m))/(1 − r)².
    """
    c0, c1, _ = _blur_factors(variance, tau, 1.0 / frame_rate_hz, exposure_s)
    m = np.asarray(cluster_sizes, dtype=np.float64)
    one_minus_r = -np.expm1(-1.0 / (frame_rate_hz * tau))
    one_minus_rm = -np.expm1(-m / (frame_rate_hz * tau))
    g = (m * one_minus_r - one_minus_rm) / one_minus_r**2
    return (m * c0 + c1 * (2.0 * g - (one_minus_rm / one_minus_r) ** 2)) / m**2


def allan_covariance(
    cluster_sizes: np.ndarray,
    n_frames: int,
    variance: float,
    tau: float,
    frame_rate_hz: float,
    exposure_s: float,
) -> np.ndarray:
    """Covariance matrix of :func:`allan_variance` estimates from ``n_frames`` Gaussian frames.

    Each estimate is ½·mean(d_i²) with d_i = M_{i+m} − M_i a filtered copy of the frames; for
    Gaussian d, Cov(½⟨d²⟩_m1, ½⟨d²⟩_m2) = Σ_l n(l)·g(l)²/(2K1K2), g the cross-covariance of the
    two filtered sequences (from the exact spectrum by FFT) and n(l) the pairs at lag l.
    """
    sizes = np.asarray(cluster_sizes, dtype=np.int64)
    length = 1 << int(np.ceil(np.log2(2 * n_frames + 4 * sizes.max())))
    frequency = np.fft.rfftfreq(length, d=1.0 / frame_rate_hz)
    spectrum = (
        0.5 * frame_rate_hz * exposure_psd(frequency, variance, tau, frame_rate_hz, exposure_s)
    )
    filters = []
    for m in sizes:
        kernel = np.zeros(length)
        kernel[:m] = -1.0 / m
        kernel[m : 2 * m] = 1.0 / m
        filters.append(np.fft.rfft(kernel))
    counts_k = n_frames - 2 * sizes + 1
    lags = np.arange(length)
    lags = np.where(lags < length // 2, lags, lags - length)  # signed lag of each circular index
    covariance = np.empty((sizes.size, sizes.size))
    for a in range(sizes.size):
        for b in range(a, sizes.size):
            cross = np.fft.irfft(spectrum * filters[a] * np.conj(filters[b]), n=length)
            k1, k2 = counts_k[a], counts_k[b]
            pairs = np.clip(np.minimum(k1, k2 - lags) - np.maximum(0, -lags), 0, None)
            value = np.sum(pairs * cross**2) / (2.0 * k1 * k2)
            covariance[a, b] = covariance[b, a] = value
    return covariance
