"""The locks' pure control logic: the Z-lock's PI controller against a simulated focus plant with
a drift, the XY-lock's choice of ROIs to re-centre, and its XY stage steps against a sample plant
drifting on a curved path with measurement noise."""

from __future__ import annotations

import math

import numpy as np
import pytest

from magscope_app.services._pid import ZController, ZLockParams, recentre_moves, stage_step


def _run_plant(
    params: ZLockParams,
    drift_nm_per_s: float,
    seconds: float,
    noise_nm: float,
    period_s: float = 0.1,
    seed: int = 0,
) -> tuple[np.ndarray, ZController]:
    """Closed loop: tracked z = true z − focus + drift·t (+ noise); returns the true errors."""
    rng = np.random.default_rng(seed)
    controller = ZController(0.0, params)
    focus, errors = 0.0, []
    for k in range(int(seconds / period_s)):
        t = k * period_s
        true_z = drift_nm_per_s * t - focus
        decision = controller.update(true_z + noise_nm * rng.standard_normal(), t)
        assert decision.unlock is None
        focus += decision.move_nm  # raising the focus lowers the tracked z
        errors.append(true_z)
    return np.asarray(errors), controller


def test_pi_cancels_a_constant_drift():
    errors, controller = _run_plant(ZLockParams(), drift_nm_per_s=10.0, seconds=30.0, noise_nm=2.0)
    settled = errors[50:]
    assert np.sqrt(np.mean(settled**2)) < 3.0
    assert abs(np.mean(settled)) < 1.0, "the integral removes the lag of a ramp"
    assert controller.offset_nm == pytest.approx(10.0 * 30.0, abs=20.0)


def test_proportional_only_lags_a_ramp():
    errors, _ = _run_plant(ZLockParams(ki=0.0), drift_nm_per_s=10.0, seconds=10.0, noise_nm=0.0)
    # steady error of P control on a ramp: drift per period / kp
    assert np.mean(errors[50:]) == pytest.approx(10.0 * 0.1 / 0.7, rel=0.05)


def test_deadband_max_step_and_locked():
    params = ZLockParams(deadband_nm=3.0, max_step_nm=20.0, locked_nm=5.0)
    c = ZController(100.0, params)
    small = c.update(102.0, 0.0)
    assert small.move_nm == 0.0 and small.locked and small.error_nm == pytest.approx(2.0)
    big = c.update(500.0, 0.1)
    assert big.move_nm == pytest.approx(20.0) and not big.locked
    down = c.update(-500.0, 0.2)
    assert down.move_nm == pytest.approx(-20.0)
    assert c.update(math.nan, 0.3).move_nm == 0.0


def test_excursion_lets_go_without_moving():
    c = ZController(0.0, ZLockParams(ki=0.0, kp=1.0, max_step_nm=50.0, max_excursion_nm=120.0))
    assert c.update(50.0, 0.0).move_nm == 50.0
    assert c.update(50.0, 0.1).move_nm == 50.0
    decision = c.update(50.0, 0.2)
    assert decision.move_nm == 0.0 and decision.unlock and "120" in decision.unlock
    assert c.offset_nm == 100.0


def test_bad_parameters_are_named():
    assert "kp" in ZLockParams(kp=0.0).problem()
    assert "max_step_nm" in ZLockParams(max_step_nm=0.0).problem()
    assert "min_frames" in ZLockParams(min_frames=0).problem()
    assert ZLockParams().problem() is None


def test_recentre_moves_threshold_and_rate_limit():
    centres = {0: (50.0, 50.0), 1: (80.0, 80.0), 2: (10.0, 10.0)}
    tracked = {0: (50.6, 50.0), 1: (81.5, 80.2), 2: (12.0, 10.0), 3: (5.0, 5.0)}
    moves = recentre_moves(centres, tracked, {2: 9.5}, 10.0, threshold_px=1.0, min_interval_s=1.0)
    assert moves == {1: (81.5, 80.2)}  # 0 within the threshold, 2 moved 0.5 s ago, 3 unknown
    later = recentre_moves(centres, tracked, {2: 9.5}, 11.0, threshold_px=1.0, min_interval_s=1.0)
    assert set(later) == {1, 2}
    assert (
        recentre_moves(centres, {0: (math.nan, 1.0)}, {}, 0.0, threshold_px=1.0, min_interval_s=0.0)
        == {}
    )


def test_stage_step_deadband_limit_and_direction():
    assert stage_step((12.0, -15.0), 20.0, 5.0) is None  # |error| 19.2 nm < 20 nm
    assert stage_step((float("nan"), 0.0), 20.0, 5.0) is None
    assert stage_step((300.0, -400.0), 20.0, 5.0) == pytest.approx((-0.3, 0.4))
    assert stage_step((30_000.0, 40_000.0), 20.0, 5.0) == pytest.approx((-3.0, -4.0))  # 5 µm


def test_stage_steps_hold_a_sample_drifting_on_a_curve():
    """Plant: the sample drifts along a circle (~300 nm/s) plus a random walk; each update sees the
    offset through 5 nm of noise; the stage's moves add up against the drift."""
    rng = np.random.default_rng(3)
    stage = np.zeros(2)  # µm
    walk = np.zeros(2)
    offsets, travel = [], 0.0
    for k in range(600):  # 0.2 s a step: 2 minutes
        t = 0.2 * k
        walk += rng.normal(0.0, 2.0, 2)
        drift = 3000.0 * np.array([np.sin(t / 10.0), 1.0 - np.cos(t / 10.0)]) + walk  # nm
        offset = drift + 1000.0 * stage
        offsets.append(offset)
        step = stage_step(offset + rng.normal(0.0, 5.0, 2), 20.0, 5.0)
        if step is not None:
            stage += step
            travel = max(travel, float(np.hypot(*stage)))
    offsets = np.array(offsets)
    assert travel > 5.0  # the stage went far …
    assert np.hypot(*offsets.T).max() < 100.0  # … and the sample stayed within 1 px
