"""Brownian traces of a tethered bead as a camera records them, made two independent ways.

* :func:`simulator_traces` — the simulated microscope's own physics (exact OU step between
  exposures, exact joint draw of the exposure average).
* :func:`brute_force_traces` — fine-time-step Langevin integration (the exact one-step update of
  a harmonic Langevin equation at dt ≪ τ), then the trapezoid average of the fine positions over
  each exposure window. It shares nothing with the analytic exposure formulas under test.

Each returns an array (n_traces, n_frames) in nm; the trap has variance σ² = kT/k (nm²) and time
constant τ = γ/k (s). :func:`bead_trap` gives (σ², τ, F) for a realistic bead and tether.
"""

from __future__ import annotations

import numpy as np
from magscope_app.hardware.simulated import physics

KT = physics.thermal_energy(296.15)
VISCOSITY = 1e-9


def bead_trap(force_pn, extension_nm, radius_nm, geometry):
    """(variance nm², τ s) of the lateral trap of a bead: Stokes drag with Faxén's correction."""
    arm = extension_nm if geometry == "short" else extension_nm + radius_nm
    stiffness = force_pn / arm
    parallel, _ = physics.surface_drag_factors(radius_nm, extension_nm + radius_nm)
    drag = physics.stokes_drag(radius_nm, VISCOSITY) * parallel
    return KT / stiffness, drag / stiffness


def simulator_traces(n_traces, n_frames, variance, tau, frame_rate, exposure, rng):
    """Frames from :func:`physics.ou_exposure_step` and :func:`physics.ou_step`."""
    variance = np.broadcast_to(np.asarray(variance, dtype=float), (n_traces,))
    tau = np.broadcast_to(np.asarray(tau, dtype=float), (n_traces,))
    mean = np.zeros(n_traces)
    state = np.sqrt(variance) * rng.standard_normal(n_traces)
    gap = 1.0 / frame_rate - exposure
    frames = np.empty((n_frames, n_traces))
    for i in range(n_frames):
        state = physics.ou_step(state, mean, variance, tau, gap, rng)
        state, frames[i] = physics.ou_exposure_step(state, mean, variance, tau, exposure, rng)
    return frames.T


def _ar1(decay: float, noise: np.ndarray, start: np.ndarray, block: int = 48) -> np.ndarray:
    """x_t = decay·x_{t−1} + noise_t along axis 0 from x_{−1} = start, by blocks of matrices."""
    out = np.empty_like(noise)
    index = np.arange(block)
    powers = np.tril(decay ** np.maximum(index[:, None] - index[None, :], 0))
    carry = decay ** (index + 1)
    previous = start
    for first in range(0, noise.shape[0], block):
        chunk = noise[first : first + block]
        n = chunk.shape[0]
        out[first : first + n] = powers[:n, :n] @ chunk + carry[:n, None] * previous
        previous = out[first + n - 1]
    return out


def brute_force_traces(n_traces, n_frames, variance, tau, frame_rate, exposure, rng):
    """Frames from fine-step Langevin integration box-averaged over each exposure (scalar σ², τ)."""
    interval = 1.0 / frame_rate
    steps_per_frame = int(np.ceil(max(interval / (tau / 8.0), 64)))
    exposure = min(exposure, interval)
    dt = interval / steps_per_frame
    exposed = max(round(exposure / dt), 0)
    decay = np.exp(-dt / tau)
    kick = np.sqrt(variance * -np.expm1(-2.0 * dt / tau))
    state = np.sqrt(variance) * rng.standard_normal(n_traces)
    frames = np.empty((n_frames, n_traces))
    chunk = max(1, 200_000 // steps_per_frame)
    for first in range(0, n_frames, chunk):
        n = min(chunk, n_frames - first)
        fine = _ar1(decay, kick * rng.standard_normal((n * steps_per_frame, n_traces)), state)
        fine = fine.reshape(n, steps_per_frame, n_traces)
        ends = fine[:, -1]
        if exposed == 0:
            frames[first : first + n] = ends
        else:  # trapezoid over the exposed + 1 fine points of each exposure window
            previous_ends = np.concatenate([state[None], ends[:-1]])
            opening = previous_ends if exposed >= steps_per_frame else fine[:, -exposed - 1]
            interior = fine[:, steps_per_frame - exposed : -1].sum(axis=1)
            frames[first : first + n] = (0.5 * opening + interior + 0.5 * ends) / exposed
        state = ends[-1]
    return frames.T
