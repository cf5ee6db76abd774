"""Simulated motors and the world control block (in-process and across real processes)."""

from __future__ import annotations

import multiprocessing

import numpy as np
import pytest
from magscope_app.hardware import HardwareError, LimitError, SettingError
from magscope_app.hardware.simulated import (
    AxisMotion,
    LocalWorldControl,
    SimulatedCamera,
    SimulatedFocus,
    SimulatedMagnetHeight,
    SimulatedMagnetRotation,
    SimulatedStageX,
    SimulatedStageY,
    WorldControl,
    segment_name,
)


def test_kinds_units_and_defaults():
    control = LocalWorldControl()
    height = SimulatedMagnetHeight(control=control)
    rotation = SimulatedMagnetRotation(control=control)
    focus = SimulatedFocus(control=control)
    assert (height.kind, height.unit, height.name) == ("linear_motor", "mm", "magnet_height")
    assert (rotation.kind, rotation.unit) == ("rotary_motor", "turns")
    assert (focus.kind, focus.unit) == ("focus_stage", "nm")
    assert height.position() == height.limits[1]  # starts at home: magnets far away
    unwritten = {"stage_x": None, "stage_y": None}  # no XY stage attached
    assert control.positions() == {
        "magnet_height": 20.0, "magnet_rotation": 0.0, "focus": 0.0, **unwritten
    }  # fmt: skip
    stage = SimulatedStageX(control=control), SimulatedStageY(control=control)
    assert [(a.kind, a.unit, a.name) for a in stage] == [
        ("lateral_stage", "µm", "stage_x"), ("lateral_stage", "µm", "stage_y")
    ]  # fmt: skip
    assert control.position("stage_x") == 0.0 and control.position("stage_y") == 0.0


def test_move_outside_limits_is_refused_before_moving():
    motor = SimulatedMagnetHeight(limits=(1.0, 10.0), position=5.0)
    for bad in (0.5, 10.5, float("nan"), "3", True):
        with pytest.raises(LimitError):
            motor.move_to(bad)
        assert motor.position() == 5.0 and motor.target() == 5.0 and not motor.is_moving()
    with pytest.raises(LimitError):
        motor.move_by(6.0)
    assert motor.position() == 5.0


def test_move_reaches_its_target_and_publishes_to_the_world():
    control = LocalWorldControl()
    motor = SimulatedFocus(control=control, speed=1e6)
    motor.move_to(1234.0)
    assert motor.target() == 1234.0
    motor.wait_until_stopped(timeout=10.0)
    assert not motor.is_moving()
    assert motor.position() == 1234.0
    assert control.position("focus") == 1234.0


def test_stop_halts_between_start_and_target():
    motor = SimulatedMagnetRotation(speed=0.5, position=0.0)
    motor.move_to(50.0)  # 100 s at 0.5 turns/s
    assert motor.is_moving()
    motor.stop()
    stopped = motor.position()
    assert not motor.is_moving()
    assert 0.0 <= stopped < 50.0
    assert motor.target() == stopped


def test_home_and_speed_setting():
    motor = SimulatedMagnetHeight(position=2.0, speed=100.0)
    motor.home()
    assert motor.target() == motor.limits[1]
    motor.wait_until_stopped(timeout=10.0)
    assert motor.position() == motor.limits[1]
    with pytest.raises(SettingError):
        motor.set_setting("speed", -1.0)
    motor.set_setting("speed", 5.0)
    assert motor.get_setting("speed") == 5.0
    assert {s["name"] for s in motor.describe()["settings"]} >= {"speed", "lower_limit"}


def test_axis_motion_positions():
    motion = AxisMotion(start=0.0, target=10.0, speed=2.0, start_time=100.0)
    assert motion.position(99.0) == 0.0
    assert motion.position(102.5) == pytest.approx(5.0)
    assert motion.position(200.0) == 10.0
    assert motion.is_moving(104.9) and not motion.is_moving(105.0)
    back = AxisMotion(start=10.0, target=4.0, speed=3.0, start_time=0.0)
    assert back.position(1.0) == pytest.approx(7.0)


def test_camera_sees_the_magnets_in_process():
    control = LocalWorldControl()
    camera = SimulatedCamera(width=128, height=128, n_beads=2, control=control)
    magnets = SimulatedMagnetHeight(control=control, speed=100.0)
    before = camera.truth_for(camera.render_next().number)
    magnets.move_to(1.0)
    magnets.wait_until_stopped(timeout=10.0)
    camera.stop()  # restart the schedule: the next frame is taken now, after the move
    after = camera.truth_for(camera.render_next().number)
    assert after.magnet_height_mm == 1.0
    assert np.all(after.force_pN[:2] > 100 * before.force_pN[:2])
    camera.close()


def test_world_control_block_lifecycle(instance_name):
    with pytest.raises(HardwareError, match="not found"):
        WorldControl.attach(instance_name)
    block = WorldControl.create(instance_name)
    try:
        assert block.name == segment_name(instance_name)
        other = WorldControl.attach(instance_name)
        other.set_position("magnet_rotation", 3.5)
        assert block.position("magnet_rotation") == 3.5
        assert block.position("focus") is None  # never written
        other.close()
        other.close()  # idempotent
        with pytest.raises(FileExistsError):
            WorldControl.create(instance_name)
    finally:
        block.unlink()
    block.unlink()  # idempotent


def _move_focus_in_child(instance: str, target: float, done) -> None:
    """Runs in a spawn child: attach a simulated focus to the daemon's world and move it."""
    focus = SimulatedFocus("focus", instance, speed=1e7)
    focus.move_to(target)
    focus.wait_until_stopped(timeout=10.0)
    focus.close()
    done.send(focus.instance)
    done.close()


def test_world_is_shared_across_processes(instance_name):
    block = WorldControl.create(instance_name)
    camera = None
    process = None
    try:
        camera = SimulatedCamera("camera", instance_name, width=128, height=128, n_beads=2)
        assert camera.truth_for(camera.render_next().number).focus_nm == 0.0  # default
        context = multiprocessing.get_context("spawn")
        receiver, sender = context.Pipe(duplex=False)
        process = context.Process(target=_move_focus_in_child, args=(instance_name, 1500.0, sender))
        process.start()
        sender.close()
        assert receiver.poll(60.0), "child did not finish"
        assert receiver.recv() == instance_name
        process.join(30.0)
        assert process.exitcode == 0
        camera.stop()
        truth = camera.truth_for(camera.render_next().number)
        assert truth.focus_nm == 1500.0
        np.testing.assert_allclose(truth.z_rel_nm, truth.z_nm - 1500.0)
    finally:
        if process is not None and process.is_alive():
            process.kill()
            process.join()
        if camera is not None:
            camera.close()
        block.unlink()
