"""The calibration result carries its power spectrum for a plot: a few log-spaced bins of the
periodogram, the fitted model with exposure blur and aliasing, and the plain Lorentzian; on an
Ornstein–Uhlenbeck trace made here (not by the simulator)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from magscope_app.services import _force_traces as traces

from .test_force_pure import KT, _blurred_ou, _rows


def test_calibration_result_has_a_small_spectrum_that_its_model_follows():
    rng = np.random.default_rng(5)
    rate, exposure, n = 100.0, 0.005, 4000
    force, extension, radius, drag = 3.0, 800.0, 500.0, 1.2e-5
    k_x, k_y = force / extension, force / (extension + radius)
    x = _blurred_ou(n, rate, exposure, KT / k_x, drag / k_x, rng)
    y = _blurred_ou(n, rate, exposure, KT / k_y, drag / k_y, rng)
    trace = traces.bead_trace(_rows(np.arange(n, dtype=float), x, y, np.full(n, 900.0)), 0)
    result = traces.calibrate_bead(
        trace, surface_z_nm=100.0, exposure_s=exposure, axis="xy", method="both", drag="free",
        bead_radius_nm=radius, kt_pN_nm=KT, viscosity_pN_s_per_nm2=1e-9,
    )  # fmt: skip
    assert set(result["spectra"]) == {"x", "y"}
    assert len(json.dumps(result["spectra"])) < 12_000, "small enough for every reply"
    for spectrum in result["spectra"].values():
        f, psd, model, lorentz = (np.array(spectrum[k]) for k in
                                  ("frequency_hz", "psd", "model", "lorentzian"))  # fmt: skip
        assert 30 <= f.size <= 60 and psd.size == model.size == lorentz.size == f.size
        assert np.all(np.diff(f) > 0) and f[0] > 0 and f[-1] <= rate / 2
        ratio = psd / model
        assert np.median(ratio) == pytest.approx(1.0, abs=0.15)
        upper = ratio[-15:]  # bins of many periodogram points each: little scatter
        assert np.all((upper > 0.75) & (upper < 1.33)), ratio
        # near the Nyquist frequency aliasing lifts the data above the plain Lorentzian
        assert model[-1] > 1.3 * lorentz[-1]
        assert np.median(psd[-5:] / lorentz[-5:]) > 1.2
