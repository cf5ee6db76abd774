"""Zaber stages as motors: magnet height (:class:`ZaberLinearStage`, mm) and magnet rotation
(:class:`ZaberRotaryStage`, turns).

A stage *has* a :class:`ZaberProtocol` on a shared :class:`SerialConnection`; positions travel as
integer microsteps and are converted with the stage's microstep size from the config.
"""

from __future__ import annotations

import logging
from typing import Any

from ..errors import DeviceNotConnected, ProtocolError, SettingError
from ..motors import LinearMotor, Motor, RotaryMotor
from ..serial import SerialConnection, connect, release
from ..settings import Setting
from .messages import NO_WARNING, Reply, describe_warning
from .protocol import ZaberProtocol

log = logging.getLogger(__name__)

#: ``maxspeed`` data = speed in microsteps/s times this (Zaber ASCII speed units).
SPEED_DATA_PER_MICROSTEP_PER_S = 1.6384
#: ``accel`` data = acceleration in microsteps/s² times this.
ACCEL_DATA_PER_MICROSTEP_PER_S2 = 1.6384 / 10000


class _ZaberMotor(Motor):
    """One axis of a Zaber device. ``unit_per_microstep`` converts microsteps to the motor unit.

    The port opens in :meth:`open` (shared with every other device on it) and closes in
    :meth:`close`; every method in between is one or two exchanges on the port.
    """

    def __init__(
        self,
        name: str,
        *,
        port: str,
        limits: tuple[float, float],
        unit_per_microstep: float,
        baudrate: int = 115200,
        timeout: float = 1.0,
        reconnect_timeout: float = 10.0,
        device_address: int = 1,
        axis: int = 1,
        checksum: bool = False,
        message_ids: bool = True,
    ) -> None:
        super().__init__(name, limits=limits)
        if not unit_per_microstep > 0:
            raise ValueError(f"{name}: microstep size must be > 0, got {unit_per_microstep}")
        if not 1 <= axis <= 9:
            raise ValueError(f"{name}: axis must be 1..9, got {axis}")
        if not 1 <= device_address <= 99:
            raise ValueError(f"{name}: device address must be 1..99, got {device_address}")
        self.port = port
        self.baudrate = baudrate
        self.timeout = timeout
        self.reconnect_timeout = reconnect_timeout
        self.device_address = device_address
        self.axis = axis
        self.checksum = checksum
        self.message_ids = message_ids
        self.unit_per_microstep = float(unit_per_microstep)
        self._connection: SerialConnection | None = None
        self._protocol: ZaberProtocol | None = None
        self._target_steps = 0
        self.last_warning = NO_WARNING

    # -- lifecycle ----------------------------------------------------------------------------
    def open(self) -> None:
        """Open (or join) the port and read the position, which becomes the target."""
        if self._protocol is not None:
            return
        self._connection = connect(
            self.port,
            baudrate=self.baudrate,
            timeout=self.timeout,
            reconnect_timeout=self.reconnect_timeout,
        )
        self._protocol = ZaberProtocol(
            self._connection,
            device=self.device_address,
            timeout=self.timeout,
            message_ids=self.message_ids,
            checksum=self.checksum,
        )
        try:
            self._target_steps = self._position_steps()
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        """Give the port back (closed when no other device uses it). Idempotent."""
        connection, self._connection, self._protocol = self._connection, None, None
        if connection is not None:
            release(connection)

    # -- conversions --------------------------------------------------------------------------
    def to_steps(self, value: float) -> int:
        """``value`` in the motor unit as the nearest whole number of microsteps."""
        return round(value / self.unit_per_microstep)

    def from_steps(self, steps: int) -> float:
        """``steps`` microsteps in the motor unit."""
        return steps * self.unit_per_microstep

    # -- exchanges ----------------------------------------------------------------------------
    def _command(self, text: str) -> Reply:
        if self._protocol is None:
            raise DeviceNotConnected(f"{self.name}: not open (call open() first)")
        reply = self._protocol.command(self.axis, text)
        if reply.warning != self.last_warning and reply.warning.startswith("F"):
            log.warning("%s: fault flag %s", self.name, describe_warning(reply.warning))
        self.last_warning = reply.warning
        return reply

    def _integer(self, reply: Reply, what: str) -> int:
        try:
            return int(reply.data)
        except ValueError:
            raise ProtocolError(f"{self.name}: {what} is not an integer: {reply.data!r}") from None

    def _position_steps(self) -> int:
        return self._integer(self._command("get pos"), "position")

    # -- the Motor contract -------------------------------------------------------------------
    def _move_to(self, target: float) -> None:
        steps = self.to_steps(target)
        self._command(f"move abs {steps}")
        self._target_steps = steps

    def stop(self) -> None:
        """Decelerate to a stop; the target becomes where the axis stops."""
        self._command("stop")
        self._target_steps = self._position_steps()

    def home(self) -> None:
        """Start the homing move; the target becomes the home position (0)."""
        self._command("home")
        self._target_steps = 0

    def position(self) -> float:
        return self.from_steps(self._position_steps())

    def target(self) -> float:
        return self.from_steps(self._target_steps)

    def is_moving(self) -> bool:
        """True while the device reports BUSY (an empty command returns the status)."""
        return self._command("").busy

    def warnings(self) -> list[str]:
        """Every active warning flag (``warnings`` command), e.g. ``["WR"]``."""
        reply = self._command("warnings")
        count, *flags = reply.data.split() or ["0"]
        if not count.isdigit() or int(count) != len(flags):
            raise ProtocolError(f"{self.name}: malformed warnings reply {reply.data!r}")
        return flags

    # -- settings -----------------------------------------------------------------------------
    def settings(self) -> list[Setting]:
        u = self.unit
        min_speed = self.from_steps(1) / SPEED_DATA_PER_MICROSTEP_PER_S
        min_accel = self.from_steps(1) / ACCEL_DATA_PER_MICROSTEP_PER_S2
        return [
            *super().settings(),
            Setting("speed", "float", f"{u}/s", minimum=min_speed, description="maximum speed"),
            Setting("acceleration", "float", f"{u}/s²", minimum=min_accel),
            Setting("warning", "str", read_only=True, description="latest warning flag"),
            Setting("port", "str", read_only=True),
            Setting("microstep", "float", u, read_only=True, description="microstep size"),
        ]

    def _read_setting(self, name: str) -> Any:
        if name == "speed":
            data = self._integer(self._command("get maxspeed"), "maxspeed")
            return self.from_steps(data) / SPEED_DATA_PER_MICROSTEP_PER_S
        if name == "acceleration":
            data = self._integer(self._command("get accel"), "accel")
            return self.from_steps(data) / ACCEL_DATA_PER_MICROSTEP_PER_S2
        if name == "warning":
            return describe_warning(self.last_warning)
        if name == "port":
            return self.port
        if name == "microstep":
            return self.unit_per_microstep
        return super()._read_setting(name)

    def _write_setting(self, name: str, value: Any) -> None:
        if name == "speed":
            data = max(1, round(self.to_steps(value * SPEED_DATA_PER_MICROSTEP_PER_S)))
            self._command(f"set maxspeed {data}")
        elif name == "acceleration":
            data = max(1, round(self.to_steps(value * ACCEL_DATA_PER_MICROSTEP_PER_S2)))
            self._command(f"set accel {data}")
        else:
            raise SettingError(f"{self.name}: setting {name!r} cannot be written")


