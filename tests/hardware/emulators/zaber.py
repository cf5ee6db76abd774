"""A Zaber device (one or more axes) speaking the Zaber ASCII protocol on a pty.

Understands: the empty command (status), ``move abs|rel|min|max``, ``stop``, ``home``,
``get``/``set`` of ``pos``, ``maxspeed``, ``accel``, ``limit.min``, ``limit.max``, and
``warnings [clear]``. Answers every command to its address with a reply (with the request's id,
and a checksum when ``checksums`` is on), rejects what it cannot do with ``RJ`` and a reason.

Faults (see :meth:`PtyEmulator.inject`): "silence", "garble", "reject" (value: the reason),
"wrong_id", "bad_checksum", "alert_first" (an alert line before the reply), "delay" (value:
seconds to wait before replying; later commands queue up meanwhile).
"""

from __future__ import annotations

import time
from pathlib import Path

from .motion import Axis
from .pty_port import PtyEmulator

SPEED_FACTOR = 1.6384  # maxspeed data per microstep/s


def _checksum(body: bytes) -> int:
    return (-sum(body)) & 0xFF


class ZaberEmulator(PtyEmulator):
    """Device ``address`` with ``axes`` axes, each with travel ``[0, limit_max]`` microsteps."""

    def __init__(
        self,
        link_path: Path,
        *,
        address: int = 1,
        axes: int = 1,
        limit_max: int = 1_000_000,
        speed: float = 2_000_000.0,
        checksums: bool = False,
    ) -> None:
        super().__init__(link_path)
        self.address = address
        self.checksums = checksums
        self.limit_max = limit_max
        self.axes = {n: Axis(0.0, speed) for n in range(1, axes + 1)}
        self.accel = {n: 205 for n in self.axes}
        self.warning_flags: dict[int, list[str]] = {n: [] for n in self.axes}

    # -- framing ------------------------------------------------------------------------------
    def _frame(self, kind: str, body: str, *, corrupt_checksum: bool = False) -> bytes:
        raw = body.encode("ascii")
        if self.checksums:
            value = _checksum(raw) ^ (0x5A if corrupt_checksum else 0)
            raw += b":%02X" % value
        return kind.encode() + raw + b"\r\n"

    def handle_line(self, line: bytes) -> bytes | None:
        text = line.decode("ascii", "replace")
        if not text.startswith("/"):
            return None
        body = text[1:]
        if ":" in body:
            body, _, given = body.rpartition(":")
            if f"{_checksum(body.encode()):02X}" != given.upper():
                return None  # a command with a bad checksum is ignored
        tokens = body.split()
        device = int(tokens[0]) if tokens and tokens[0].isdigit() else 0
        axis = int(tokens[1]) if len(tokens) > 1 and tokens[1].isdigit() else 0
        rest = tokens[2:]
        message_id = None
        if rest and rest[0].isdigit():
            message_id, rest = int(rest[0]), rest[1:]
        command = " ".join(rest)
        if device not in (0, self.address):
            return None
        self.received.append(command)
        fault = self.take_fault(command)
        kind = fault.kind if fault else ""
        if kind == "silence":
            return None
        if kind == "garble":
            return b"@0\xff1 ?? garbage~~\r\n"
        if kind == "reject":
            flag, data = "RJ", str(fault.value or "BADDATA")
        else:
            flag, data = self._execute(axis, command)
        if kind == "wrong_id" and message_id is not None:
            message_id = (message_id + 1) % 100
        status = "BUSY" if self._busy(axis) else "IDLE"
        warning = self._top_warning(axis)
        id_part = f" {message_id:02d}" if message_id is not None else ""
        reply = self._frame(
            "@",
            f"{self.address:02d} {axis}{id_part} {flag} {status} {warning} {data}",
            corrupt_checksum=kind == "bad_checksum",
        )
        if kind == "delay":
            time.sleep(float(fault.value))  # type: ignore[arg-type]
        if kind == "alert_first":
            reply = self._frame("!", f"{self.address:02d} {axis} {status} {warning}") + reply
        return reply

    # -- the device ---------------------------------------------------------------------------
    def _busy(self, axis: int) -> bool:
        if axis == 0:
            return any(a.moving() for a in self.axes.values())
        return self.axes[axis].moving() if axis in self.axes else False

    def _top_warning(self, axis: int) -> str:
        flags = self.warning_flags.get(axis, [])
        return flags[0] if flags else "--"

    def position(self, axis: int = 1) -> int:
        return round(self.axes[axis].position())

    def _execute(self, axis: int, command: str) -> tuple[str, str]:
        """Return (flag, data) for ``command`` on ``axis``."""
        words = command.split()
        if not words:
            return "OK", "0"
        if axis not in self.axes:
            return "RJ", "BADAXIS"
        motor = self.axes[axis]
        verb, args = words[0], words[1:]
        if verb == "move" and args:
            if args[0] == "min":
                target = 0
            elif args[0] == "max":
                target = self.limit_max
            elif args[0] in ("abs", "rel") and len(args) == 2 and _is_int(args[1]):
                target = int(args[1]) + (round(motor.target) if args[0] == "rel" else 0)
            else:
                return "RJ", "BADDATA"
            if not 0 <= target <= self.limit_max:
                return "RJ", "BADDATA"
            motor.move_to(target)
            return "OK", "0"
        if verb == "stop" and not args:
            motor.stop()
            return "OK", "0"
        if verb == "home" and not args:
            self.warning_flags[axis] = [
                f for f in self.warning_flags[axis] if f not in ("WR", "WH")
            ]
            motor.move_to(0)
            return "OK", "0"
        if verb == "get" and len(args) == 1:
            value = self._get(axis, args[0])
            return ("OK", str(value)) if value is not None else ("RJ", "BADCOMMAND")
        if verb == "set" and len(args) == 2:
            if not _is_int(args[1]) or int(args[1]) <= 0:
                return "RJ", "BADDATA"
            if args[0] == "maxspeed":
                motor.speed = int(args[1]) / SPEED_FACTOR
            elif args[0] == "accel":
                self.accel[axis] = int(args[1])
            else:
                return "RJ", "BADCOMMAND"
            return "OK", "0"
        if verb == "warnings":
            flags = self.warning_flags[axis]
            data = " ".join([f"{len(flags):02d}", *flags])
            if args == ["clear"]:
                self.warning_flags[axis] = []
            return "OK", data
        return "RJ", "BADCOMMAND"

    def _get(self, axis: int, name: str) -> int | None:
        motor = self.axes[axis]
        return {
            "pos": round(motor.position()),
            "maxspeed": round(motor.speed * SPEED_FACTOR),
            "accel": self.accel[axis],
            "limit.min": 0,
            "limit.max": self.limit_max,
        }.get(name)


def _is_int(token: str) -> bool:
    return token.lstrip("-").isdigit()
