"""The shared serial connection: deadlines, one lock per port, reconnect after a drop-out."""

from __future__ import annotations

import sys
import threading
from pathlib import Path

import pytest
import serial
from magscope_app.hardware.errors import DeviceNotConnected, DeviceTimeout, ProtocolError
from magscope_app.hardware.serial import Link, connect, open_ports, release

sys.path.insert(0, str(Path(__file__).parent))
from emulators.pty_port import PtyEmulator


class EchoEmulator(PtyEmulator):
    """Answers every line with ``echo <line>``; "silence" faults drop a line."""

    def handle_line(self, line: bytes) -> bytes | None:
        self.received.append(line.decode())
        fault = self.take_fault(line.decode())
        if fault and fault.kind == "silence":
            return None
        return b"echo " + line + b"\n"


@pytest.fixture(autouse=True)
def no_leaked_ports():
    yield
    leaked = open_ports()
    for key in leaked:  # do not cascade into other tests
        from magscope_app.hardware.serial import registry

        registry._connections.pop(key).close()
        registry._users.pop(key)
    assert not leaked, f"ports left open: {leaked}"


@pytest.fixture
def echo(tmp_path):
    with EchoEmulator(tmp_path / "echo") as emulator:
        yield emulator


def ask(text: bytes, timeout: float | None = None):
    def exchange(link: Link) -> bytes:
        link.discard_input()
        link.write(text + b"\n")
        return link.read_line(link.deadline(timeout))

    return exchange


def test_loop_url_round_trip():
    conn = connect("loop://", baudrate=9600, timeout=1.0)
    try:
        assert conn.transact(ask(b"hello")) == b"hello\n"
    finally:
        release(conn)


def test_read_without_reply_times_out_at_the_deadline():
    conn = connect("loop://", baudrate=9600, timeout=0.1)
    try:

        def silent(link: Link) -> bytes:
            return link.read_line(link.deadline())

        with pytest.raises(DeviceTimeout, match="loop://"):
            conn.transact(silent)
    finally:
        release(conn)


def test_partial_line_is_a_timeout_that_shows_what_came():
    conn = connect("loop://", baudrate=9600, timeout=0.1)
    try:

        def partial(link: Link) -> bytes:
            link.write(b"no end of line")
            return link.read_line(link.deadline())

        with pytest.raises(DeviceTimeout, match="no end of line"):
            conn.transact(partial)
    finally:
        release(conn)


def test_devices_on_one_port_share_one_connection_and_lock(echo):
    first = connect(echo.path, baudrate=115200, timeout=1.0)
    second = connect(echo.path, baudrate=115200, timeout=1.0)
    try:
        assert first is second
        assert open_ports() == [echo.path]
        with pytest.raises(ValueError, match="9600"):
            connect(echo.path, baudrate=9600, timeout=1.0)
    finally:
        release(first)
    assert first.is_open, "the port must stay open while another device uses it"
    assert second.transact(ask(b"still here")) == b"echo still here\n"
    release(second)
    assert not second.is_open
    assert open_ports() == []


def test_the_lock_is_held_for_the_whole_exchange(echo):
    conn = connect(echo.path, baudrate=115200, timeout=1.0)
    seen: list[bool] = []

    def exchange(link: Link) -> bytes:
        link.write(b"a\n")
        other = threading.Thread(target=lambda: seen.append(conn.lock.acquire(blocking=False)))
        other.start()
        other.join()
        return link.read_line(link.deadline())

    try:
        assert conn.transact(exchange) == b"echo a\n"
        assert seen == [False], "another thread got the port's lock during an exchange"
    finally:
        release(conn)


def test_missing_port_is_not_connected_and_names_the_port(tmp_path):
    missing = str(tmp_path / "no-such-port")
    with pytest.raises(DeviceNotConnected, match="no-such-port"):
        connect(missing, baudrate=115200, timeout=0.5)
    assert open_ports() == []


def test_port_held_by_another_program_is_not_connected(echo):
    other = serial.Serial(echo.path, exclusive=True)
    try:
        with pytest.raises(DeviceNotConnected, match=echo.path):
            connect(echo.path, baudrate=115200, timeout=0.5)
    finally:
        other.close()
    assert open_ports() == []


def test_errors_from_the_exchange_pass_through_without_reconnecting(echo):
    conn = connect(echo.path, baudrate=115200, timeout=1.0)

    def garbled(link: Link) -> None:
        raise ProtocolError("bad reply")

    try:
        with pytest.raises(ProtocolError):
            conn.transact(garbled)
        assert conn.reconnects == 0
    finally:
        release(conn)


def test_silence_from_a_pty_device_times_out(echo):
    conn = connect(echo.path, baudrate=115200, timeout=0.2)
    try:
        echo.inject("silence")
        with pytest.raises(DeviceTimeout):
            conn.transact(ask(b"anyone?"))
        assert conn.transact(ask(b"again")) == b"echo again\n"
    finally:
        release(conn)


def test_reconnects_when_the_port_comes_back_under_the_same_path(echo):
    conn = connect(echo.path, baudrate=115200, timeout=1.0, reconnect_timeout=10.0)
    try:
        assert conn.transact(ask(b"before")) == b"echo before\n"
        echo.unplug()
        echo.replug()
        assert conn.transact(ask(b"after")) == b"echo after\n"
        assert conn.reconnects == 1
    finally:
        release(conn)


def test_retries_with_back_off_until_the_port_returns(echo):
    conn = connect(echo.path, baudrate=115200, timeout=1.0, reconnect_timeout=20.0)
    echo.unplug()
    replug = threading.Timer(0.3, echo.replug)
    replug.start()
    try:
        assert conn.transact(ask(b"after")) == b"echo after\n"
        assert conn.reconnects == 1
    finally:
        replug.join()
        release(conn)


def test_port_that_stays_away_raises_not_connected_then_recovers_later(echo):
    conn = connect(echo.path, baudrate=115200, timeout=1.0, reconnect_timeout=0.3)
    try:
        echo.unplug()
        with pytest.raises(DeviceNotConnected, match=echo.path):
            conn.transact(ask(b"lost"))
        echo.replug()
        assert conn.transact(ask(b"back")) == b"echo back\n"
    finally:
        release(conn)


def test_closed_connection_refuses_exchanges(echo):
    conn = connect(echo.path, baudrate=115200, timeout=1.0)
    release(conn)
    with pytest.raises(DeviceNotConnected, match="not open"):
        conn.transact(ask(b"x"))
