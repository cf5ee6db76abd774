"""Worm-like-chain fits: the simulator's own WLC, the exact WLC solved numerically, Odijk."""

from __future__ import annotations

import numpy as np
import pytest
from magscope_app.hardware.simulated import physics

from magscope_app.analysis import wlc

KT = physics.thermal_energy(296.15)
LOW_FORCES = np.geomspace(0.03, 5.0, 30)
HIGH_FORCES = np.geomspace(5.0, 40.0, 20)


def exact_relative_extension(reduced_force: np.ndarray, n_modes: int = 80) -> np.ndarray:
    """⟨z⟩/Lc of the exact inextensible WLC (long chain) at F·Lp/kT = f.

    The chain's transfer matrix is the quantum rigid rotor in a field, H = −½∇² − f·cos θ;
    ⟨z⟩/Lc = ⟨ψ0|cos θ|ψ0⟩ of its ground state (Hellmann–Feynman), in a Legendre basis where
    ⟨l|cos θ|l+1⟩ = (l+1)/√((2l+1)(2l+3)). Independent of every interpolation formula.
    """
    ell = np.arange(n_modes)
    coupling = (ell[:-1] + 1) / np.sqrt((2 * ell[:-1] + 1) * (2 * ell[:-1] + 3))
    cos_theta = np.diag(coupling, 1) + np.diag(coupling, -1)
    result = []
    for f in np.atleast_1d(reduced_force):
        _, vectors = np.linalg.eigh(np.diag(0.5 * ell * (ell + 1.0)) - f * cos_theta)
        ground = vectors[:, 0]
        result.append(ground @ cos_theta @ ground)
    return np.array(result)


def test_bouchiat_is_the_simulators_wlc_and_its_inverse_is_exact():
    extension = np.linspace(0.0, 990.0, 50)
    np.testing.assert_allclose(
        wlc.bouchiat_force(extension, 1000.0, 50.0, KT),
        physics.wlc_force(extension, 1000.0, 50.0, KT),
        rtol=1e-12,
    )
    forces = np.geomspace(1e-3, 100.0, 40)
    back = wlc.bouchiat_force(wlc.bouchiat_extension(forces, 1000.0, 50.0, KT), 1000.0, 50.0, KT)
    np.testing.assert_allclose(back, forces, rtol=1e-9)
    back = wlc.marko_siggia_force(
        wlc.marko_siggia_extension(forces, 1000.0, 50.0, KT), 1000.0, 50.0, KT
    )
    np.testing.assert_allclose(back, forces, rtol=1e-9)
    assert wlc.bouchiat_extension(0.0, 1000.0, 50.0, KT) == 0.0


def test_bouchiat_matches_the_exact_wlc_and_marko_siggia_only_in_its_limits():
    reduced = np.geomspace(0.01, 100.0, 25)  # F·Lp/kT
    exact = exact_relative_extension(reduced)
    bouchiat = wlc.bouchiat_extension(reduced, 1.0, 1.0, 1.0)
    marko_siggia = wlc.marko_siggia_extension(reduced, 1.0, 1.0, 1.0)
    np.testing.assert_allclose(bouchiat, exact, rtol=5e-3)  # its polynomial: ≤ 0.35 % here
    worst = np.max(np.abs(marko_siggia / exact - 1.0))
    assert 0.01 < worst < 0.2  # Marko–Siggia is ~10 % off at intermediate forces
    np.testing.assert_allclose(marko_siggia[:2], exact[:2], rtol=0.01)  # entropic limit
    np.testing.assert_allclose(marko_siggia[-2:], exact[-2:], rtol=0.01)  # high force


