"""A PI piezo focus stage (E-709-like controller, GCS 2.0) as a :class:`FocusStage` in nm.

The controller works in µm; this class converts. The servo (closed loop) is switched on at
:meth:`PIFocusStage.open`, so moves are position-controlled and ``ONT?`` tells when the stage has
settled on target.
"""

from __future__ import annotations

from typing import Any

from ..errors import DeviceNotConnected, ProtocolError, SettingError
from ..motors import FocusStage
from ..serial import SerialConnection, connect, release
from ..settings import Setting
from .errors import STOPPED_BY_COMMAND
from .gcs import GCSProtocol

NM_PER_UM = 1000.0


class PIFocusStage(FocusStage):
    """Axis ``axis`` of a PI controller on ``port``, positions in nm.

    ``limits`` are the soft limits in nm; ``home_nm`` is where :meth:`home` goes (a piezo has an
    absolute sensor and needs no reference move; default: the middle of the limits).
    ``timeout`` is the reply deadline in s, ``reconnect_timeout`` how long a lost port is
    retried, in s.
    """

    def __init__(
        self,
        name: str,
        *,
        port: str,
        limits: tuple[float, float],
        baudrate: int = 115200,
        timeout: float = 1.0,
        reconnect_timeout: float = 10.0,
        axis: str | int = 1,
        home_nm: float | None = None,
    ) -> None:
        super().__init__(name, limits=limits)
        self.port = port
        self.baudrate = baudrate
        self.timeout = timeout
        self.reconnect_timeout = reconnect_timeout
        self.axis = str(axis)
        if not self.axis or " " in self.axis:
            raise ValueError(f"{name}: bad PI axis identifier {axis!r}")
        self.home_nm = self.check_target(
            home_nm if home_nm is not None else (self.limits[0] + self.limits[1]) / 2
        )
        self._connection: SerialConnection | None = None
        self._gcs: GCSProtocol | None = None
        self._target_nm = 0.0
        self.identification = ""

    # -- lifecycle ----------------------------------------------------------------------------
    def open(self) -> None:
        """Open (or join) the port, identify the controller, switch the servo on and read the
        current target."""
        if self._gcs is not None:
            return
        self._connection = connect(
            self.port,
            baudrate=self.baudrate,
            timeout=self.timeout,
            reconnect_timeout=self.reconnect_timeout,
        )
        self._gcs = GCSProtocol(self._connection, timeout=self.timeout)
        try:
            self.identification = " ".join(self._gcs.query("*IDN?"))
            self._gcs.command(f"SVO {self.axis} 1")
            self._target_nm = self._axis_float("MOV?") * NM_PER_UM
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        """Give the port back (closed when no other device uses it). Idempotent. The servo is
        left on so the focus holds its position."""
        connection, self._connection, self._gcs = self._connection, None, None
        if connection is not None:
            release(connection)

    # -- helpers ------------------------------------------------------------------------------
    @property
    def gcs(self) -> GCSProtocol:
        if self._gcs is None:
            raise DeviceNotConnected(f"{self.name}: not open (call open() first)")
        return self._gcs

    def _axis_value(self, query: str) -> str:
        values = self.gcs.query_axes(f"{query} {self.axis}")
        if self.axis not in values:
            raise ProtocolError(f"{self.name}: reply to {query} has no axis {self.axis}: {values}")
        return values[self.axis]

    def _axis_float(self, query: str) -> float:
        value = self._axis_value(query)
        try:
            return float(value)
        except ValueError:
            raise ProtocolError(f"{self.name}: {query} gave {value!r}, not a number") from None

    def _axis_bool(self, query: str) -> bool:
        value = self._axis_value(query)
        if value not in ("0", "1"):
            raise ProtocolError(f"{self.name}: {query} gave {value!r}, not 0 or 1")
        return value == "1"

    # -- the Motor contract -------------------------------------------------------------------
    def _move_to(self, target: float) -> None:
        self.gcs.command(f"MOV {self.axis} {target / NM_PER_UM:.6f}")
        self._target_nm = target

    def stop(self) -> None:
        """Stop all axes of the controller (``STP``); the target becomes the position."""
        self.gcs.command("STP", tolerated=(STOPPED_BY_COMMAND,))
        self._target_nm = self.position()

    def home(self) -> None:
        """Move to ``home_nm`` (no reference move is needed with an absolute sensor)."""
        self.move_to(self.home_nm)

    def position(self) -> float:
        return self._axis_float("POS?") * NM_PER_UM

    def target(self) -> float:
        return self._target_nm

    def on_target(self) -> bool:
        """True when the closed loop has settled on the target (``ONT?``)."""
        return self._axis_bool("ONT?")

    def is_moving(self) -> bool:
        return not self.on_target()

    # -- settings -----------------------------------------------------------------------------
    def settings(self) -> list[Setting]:
        return [
            *super().settings(),
            Setting("servo", "bool", description="closed-loop position control"),
            Setting("velocity", "float", "nm/s", minimum=0.0, description="closed-loop speed"),
            Setting("identification", "str", read_only=True, description="*IDN? reply"),
            Setting("port", "str", read_only=True),
        ]

    def _read_setting(self, name: str) -> Any:
        if name == "servo":
            return self._axis_bool("SVO?")
        if name == "velocity":
            return self._axis_float("VEL?") * NM_PER_UM
        if name == "identification":
            return self.identification
        if name == "port":
            return self.port
        return super()._read_setting(name)

    def _write_setting(self, name: str, value: Any) -> None:
        if name == "servo":
            self.gcs.command(f"SVO {self.axis} {int(value)}")
        elif name == "velocity":
            self.gcs.command(f"VEL {self.axis} {value / NM_PER_UM:.6f}")
        else:
            raise SettingError(f"{self.name}: setting {name!r} cannot be written")
