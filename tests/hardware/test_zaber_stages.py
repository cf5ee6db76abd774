"""Zaber stages against the Zaber ASCII emulator on a pseudo terminal."""

from __future__ import annotations

import os
import sys
import threading
from pathlib import Path

import pytest
from magscope_app.hardware.errors import (
    DeviceNotConnected,
    DeviceRejected,
    DeviceTimeout,
    LimitError,
    ProtocolError,
)
from magscope_app.hardware.serial import open_ports
from magscope_app.hardware.zaber import ZaberLinearStage, ZaberRotaryStage

sys.path.insert(0, str(Path(__file__).parent))
from emulators.zaber import ZaberEmulator

MICROSTEP_MM = 1e-4  # 0.1 µm per microstep in these tests
WAIT = 10.0  # generous deadline (s) for motion to finish; never an assertion on duration


@pytest.fixture(autouse=True)
def no_leaked_ports():
    yield
    assert open_ports() == [], "a test left a serial port open"


@pytest.fixture
def emulator(tmp_path):
    with ZaberEmulator(tmp_path / "zaber", axes=2) as emu:
        yield emu


def make_stage(emu, **kwargs) -> ZaberLinearStage:
    args = dict(port=emu.path, limits=(0.0, 20.0), microstep_mm=MICROSTEP_MM, timeout=2.0)
    return ZaberLinearStage("magnet height", **(args | kwargs))


@pytest.fixture
def stage(emulator):
    with make_stage(emulator) as stage:
        yield stage


def test_move_absolute_and_relative(stage, emulator):
    stage.move_to(5.0)
    assert "move abs 50000" in emulator.commands()
    assert stage.target() == pytest.approx(5.0)
    stage.wait_until_stopped(WAIT)
    assert stage.position() == pytest.approx(5.0)
    stage.move_by(-1.5)
    stage.wait_until_stopped(WAIT)
    assert stage.position() == pytest.approx(3.5)
    assert emulator.position() == 35000


def test_busy_until_stopped(stage, emulator):
    emulator.axes[1].speed = 10.0  # microsteps/s: this move would take hours
    stage.move_to(19.0)
    assert stage.is_moving()
    stage.stop()
    assert not stage.is_moving()
    assert stage.target() == pytest.approx(stage.position())
    assert stage.position() < 19.0


def test_state_snapshot(stage):
    stage.move_to(2.0)
    stage.wait_until_stopped(WAIT)
    state = stage.state()
    assert (state.position, state.target, state.moving) == (pytest.approx(2.0), 2.0, False)


def test_limit_refused_before_anything_is_sent(stage, emulator):
    emulator.clear()
    with pytest.raises(LimitError, match="upper limit"):
        stage.move_to(20.5)
    with pytest.raises(LimitError, match="lower limit"):
        stage.move_by(-1.0)
    stage.position()  # a round trip, so anything sent before it has arrived
    assert emulator.commands() == ["get pos"]


def test_rejected_command_gives_the_reason(stage, emulator):
    emulator.inject("reject", "move", "STATUSBUSY")
    with pytest.raises(DeviceRejected, match="STATUSBUSY"):
        stage.move_to(1.0)
    assert stage.target() == 0.0, "a refused move must not change the target"


def test_device_refuses_a_move_beyond_its_travel(emulator):
    emulator.limit_max = 1000  # 0.1 mm of travel, inside the soft limits of 20 mm
    with make_stage(emulator) as stage, pytest.raises(DeviceRejected, match="BADDATA"):
        stage.move_to(1.0)


def test_unknown_command_is_rejected(stage):
    with pytest.raises(DeviceRejected, match="BADCOMMAND"):
        stage._command("fly away")


def test_garbled_reply_is_a_protocol_error_and_the_next_command_works(stage, emulator):
    emulator.inject("garble", "get pos")
    with pytest.raises(ProtocolError, match="reply to"):
        stage.position()
    assert stage.position() == 0.0


def test_silence_is_a_timeout_and_the_next_command_works(emulator):
    with make_stage(emulator, timeout=0.3) as stage:
        emulator.inject("silence", "get pos")
        with pytest.raises(DeviceTimeout, match="did not answer"):
            stage.position()
        stage.move_to(1.0)
        stage.wait_until_stopped(WAIT)
        assert stage.position() == pytest.approx(1.0)


def test_a_late_reply_is_not_taken_for_the_reply_to_the_next_command(emulator):
    with make_stage(emulator, timeout=0.2) as stage:
        emulator.inject("delay", "get pos", 0.4)
        with pytest.raises(DeviceTimeout):
            stage.position()
        # the late "get pos" reply (old id) may arrive while this waits: it must be skipped
        reply = stage._protocol.command(1, "get maxspeed", timeout=WAIT)
        assert int(reply.data) > 0


def test_reply_with_another_message_id_is_a_protocol_error(stage, emulator):
    emulator.inject("wrong_id", "get pos")
    with pytest.raises(ProtocolError, match="does not match"):
        stage.position()


def test_without_message_ids(emulator):
    with make_stage(emulator, message_ids=False) as stage:
        stage.move_to(1.0)
        assert "move abs 10000" in emulator.commands()


@pytest.fixture
def checksum_emulator(tmp_path):
    with ZaberEmulator(tmp_path / "zaber-cs", checksums=True) as emu:
        yield emu