@pytest.mark.parametrize(("contour", "persistence"), [(1000.0, 50.0), (3400.0, 45.0)])
def test_fit_recovers_lengths_from_noisy_simulator_data(contour, persistence):
    rng = np.random.default_rng(int(contour))
    clean = physics.wlc_extension(LOW_FORCES, contour, persistence, KT)
    z_lp, z_lc = [], []
    for _ in range(20):
        noisy = clean + 8.0 * rng.standard_normal(clean.size)
        fit = wlc.fit_wlc(LOW_FORCES, noisy, extension_errors_nm=8.0, kt_pN_nm=KT)
        assert fit.persistence_nm == pytest.approx(persistence, rel=0.10)
        assert fit.contour_nm == pytest.approx(contour, rel=0.05)
        z_lp.append((fit.persistence_nm - persistence) / fit.persistence_error_nm)
        z_lc.append((fit.contour_nm - contour) / fit.contour_error_nm)
    assert np.all(np.abs(z_lp) < 3.5) and np.all(np.abs(z_lc) < 3.5)
    assert 0.5 < np.std(z_lp) < 1.6
    unweighted = wlc.fit_wlc(LOW_FORCES, noisy, kt_pN_nm=KT)  # errors from the scatter
    assert unweighted.persistence_error_nm == pytest.approx(fit.persistence_error_nm, rel=0.5)


def test_fit_on_the_exact_wlc_and_marko_siggia_consistency():
    """Data from the exact chain (not the fitted formula): Bouchiat recovers it; Marko–Siggia
    gets the contour length but overestimates Lp by its known ~10–20 %."""
    contour, persistence = 2000.0, 50.0
    extension = contour * exact_relative_extension(LOW_FORCES * persistence / KT)
    noisy = extension + 3.0 * np.random.default_rng(7).standard_normal(extension.size)
    bouchiat = wlc.fit_wlc(LOW_FORCES, noisy, extension_errors_nm=3.0, kt_pN_nm=KT)
    assert bouchiat.persistence_nm == pytest.approx(persistence, rel=0.05)
    assert bouchiat.contour_nm == pytest.approx(contour, rel=0.01)
    assert bouchiat.reduced_chi2 < 2.0
    ms = wlc.fit_wlc(LOW_FORCES, noisy, model="marko_siggia", extension_errors_nm=3.0, kt_pN_nm=KT)
    assert ms.contour_nm == pytest.approx(contour, rel=0.02)
    assert 1.05 < ms.persistence_nm / bouchiat.persistence_nm < 1.25


def test_extensible_odijk_fit_at_high_force():
    rng = np.random.default_rng(3)
    extension = wlc.odijk_extension(HIGH_FORCES, 3000.0, 50.0, 1000.0, KT)
    fit = wlc.fit_wlc(
        HIGH_FORCES,
        extension + 2.0 * rng.standard_normal(extension.size),
        model="odijk",
        extension_errors_nm=2.0,
        kt_pN_nm=KT,
    )
    assert fit.persistence_nm == pytest.approx(50.0, rel=0.10)
    assert fit.contour_nm == pytest.approx(3000.0, rel=0.01)
    assert fit.stretch_modulus_pN == pytest.approx(1000.0, rel=0.15)
    assert abs(fit.stretch_modulus_pN - 1000.0) < 3 * fit.stretch_modulus_error_pN
    # the exact inextensible chain at high force: Odijk's asymptote, no stretching
    exact = 3000.0 * exact_relative_extension(HIGH_FORCES * 50.0 / KT)
    fit = wlc.fit_wlc(HIGH_FORCES, exact, model="odijk", kt_pN_nm=KT)
    assert fit.persistence_nm == pytest.approx(50.0, rel=0.10)
    assert fit.contour_nm == pytest.approx(3000.0, rel=0.01)
    assert fit.stretch_modulus_pN > 2e4


@pytest.mark.parametrize(
    ("forces", "extensions", "kw", "message"),
    [
        (LOW_FORCES, LOW_FORCES[:5], {}, "same length"),
        (-LOW_FORCES, LOW_FORCES, {}, "> 0"),
        (LOW_FORCES[:2], LOW_FORCES[:2], {}, "too few"),
        (LOW_FORCES, LOW_FORCES * np.nan, {}, "finite"),
        (LOW_FORCES, LOW_FORCES, {"model": "freely_jointed"}, "model"),
    ],
)
def test_bad_input_is_named(forces, extensions, kw, message):
    with pytest.raises(ValueError, match=message):
        wlc.fit_wlc(forces, extensions, **kw)
