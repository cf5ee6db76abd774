"""PI GCS protocol and the PI focus stage against the E-709-like emulator on a pseudo terminal."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
from magscope_app.hardware.errors import (
    DeviceNotConnected,
    DeviceRejected,
    DeviceTimeout,
    LimitError,
    ProtocolError,
)
from magscope_app.hardware.pi import GCSProtocol, PIFocusStage, describe_error, parse_axis_values
from magscope_app.hardware.serial import connect, open_ports, release

sys.path.insert(0, str(Path(__file__).parent))
from emulators.pi import IDN, PIEmulator

WAIT = 10.0  # generous deadline (s) for motion to settle; never an assertion on duration


@pytest.fixture(autouse=True)
def no_leaked_ports():
    yield
    assert open_ports() == [], "a test left a serial port open"


@pytest.fixture
def emulator(tmp_path):
    with PIEmulator(tmp_path / "pi") as emu:
        yield emu


def make_stage(emu, **kwargs) -> PIFocusStage:
    args = dict(port=emu.path, limits=(0.0, 100_000.0), timeout=2.0)
    return PIFocusStage("focus", **(args | kwargs))


@pytest.fixture
def stage(emulator):
    with make_stage(emulator) as stage:
        yield stage


# -- protocol ---------------------------------------------------------------------------------
@pytest.fixture
def gcs(tmp_path):
    with PIEmulator(tmp_path / "pi2", axes=("1", "2")) as emu:
        conn = connect(emu.path, baudrate=115200, timeout=2.0)
        try:
            yield GCSProtocol(conn, timeout=0.5), emu
        finally:
            release(conn)


def test_multi_line_reply(gcs):
    protocol, _ = gcs
    assert protocol.query("TMX?") == ["1=100.000000", "2=100.000000"]
    assert protocol.query_axes("POS?") == {"1": "10.000000", "2": "10.000000"}


def test_command_errors_are_read_with_err(gcs):
    protocol, emu = gcs
    protocol.command("SVO 2 1")
    assert emu.servo["2"] and not emu.servo["1"]
    with pytest.raises(DeviceRejected, match=r"PI error 5: .*servo off"):
        protocol.command("MOV 1 5")
    with pytest.raises(DeviceRejected, match="PI error 2: unknown command"):
        protocol.command("FLY 1 5")
    assert protocol.error_code() == 0, "ERR? must have cleared the error"


def test_query_that_the_controller_refuses(gcs):
    protocol, _ = gcs
    with pytest.raises(DeviceRejected, match="PI error 15: invalid axis identifier"):
        protocol.query("POS? 9")


def test_parse_axis_values_rejects_garbage():
    assert parse_axis_values(["A=1", "B = 2"]) == {"A": "1", "B": "2"}
    for bad in (["1"], ["=2"], ["1="]):
        with pytest.raises(ProtocolError):
            parse_axis_values(bad)


def test_error_descriptions():
    assert describe_error(7) == "PI error 7: position out of limits"
    assert describe_error(4711) == "PI error 4711"


def test_commands_are_single_lines(gcs):
    protocol, emu = gcs
    with pytest.raises(ValueError):
        protocol.command("MOV 1 5\nSVO 1 0")
    assert "MOV 1 5" not in emu.commands()


# -- the stage --------------------------------------------------------------------------------
def test_open_identifies_and_switches_the_servo_on(stage, emulator):
    assert emulator.servo["1"]
    assert stage.identification == IDN
    assert stage.get_setting("identification") == IDN
    assert stage.target() == pytest.approx(10_000.0)  # the emulator starts at 10 µm
    assert emulator.commands()[:3] == ["*IDN?", "SVO 1 1", "ERR?"]


def test_move_in_nm_is_sent_in_um_and_settles(stage, emulator):
    emulator.clear()
    stage.move_to(50_000.0)
    assert emulator.commands() == ["MOV 1 50.000000", "ERR?"]
    assert stage.target() == 50_000.0
    stage.wait_until_stopped(WAIT)
    assert stage.on_target()
    assert stage.position() == pytest.approx(50_000.0)
    stage.move_by(-250.0)
    stage.wait_until_stopped(WAIT)
    assert stage.position() == pytest.approx(49_750.0)


def test_moving_until_on_target_and_stop(stage, emulator):
    emulator.axes["1"].speed = 0.001  # µm/s: this move would take a day
    stage.move_to(90_000.0)
    assert stage.is_moving()
    stage.stop()  # STP leaves error 10 behind, which is expected and not an error
    assert not stage.is_moving()
    assert stage.target() == pytest.approx(stage.position())


def test_home_goes_to_the_middle_of_the_limits(stage, emulator):
    stage.home()
    stage.wait_until_stopped(WAIT)
    assert stage.position() == pytest.approx(50_000.0)
    with pytest.raises(LimitError):
        make_stage(emulator, home_nm=200_000.0)


def test_limit_refused_before_anything_is_sent(stage, emulator):
    emulator.clear()
    with pytest.raises(LimitError, match="upper limit"):
        stage.move_to(100_001.0)
    with pytest.raises(LimitError):
        stage.move_to(float("nan"))
    stage.position()  # a round trip, so anything sent before it has arrived
    assert emulator.commands() == ["POS? 1"]


def test_controller_refuses_a_move_beyond_its_travel(emulator):
    with make_stage(emulator, limits=(0.0, 150_000.0)) as stage:
        with pytest.raises(DeviceRejected, match="PI error 7: position out of limits"):
            stage.move_to(120_000.0)
        assert stage.target() == pytest.approx(10_000.0), "a refused move keeps the old target"


def test_injected_rejection(stage, emulator):
    emulator.inject("error", "MOV", 5)
    with pytest.raises(DeviceRejected, match="PI error 5"):
        stage.move_to(20_000.0)


def test_servo_setting(stage, emulator):
    stage.set_setting("servo", False)
    assert not emulator.servo["1"]
    assert stage.get_setting("servo") is False
    with pytest.raises(DeviceRejected, match="servo off"):
        stage.move_to(20_000.0)
    stage.set_setting("servo", True)
    stage.move_to(20_000.0)


def test_velocity_setting(stage, emulator):
    stage.set_setting("velocity", 2_000_000.0)  # nm/s
    assert emulator.axes["1"].speed == pytest.approx(2000.0)
    assert stage.get_setting("velocity") == pytest.approx(2_000_000.0)
    assert {s.name for s in stage.settings()} >= {"servo", "velocity", "lower_limit"}
    assert stage.describe()["kind"] == "focus_stage"


def test_garbled_reply_is_a_protocol_error(stage, emulator):
    emulator.inject("garble", "POS?")
    with pytest.raises(ProtocolError, match="garbled"):
        stage.position()
    assert stage.position() == pytest.approx(10_000.0)


def test_silent_query_is_a_timeout(emulator):
    with make_stage(emulator, timeout=0.3) as stage:
        emulator.inject("silence", "ONT?")
        with pytest.raises(DeviceTimeout):
            stage.is_moving()
        assert not stage.is_moving()


def test_unanswered_err_after_a_command_is_a_timeout(emulator):
    with make_stage(emulator, timeout=0.3) as stage:
        emulator.inject("silence", "ERR?")
        with pytest.raises(DeviceTimeout):
            stage.move_to(20_000.0)


def test_bad_axis_fails_at_open_and_releases_the_port(emulator):
    with pytest.raises(DeviceRejected, match="PI error 15"):
        make_stage(emulator, axis="3").open()
    # the autouse fixture checks that the port was released


def test_reconnects_after_the_adapter_is_replugged(stage, emulator):
    stage.move_to(30_000.0)
    stage.wait_until_stopped(WAIT)
    emulator.unplug()
    emulator.replug()
    assert stage.position() == pytest.approx(30_000.0)
    assert stage._connection.reconnects == 1


def test_port_that_does_not_come_back_is_not_connected(emulator):
    with make_stage(emulator, reconnect_timeout=0.3) as stage:
        emulator.unplug()
        with pytest.raises(DeviceNotConnected, match=emulator.path):
            stage.position()


def test_not_open_raises_not_connected(emulator):
    with pytest.raises(DeviceNotConnected, match="not open"):
        make_stage(emulator).position()


# -- real hardware (opt-in) -------------------------------------------------------------------
@pytest.mark.hardware
@pytest.mark.skipif(
    not os.environ.get("MAGSCOPE_PI_PORT"), reason="set MAGSCOPE_PI_PORT to test a controller"
)
def test_real_pi_controller_answers():
    """Switches the servo on (as open() does) and reads; moves nothing."""
    stage = PIFocusStage(
        "real focus",
        port=os.environ["MAGSCOPE_PI_PORT"],
        limits=(-1e9, 1e9),
        axis=os.environ.get("MAGSCOPE_PI_AXIS", "1"),
    )
    with stage:
        assert stage.identification
        assert isinstance(stage.position(), float)
        assert isinstance(stage.on_target(), bool)
