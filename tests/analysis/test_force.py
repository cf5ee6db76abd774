"""Force calibration from Brownian motion: exact blur/aliasing models, unbiased forces 0.1–20 pN.

Traces come from the simulated microscope's physics and from an independent fine-step Langevin
integration (tests/analysis/_force_traces.py), so the check is not circular.
"""

from __future__ import annotations

import numpy as np
import pytest
from _force_traces import bead_trap, brute_force_traces, simulator_traces

from magscope_app.analysis import force as fo
from magscope_app.analysis import force_models as fm

GENERATORS = {"simulator": simulator_traces, "brute_force": brute_force_traces}

# force pN, extension nm, bead radius nm, geometry, frame rate Hz, exposure s, frames
SCENARIOS = {
    "0.1pN_long_100fps": (0.1, 650.0, 500.0, "long", 100.0, 0.005, 50_000),
    "1pN_short_200fps": (1.0, 3000.0, 1400.0, "short", 200.0, 0.005, 20_000),
    "5pN_short_fc_above_nyquist": (5.0, 900.0, 500.0, "short", 100.0, 0.01, 20_000),
    "20pN_long_100fps": (20.0, 3900.0, 1000.0, "long", 100.0, 0.01, 20_000),
    "20pN_short_1000fps": (20.0, 950.0, 500.0, "short", 1000.0, 0.001, 20_000),
}


def test_exact_spectrum_is_the_alias_sum_of_the_blurred_lorentzian():
    variance, tau, rate, exposure = 100.0, 0.003, 200.0, 0.004
    f = np.linspace(1.0, 99.0, 9)
    aliases = f[:, None] + np.arange(-20_000, 20_001) * rate
    summed = (fm.lorentzian_psd(aliases, variance, tau) * np.sinc(aliases * exposure) ** 2).sum(1)
    np.testing.assert_allclose(fm.exposure_psd(f, variance, tau, rate, exposure), summed, rtol=1e-6)
    # its integral is the blurred variance C(0)
    grid = np.linspace(0.0, rate / 2, 200_001)
    area = np.trapezoid(fm.exposure_psd(grid, variance, tau, rate, exposure), grid)
    assert area == pytest.approx(
        float(fm.exposure_autocovariance(0, variance, tau, rate, exposure))
    )


def test_exact_allan_variance_matches_its_definition_from_the_autocovariance():
    variance, tau, rate, exposure = 50.0, 0.02, 100.0, 0.01
    sizes = np.array([1, 2, 3, 8, 21])
    expected = []
    for m in sizes:
        i = np.arange(m)
        lag_in = i[:, None] - i[None, :]
        within = fm.exposure_autocovariance(lag_in, variance, tau, rate, exposure).sum()
        across = fm.exposure_autocovariance(m - lag_in, variance, tau, rate, exposure).sum()
        expected.append((within - across) / m**2)
    np.testing.assert_allclose(
        fm.exposure_allan_variance(sizes, variance, tau, rate, exposure), expected, rtol=1e-10
    )


@pytest.mark.parametrize("alpha_beta", [(0.5, 1.0), (3.0, 3.0), (0.05, 0.2)])
def test_simulator_frames_have_the_exact_blurred_and_aliased_statistics(alpha_beta):
    """The simulated microscope's exposure draw is exact: its frames and brute-force frames both
    have the autocovariance of the model (lags 0–3), the model the calibration fits."""
    alpha, beta = alpha_beta
    tau, rate = 0.01, 1.0 / (beta * 0.01)
    exposure = alpha * tau
    rng = np.random.default_rng(11)
    expected = fm.exposure_autocovariance(np.arange(4), 1.0, tau, rate, exposure)
    for generate in GENERATORS.values():
        frames = generate(20, 5000, 1.0, tau, rate, exposure, rng)
        frames = frames - frames.mean(axis=1, keepdims=True)
        measured = [np.mean(frames[:, : 5000 - j] * frames[:, j:]) for j in range(4)]
        np.testing.assert_allclose(measured, expected, atol=0.02)