def test_checksums_both_ways(checksum_emulator):
    # the emulator ignores commands with a wrong checksum, so a wrong one would time out here
    with make_stage(checksum_emulator, checksum=True) as stage:
        stage.move_to(1.0)
        stage.wait_until_stopped(WAIT)
        assert stage.position() == pytest.approx(1.0)


def test_reply_with_bad_checksum_is_a_protocol_error(checksum_emulator):
    with make_stage(checksum_emulator, checksum=True) as stage:
        checksum_emulator.inject("bad_checksum", "get pos")
        with pytest.raises(ProtocolError, match="checksum"):
            stage.position()


def test_alerts_are_kept_and_the_reply_still_found(stage, emulator):
    emulator.inject("alert_first", "get pos")
    assert stage.position() == 0.0
    assert [a.status for a in stage._protocol.alerts] == ["IDLE"]


def test_warning_flags_and_homing(stage, emulator):
    emulator.warning_flags[1] = ["WR"]
    assert stage.warnings() == ["WR"]
    assert stage.get_setting("warning") == "WR (no reference position)"
    stage.move_to(1.0)
    stage.wait_until_stopped(WAIT)
    stage.home()
    assert stage.target() == 0.0
    stage.wait_until_stopped(WAIT)
    assert stage.position() == 0.0
    assert stage.warnings() == []
    assert stage.get_setting("warning") == "none"


def test_speed_and_acceleration_settings(stage, emulator):
    names = [s.name for s in stage.settings()]
    assert {"speed", "acceleration", "lower_limit", "upper_limit"} <= set(names)
    stage.set_setting("speed", 2.0)  # mm/s = 20000 microsteps/s
    assert emulator.axes[1].speed == pytest.approx(20000, rel=1e-4)
    assert stage.get_setting("speed") == pytest.approx(2.0, rel=1e-4)
    stage.set_setting("acceleration", 50.0)
    assert stage.get_setting("acceleration") == pytest.approx(50.0, rel=1e-3)
    described = stage.describe()
    assert described["kind"] == "linear_motor"
    assert {s["name"]: s["unit"] for s in described["settings"]}["speed"] == "mm/s"


def test_rotary_stage_in_turns(emulator):
    rotary = ZaberRotaryStage(
        "magnet rotation", port=emulator.path, limits=(-10, 10), microsteps_per_turn=1000
    )
    with rotary:
        rotary.move_to(2.5)
        assert "move abs 2500" in emulator.commands()
        rotary.wait_until_stopped(WAIT)
        assert rotary.position() == pytest.approx(2.5)
        assert rotary.kind == "rotary_motor" and rotary.unit == "turns"


def test_two_axes_share_one_port(emulator):
    height = make_stage(emulator, axis=1)
    rotation = ZaberRotaryStage(
        "rotation", port=emulator.path, limits=(0, 100), microsteps_per_turn=1000, axis=2
    )
    with height, rotation:
        assert height._connection is rotation._connection
        errors: list[BaseException] = []

        def spin():
            try:
                for turns in range(1, 30):
                    rotation.move_to(float(turns))
                    rotation.position()
            except BaseException as exc:
                errors.append(exc)

        thread = threading.Thread(target=spin)
        thread.start()
        for step in range(1, 30):
            height.move_to(step / 10)
            height.position()
        thread.join()
        assert errors == []
        height.wait_until_stopped(WAIT)
        rotation.wait_until_stopped(WAIT)
        assert emulator.position(1) == 29000
        assert emulator.position(2) == 29000


def test_reconnects_after_the_adapter_is_replugged(stage, emulator):
    stage.move_to(1.0)
    stage.wait_until_stopped(WAIT)
    emulator.unplug()
    emulator.replug()
    assert stage.position() == pytest.approx(1.0)
    assert stage._connection.reconnects == 1


def test_port_that_does_not_come_back_is_not_connected(emulator):
    with make_stage(emulator, reconnect_timeout=0.3) as stage:
        emulator.unplug()
        with pytest.raises(DeviceNotConnected, match=emulator.path):
            stage.position()


def test_methods_before_open_raise_not_connected(emulator):
    stage = make_stage(emulator)
    with pytest.raises(DeviceNotConnected, match="not open"):
        stage.position()


def test_constructor_checks(emulator):
    with pytest.raises(ValueError):
        make_stage(emulator, microstep_mm=0.0)
    with pytest.raises(ValueError):
        make_stage(emulator, axis=0)
    with pytest.raises(TypeError):
        ZaberLinearStage("x", port=emulator.path, limits=(0, 1))  # microstep size is required


# -- real hardware (opt-in) -------------------------------------------------------------------
@pytest.mark.hardware
@pytest.mark.skipif(
    not os.environ.get("MAGSCOPE_ZABER_PORT"), reason="set MAGSCOPE_ZABER_PORT to test a device"
)
def test_real_zaber_device_answers():
    """Read-only: opens the device, reads position, status and settings; moves nothing."""
    stage = ZaberLinearStage(
        "real zaber",
        port=os.environ["MAGSCOPE_ZABER_PORT"],
        limits=(-1e6, 1e6),
        microstep_mm=float(os.environ.get("MAGSCOPE_ZABER_MICROSTEP_MM", "4.7625e-5")),
        device_address=int(os.environ.get("MAGSCOPE_ZABER_DEVICE", "1")),
    )
    with stage:
        assert isinstance(stage.position(), float)
        assert isinstance(stage.is_moving(), bool)
        assert stage.get_setting("speed") > 0