class ZaberLinearStage(_ZaberMotor, LinearMotor):
    """Magnet height on a Zaber linear stage, in mm.

    ``microstep_mm`` is the stage's microstep size in mm (e.g. 0.047625 µm = 4.7625e-5 mm for
    many Zaber X-LSM stages; check the stage's data sheet). Other arguments: see
    :class:`_ZaberMotor` (``port`` is a device path or pyserial URL, ``timeout`` the reply
    deadline in s, ``reconnect_timeout`` how long a lost port is retried, in s).
    """

    def __init__(
        self,
        name: str,
        *,
        port: str,
        limits: tuple[float, float],
        microstep_mm: float,
        baudrate: int = 115200,
        timeout: float = 1.0,
        reconnect_timeout: float = 10.0,
        device_address: int = 1,
        axis: int = 1,
        checksum: bool = False,
        message_ids: bool = True,
    ) -> None:
        super().__init__(
            name,
            port=port,
            limits=limits,
            unit_per_microstep=microstep_mm,
            baudrate=baudrate,
            timeout=timeout,
            reconnect_timeout=reconnect_timeout,
            device_address=device_address,
            axis=axis,
            checksum=checksum,
            message_ids=message_ids,
        )


class ZaberRotaryStage(_ZaberMotor, RotaryMotor):
    """Magnet rotation on a Zaber rotary stage, in turns.

    ``microsteps_per_turn`` is the number of microsteps in one full turn (from the stage's data
    sheet). Other arguments as :class:`ZaberLinearStage`.
    """

    def __init__(
        self,
        name: str,
        *,
        port: str,
        limits: tuple[float, float],
        microsteps_per_turn: float,
        baudrate: int = 115200,
        timeout: float = 1.0,
        reconnect_timeout: float = 10.0,
        device_address: int = 1,
        axis: int = 1,
        checksum: bool = False,
        message_ids: bool = True,
    ) -> None:
        if not microsteps_per_turn > 0:
            raise ValueError(f"{name}: microsteps_per_turn must be > 0, got {microsteps_per_turn}")
        super().__init__(
            name,
            port=port,
            limits=limits,
            unit_per_microstep=1.0 / microsteps_per_turn,
            baudrate=baudrate,
            timeout=timeout,
            reconnect_timeout=reconnect_timeout,
            device_address=device_address,
            axis=axis,
            checksum=checksum,
            message_ids=message_ids,
        )