@pytest.mark.parametrize("generator", sorted(GENERATORS))
@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_calibrated_force_within_10_percent_from_0p1_to_20_pN(scenario, generator):
    force, extension, radius, geometry, rate, exposure, n = SCENARIOS[scenario]
    variance, tau = bead_trap(force, extension, radius, geometry)
    rng = np.random.default_rng(sorted(SCENARIOS).index(scenario) * 2 + (generator == "simulator"))
    traces = GENERATORS[generator](2, n, variance, tau, rate, exposure, rng)
    for trace in traces:
        for method in (fo.calibrate_spectrum, fo.calibrate_allan):
            result = method(trace, rate, exposure, extension, radius, geometry)
            assert result.force_pN == pytest.approx(force, rel=0.10), (method.__name__, result)
            assert result.force_error_pN < 0.05 * force
            assert result.corner_over_frame_rate == pytest.approx(
                1.0 / (2 * np.pi * tau * rate), rel=0.3
            )
            assert result.corner_above_nyquist == (1.0 / (2 * np.pi * tau) > rate / 2)
            assert result.geometry == geometry and result.n_frames == n
        fixed = fo.calibrate_spectrum(
            trace, rate, exposure, extension, radius, geometry, drag="faxen"
        )
        assert fixed.force_pN == pytest.approx(force, rel=0.10)


@pytest.mark.parametrize(
    ("method", "n_traces", "min_coverage"),
    [(fo.calibrate_spectrum, 120, 2.0 / 3.0), (fo.calibrate_allan, 60, 0.58)],
)
def test_reported_sigma_covers_the_error_in_two_thirds_of_traces(method, n_traces, min_coverage):
    """Many short traces of a bead whose corner is at 0.22 fs, half of them brute force.

    An exact 1σ covers 68 % of errors; the Allan fit's bound leaves room for the sampling
    scatter of 60 traces (±6 %), its σ is checked by the spread of the normalised errors.
    """
    force, extension, radius, geometry, rate, exposure = 3.0, 1500.0, 500.0, "long", 100.0, 0.01
    variance, tau = bead_trap(force, extension, radius, geometry)
    rng = np.random.default_rng(5)
    half = n_traces // 2
    traces = np.concatenate(
        [
            simulator_traces(half, 4000, variance, tau, rate, exposure, rng),
            brute_force_traces(half, 4000, variance, tau, rate, exposure, rng),
        ]
    )
    z = []
    for trace in traces:
        result = method(trace, rate, exposure, extension, radius, geometry)
        z.append((result.force_pN - force) / result.force_error_pN)
    z = np.array(z)
    assert np.mean(np.abs(z) <= 1.0) >= min_coverage
    assert 0.8 < np.std(z) < 1.25
    assert abs(np.mean(z)) < 3.0 / np.sqrt(n_traces)  # unbiased


def test_plain_lorentzian_and_equipartition_are_biased_near_the_frame_rate_ours_is_not():
    rng = np.random.default_rng(8)
    extension, radius, geometry = 900.0, 500.0, "short"

    def mean_forces(force, rate, exposure):
        variance, tau = bead_trap(force, extension, radius, geometry)
        traces = brute_force_traces(3, 20_000, variance, tau, rate, exposure, rng)
        args = (extension, radius, geometry)
        return {
            "spectrum": np.mean(
                [fo.calibrate_spectrum(t, rate, exposure, *args).force_pN for t in traces]
            ),
            "allan": np.mean(
                [fo.calibrate_allan(t, rate, exposure, *args).force_pN for t in traces]
            ),
            "lorentzian": np.mean(
                [fo.calibrate_lorentzian(t, rate, *args).force_pN for t in traces]
            ),
            "equipartition": np.mean(
                [fo.calibrate_equipartition(t, rate, *args).force_pN for t in traces]
            ),
        }

    # corner far below the frame rate, short exposure: every method agrees
    slow = mean_forces(0.3, 100.0, 0.001)  # fc ≈ 1.4 Hz
    for name, value in slow.items():
        assert value == pytest.approx(0.3, rel=0.08), name
    # corner at 0.75 × the frame rate, exposure = frame interval
    fast = mean_forces(5.0, 100.0, 0.01)
    assert fast["spectrum"] == pytest.approx(5.0, rel=0.05)
    assert fast["allan"] == pytest.approx(5.0, rel=0.05)
    assert fast["lorentzian"] > 1.25 * 5.0
    assert fast["equipartition"] > 2.0 * 5.0


def test_fixed_faxen_drag_is_more_precise_where_the_corner_is_fast():
    force, extension, radius, geometry, rate, exposure = 5.0, 900.0, 500.0, "short", 100.0, 0.01
    variance, tau = bead_trap(force, extension, radius, geometry)
    trace = simulator_traces(1, 10_000, variance, tau, rate, exposure, np.random.default_rng(2))[0]
    free = fo.calibrate_spectrum(trace, rate, exposure, extension, radius, geometry)
    fixed = fo.calibrate_spectrum(trace, rate, exposure, extension, radius, geometry, drag="faxen")
    assert fixed.force_error_pN < 0.5 * free.force_error_pN
    assert fixed.drag_pN_s_per_nm == pytest.approx(fo.bead_drag(radius, extension))
    assert fixed.force_pN == pytest.approx(force, rel=0.05)


def test_free_drag_fit_admits_it_cannot_separate_k_and_drag_when_frames_are_independent():
    """fc ≈ 3 fs with a short exposure: the frames are independent and only the blurred
    variance is measured. The free fit says so (infinite error); the fixed drag still works."""
    force, extension, radius, geometry, rate, exposure = 20.0, 950.0, 500.0, "short", 100.0, 0.002
    variance, tau = bead_trap(force, extension, radius, geometry)
    trace = simulator_traces(1, 10_000, variance, tau, rate, exposure, np.random.default_rng(3))[0]
    args = (trace, rate, exposure, extension, radius, geometry)
    free = fo.calibrate_spectrum(*args)
    assert free.corner_above_nyquist and not free.force_error_pN < 0.5 * force
    fixed = fo.calibrate_spectrum(*args, drag="faxen")
    assert fixed.force_pN == pytest.approx(force, rel=0.05) and fixed.force_error_pN < 0.02 * force
    assert fixed.corner_over_frame_rate == pytest.approx(1.0 / (2 * np.pi * tau * rate), rel=0.05)


def test_short_and_long_pendulum_lever_arms():
    assert fo.pendulum_length(1000.0, 500.0, "short") == 1000.0
    assert fo.pendulum_length(1000.0, 500.0, "long") == 1500.0
    with pytest.raises(ValueError, match="geometry"):
        fo.pendulum_length(1000.0, 500.0, "x")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"positions": np.full(1000, np.nan)}, "NaN"),
        ({"positions": np.zeros(10)}, "64 frames"),
        ({"positions": np.zeros(1000)}, "do not move"),
        ({"exposure_s": 0.02}, "exposure_s"),
        ({"frame_rate_hz": 0.0}, "frame_rate_hz"),
        ({"extension_nm": -5.0}, "extension_nm"),
        ({"drag": "glue"}, "drag"),
    ],
)
def test_bad_input_is_named(change, message):
    arguments = {
        "positions": np.random.default_rng(0).standard_normal(1000),
        "frame_rate_hz": 100.0,
        "exposure_s": 0.005,
        "extension_nm": 1000.0,
        "bead_radius_nm": 500.0,
        "geometry": "long",
    }
    arguments.update(change)
    with pytest.raises(ValueError, match=message):
        fo.calibrate_spectrum(**arguments)
